"""experiments/kaf_fast_at.py: tiny quick run, and the paper preset for one step on tfds mock CIFAR-10."""
import os

import pytest
import tensorflow_datasets as tfds

from tfrobust.data import load_numpy
from tfrobust.evaluation.robust_accuracy import robust_accuracy
from tfrobust.models import build
from tfrobust.studies import make_config


def test_kaf_quick_tiny(load_script, where):
    script = load_script("kaf_fast_at")
    assert script.PRESETS["quick"].models == ("vgg_like",) and len(script.PRESETS["quick"].seeds) >= 3
    # Two seeds of two activations: the least for Welch's test; 2 steps of 50. The overfitting guard (a PGD-5
    # traced per model) is off here: the paper-preset test below runs it (its default) and checks its record.
    config = make_config(script.PRESETS, "quick", models=("mnist_small",), activations=("relu", "kaf"),
                         seeds=(0, 1), train_size=100, batch_size=50, epochs=1, eval_size=24, attack="pgd:steps=3",
                         autoattack="", guard=False, **where)
    result = script.run(config)
    for activation in ("relu", "kaf"):
        entry = result["entries"][f"mnist_small_{activation}_seed=1"]
        assert entry["pgd_attack"] == "pgd-3x1-ce"
        assert entry["guard"] is None  # --guard=false: no guard ran
    # The recorded PGD accuracy is that of the saved model under the configured attack, at --eps.
    model = build("mnist_small", (28, 28, 1), 10, activation="relu")
    run_dir = os.path.join(where["results_root"], "kaf_fast_at", "t")
    model.load_weights(os.path.join(run_dir, "models", "mnist_small_relu_seed=0.weights.h5"))
    x, y = load_numpy("mnist5k", "test", take=24)
    again = robust_accuracy(model, x, y, attack=config.attack_spec(), eps=0.1)
    relu = result["entries"]["mnist_small_relu_seed=0"]
    assert (again.clean_accuracy, again.robust_accuracy) == (relu["clean_accuracy"], relu["pgd_accuracy"])
    # KAF vs ReLU over the two seeds: Welch's test on the recorded PGD accuracies; the ranking's rho needs 3 names.
    kaf = result["summary"]["directions"]["mnist_small"]["kaf"]
    pgd = [result["entries"][f"mnist_small_{a}_seed={s}"]["pgd_accuracy"] for a in ("relu", "kaf") for s in (0, 1)]
    assert kaf["difference"] == pytest.approx((pgd[2] + pgd[3] - pgd[0] - pgd[1]) / 2)
    assert "Welch" in kaf["test"] and result["summary"]["directions"]["mnist_small"]["ranking"]["n"] == 2
    markdown = open(os.path.join(run_dir, "results.md")).read()
    assert "Not the published setting" in markdown  # mnist5k, not CIFAR-10
    for name in ("clean_vs_robust_mnist_small.png", "kaf_shapes_mnist_small_kaf.png"):
        assert os.path.getsize(os.path.join(run_dir, name)) > 1000


def test_kaf_paper_preset_one_step_on_mock_cifar10(load_script, where):
    script = load_script("kaf_fast_at")
    # AutoAttack skipped: nothing here asserts on it (the paper preset would run the full "aa").
    config = make_config(script.PRESETS, "paper", activations=("relu",), models=("vgg_like",), seeds=(0,),
                         max_steps=1, epochs=1, eval_size=8, attack="pgd:steps=1,restarts=1", autoattack="",
                         **where)
    assert config.eps == 8 / 255 and config.alpha == 10 / 255 and config.optimizer == "sgd"
    with tfds.testing.mock_data(num_examples=16):
        result = script.run(config)
    entry = result["entries"]["vgg_like_relu_seed=0"]
    assert entry["pgd_attack"] == "pgd-1x1-ce"
    assert config.guard and entry["guard"]["robust_accuracies"]  # the overfitting guard ran after the epoch
    markdown = open(os.path.join(where["results_root"], "kaf_fast_at", "t", "results.md")).read()
    assert "78.10" in markdown and "45.41" in markdown  # seed 002 Tab1, VGG ReLU
    assert "Not the published setting" not in markdown
