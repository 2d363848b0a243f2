"""experiments/pate.py on tiny settings: its epsilons are dp-accounting's for the recorded votes, the data-dependent
one is never above the data-independent one, and bad settings are refused before anything trains."""
import numpy as np
import pytest

from tfrobust.studies import make_config

pytest.importorskip("dp_accounting")


def test_pate_tiny(load_script, where):
    from tfrobust.privacy import data_dependent_privacy_cost, privacy_cost

    script = load_script("pate")
    config = make_config(script.PRESETS, "quick", teachers=3, train_size=240, epochs=1, eval_size=120,
                         public_size=60, student_epochs=1, lnmax_gammas=(), gnmax_sigmas=(2.0,), confident="2,1,1",
                         robust_size=0, **where)
    result = script.run(config)
    histogram = np.asarray(result["entries"]["teachers"]["histogram"])
    assert histogram.shape == (60, 10) and np.all(histogram.sum(axis=1) == 3)
    students = result["summary"]["students"]
    gnmax = students["gnmax_sigma=2"]
    assert gnmax["eps"] == pytest.approx(privacy_cost(mechanism="gnmax", queries=60, sigma=2.0, delta=1e-5))
    assert gnmax["eps_data_dependent"] == pytest.approx(data_dependent_privacy_cost(histogram, sigma=2.0, delta=1e-5))
    confident = students["confident_T=2_s1=1_s2=1"]
    assert confident["eps_data_dependent"] <= confident["eps"] and 0 < confident["answered"] <= 60
    assert students["plurality"]["eps"] is None and students["plurality"]["answered"] == 60
    assert "ε data-dependent" in open(f"{where['results_root']}/pate/t/results.md").read()


def test_pate_refuses_bad_settings(load_script):
    script = load_script("pate")
    with pytest.raises(ValueError, match="--public_size"):
        make_config(script.PRESETS, "quick", public_size=1000)
    with pytest.raises(ValueError, match="--confident"):
        make_config(script.PRESETS, "quick", confident="14,4")
