"""experiments/temperature_robustness.py on tiny settings: results, masking evidence, figures, logs."""
import glob
import json
import os

import numpy as np

from tfrobust.studies import make_config, published


def test_temperature_quick_tiny(load_script, where):
    script = load_script("temperature_robustness")
    # AutoAttack is skipped (nothing here asserts on it); the masking report runs on 32 examples with PGD-3.
    config = make_config(script.PRESETS, "quick", temperatures=(1.0, 50.0), train_size=1024, epochs=2,
                         learning_rate=3e-3, eval_size=64, masking_size=32, masking_steps=3, attack="pgd:steps=5",
                         epsilons=(0.0, 0.1, 0.3), seeds=(0,), autoattack="", **where)
    result = script.run(config)

    with open(os.path.join(where["results_root"], "temperature_robustness", "t", "results.json")) as f:
        assert json.load(f) == result
    cold, hot = result["entries"]["T=1_seed=0"], result["entries"]["T=50_seed=0"]
    for entry in (cold, hot):
        for key in ("fgsm_unaware", "fgsm_aware"):
            sweep = entry[key]
            assert sweep["epsilons"] == [0.0, 0.1, 0.3]
            assert all(0.0 <= a <= 1.0 for a in sweep["accuracy"])
            assert sweep["accuracy"][0] == entry["clean_accuracy"] and sweep["drop"][0] == 0.0
        # best_attack is the minimum over every attack run at eps (the FGSM sweeps hold eps = 0.1 too).
        assert entry["best_attack"] == min(entry["pgd_ce"], entry["pgd_aware"], entry["pgd_margin"],
                                           entry["masking"]["checks"]["best_attack_accuracy"],
                                           entry["fgsm_unaware"]["accuracy"][1], entry["fgsm_aware"]["accuracy"][1])
    assert cold["clean_accuracy"] > 0.5
    assert cold["pgd_margin"] < cold["clean_accuracy"] - 0.1  # PGD-5 at eps = 0.1 breaks the undefended CNN
    # At T=1, logits/T are the logits: the aware and unaware attacker compute the same FGSM.
    assert cold["fgsm_unaware"]["accuracy"] == cold["fgsm_aware"]["accuracy"]
    # Training at T=50 scales the logits up; the T=1 softmax saturates and its input gradient collapses.
    cold_grad = cold["masking"]["checks"]["raw_output_gradients"]["median_l1"]
    hot_grad = hot["masking"]["checks"]["raw_output_gradients"]["median_l1"]
    assert hot_grad < 1e-3 * cold_grad

    markdown = open(os.path.join(where["results_root"], "temperature_robustness", "t", "results.md")).read()
    assert published.SEED_COMPRESSION in markdown and "Figure 13a" in markdown and "Figure 13b" in markdown
    assert "PGD-margin" in markdown and "masking report" in markdown
    for name in ("accuracy_vs_epsilon_unaware.png", "accuracy_vs_epsilon_aware.png"):
        assert os.path.getsize(os.path.join(where["results_root"], "temperature_robustness", "t", name)) > 1000
    for key in ("T=1_seed=0", "T=50_seed=0"):  # training curves (Keras callback) and the sweeps (tfrobust.tensorboard)
        for part in ("train", "evaluation"):
            assert glob.glob(os.path.join(where["logdir_root"], "temperature_robustness", "t", key, part, "events.*"))
    assert np.isfinite(result["wall_time_s"])

