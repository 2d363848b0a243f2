"""experiments/training_baselines.py: tiny quick run, the collapse rule, and the paper preset's settings."""
import os

import pytest

from tfrobust.studies import make_config


def test_training_baselines_quick_tiny(load_script, where):
    script = load_script("training_baselines")
    # TRADES with a 2-step inner attack; AutoAttack with one target class (its default is 9) on 8 points. No
    # "standard" method: nothing below reads its entry, and ensemble AT's static model trains the standard way.
    config = make_config(script.PRESETS, "quick", methods=("trades", "ensemble_at"), train_size=200,
                         epochs=2, eval_size=32, attack="pgd:steps=3", train_steps=2,
                         autoattack="aa:steps=2,n_target_classes=1,n_queries=5", autoattack_size=8,
                         co_epsilons=(0.3,), co_epochs=2, co_held_size=16, **where)
    result = script.run(config)
    entries = result["entries"]
    trades = entries["model_trades"]
    assert trades["pgd_attack"] == "pgd-3x1-ce"
    assert trades["clean_accuracy"] > 0.2  # two epochs on 200 digits already learn something
    assert trades["pgd_accuracy"] <= trades["clean_accuracy"]
    assert len(trades["epoch_seconds"]) == 2 and trades["median_epoch_s"] == trades["epoch_seconds"][1]
    if "autoattack_accuracy" in trades:  # "aa" registered: AutoAttack never beats the clean accuracy
        assert trades["autoattack_n"] == 8 and trades["autoattack_accuracy"] <= trades["autoattack_clean"]
    study = entries["co_study"]
    assert len(study["search"]) == 1 and len(study["search"][0]["history"]) == 2  # detector ran every epoch
    run_dir = os.path.join(where["results_root"], "training_baselines", "t")
    markdown = open(os.path.join(run_dir, "results.md")).read()
    assert "Not the published setting" in markdown and "ensemble AT" in markdown
    assert "84.92 / 53.08" in markdown  # TRADES WRN-34-10, REFERENCE.md Batch 2 facts
    assert os.path.exists(os.path.join(run_dir, "models", "static_0_lenet5.weights.h5"))


def _h(pgd, fgsm):
    return [{"epoch": i, "pgd_accuracy": p, "fgsm_accuracy": f} for i, (p, f) in enumerate(zip(pgd, fgsm))]


def test_collapse_epoch_needs_a_drop_and_a_gap(load_script):
    collapse_epoch = load_script("training_baselines").collapse_epoch
    # Rises to 0.7, then PGD falls to 0.1 while FGSM stays 0.9: a collapse at epoch 3.
    assert collapse_epoch(_h([0.2, 0.5, 0.7, 0.1, 0.05], [0.3, 0.6, 0.8, 0.9, 0.95]), drop=0.2) == 3
    # The same PGD drop with FGSM falling too (training diverged, not overfitting): no collapse.
    assert collapse_epoch(_h([0.2, 0.5, 0.7, 0.1], [0.3, 0.6, 0.8, 0.2]), drop=0.2) is None
    # Never PGD-robust while FGSM accuracy climbs to 0.95: an overfitted end, from the first epoch of gap > 0.5.
    assert collapse_epoch(_h([0.0, 0.02, 0.01, 0.01], [0.3, 0.4, 0.9, 0.95]), drop=0.2) == 2
    # Slowly robust, FGSM a little above PGD (N-FGSM-like): no collapse.
    assert collapse_epoch(_h([0.0, 0.1, 0.3, 0.45], [0.05, 0.2, 0.4, 0.52]), drop=0.2) is None


def test_paper_preset_is_the_published_setting(load_script):
    script = load_script("training_baselines")
    paper = script.PRESETS["paper"]
    assert (paper.dataset, paper.eps, paper.trades_beta, paper.mart_beta, paper.awp_gamma) == \
        ("cifar10", 8 / 255, 6.0, 6.0, 5e-3)
    assert paper.awp_warmup_epochs == 10 and paper.grad_align_lambda == 0.2 and paper.train_step_size == 2 / 255
    with pytest.raises(ValueError, match="methods"):
        make_config(script.PRESETS, "quick", methods=("trades", "fast"))
    with pytest.raises(ValueError, match="co_epsilons"):
        make_config(script.PRESETS, "quick", co_epsilons=(0.3, 0.2))
