"""experiments/pruning_robustness.py on tiny settings, and resuming a run: finished work is skipped."""
import os

import numpy as np
import pytest
from scipy import stats

from tfrobust.studies import make_config, published, verdicts


def _config(script, where, sparsities, seeds=(0, 1)):
    return make_config(script.PRESETS, "quick", sparsities=sparsities, train_size=256, epochs=2,
                       eval_size=64, epsilons=(0.0, 0.05, 0.1), minimal_eps_points=6,
                       pruning_frequency=2, seeds=seeds, **where)


def test_pruning_quick_tiny_and_resume(load_script, where, monkeypatch):
    script = load_script("pruning_robustness")
    from tfrobust.studies import training

    fits = []
    real_fit = training.fit  # the script imports it inside its entry function (--help needs no TensorFlow)
    monkeypatch.setattr(training, "fit", lambda *a, **k: fits.append(1) or real_fit(*a, **k))

    result = script.run(_config(script, where, (0.0, 0.8)))
    assert len(fits) == 4  # 2 sparsities x 2 seeds
    dense, sparse = result["entries"]["fc5_sparsity=0_seed=0"], result["entries"]["fc5_sparsity=0.8_seed=0"]
    dense1, sparse1 = result["entries"]["fc5_sparsity=0_seed=1"], result["entries"]["fc5_sparsity=0.8_seed=1"]
    assert dense1["clean_accuracy"] != dense["clean_accuracy"] or dense1["fgsm"] != dense["fgsm"]  # seeds differ
    assert dense["measured_sparsity"] < 0.01
    assert abs(sparse["measured_sparsity"] - 0.8) < 0.01  # strip() keeps the target sparsity
    for entry in (dense, sparse):
        sweep = entry["fgsm"]
        assert sweep["drop"][0] == 0.0 and sweep["accuracy"][0] == entry["clean_accuracy"]
        assert sweep["accuracy"][-1] < entry["clean_accuracy"]  # FGSM at eps = 0.1 flips some digits
        minimal = entry["minimal_epsilon"]
        assert sum(minimal["counts"]) + minimal["never_flipped"] == round(entry["clean_accuracy"] * 64)
    # The verdict follows from the recorded curves: mean drop over eps > 0 per seed, Welch's t-test, dense baseline.
    dense_drop, sparse_drop = ([np.mean(e["fgsm"]["drop"][1:]) for e in pair] for pair in ((dense, dense1),
                                                                                           (sparse, sparse1)))
    p = stats.ttest_ind(sparse_drop, dense_drop, equal_var=False).pvalue
    gain = np.mean(dense_drop) - np.mean(sparse_drop)
    clean = [np.mean([e["clean_accuracy"] for e in pair]) for pair in ((dense, dense1), (sparse, sparse1))]
    expected = (verdicts.NOT_COMPARABLE if clean[1] < clean[0] - 0.25 else verdicts.NO_CLEAR_EFFECT if not p < 0.05
                else verdicts.MORE_ROBUST if gain > 0 else verdicts.LESS_ROBUST)
    assert result["summary"]["verdicts"]["fc5"]["80%"]["p_drop"] == pytest.approx(p)
    assert result["summary"]["verdicts"]["fc5"]["80%"]["robustness"] == expected
    assert "0%" not in result["summary"]["verdicts"]["fc5"]  # the baseline is not judged against itself
    run_dir = os.path.join(where["results_root"], "pruning_robustness", "t")
    markdown = open(os.path.join(run_dir, "results.md")).read()
    assert "Figure 11" in markdown and published.SEED_COMPRESSION in markdown
    for name in ("fc5_accuracy.png", "fc5_drop.png"):
        assert os.path.getsize(os.path.join(run_dir, name)) > 1000

    # Rerun seed 0 with one more sparsity: the finished models are neither retrained nor re-evaluated.
    again = script.run(_config(script, where, (0.0, 0.8, 0.5), seeds=(0,)))
    assert len(fits) == 5
    assert again["entries"]["fc5_sparsity=0.8_seed=0"] == sparse
    assert abs(again["entries"]["fc5_sparsity=0.5_seed=0"]["measured_sparsity"] - 0.5) < 0.01
