"""Gradient-masking report: a normal model passes, masked models are caught, each rule fires alone."""
import copy
import json

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrobust.evaluation import input_gradient_stats, masking_report
from tfrobust.evaluation.masking import judge_masking

EPS = 0.3
STEPS = 10


@pytest.fixture(scope="module")
def batch(test_batch):
    x, y = test_batch
    return x[::4], y[::4]  # 50 digits, 5 per class


def _hot(model, softmax):
    """The trained CNN with its logits multiplied by 1000 (a huge temperature folded in)."""
    inputs = keras.Input((28, 28, 1))
    outputs = keras.layers.Rescaling(1000.0)(model(inputs))
    if softmax:
        outputs = keras.layers.Softmax()(outputs)
    return keras.Model(inputs, outputs)


def test_normally_trained_cnn_is_not_suspicious(trained_cnn, trained_cnn_softmax, batch, tmp_path):
    # with a substitute (the same weights behind a softmax): its PGD is no stronger than white-box PGD
    report = masking_report(trained_cnn, *batch, eps=EPS, steps=STEPS, substitute=trained_cnn_softmax)
    assert not report.suspicious and report.findings == [] and report.fired == []
    transfer = report.checks["transfer"]
    assert transfer["transfer_accuracy"] <= 0.05 and transfer["transfer_only_fooled_share"] == 0.0
    assert transfer["white_box_accuracy"] == report.checks["best_attack_accuracy"] <= 0.02
    acc = report.checks["accuracy"]
    assert acc["clean"] > 0.9 and acc["pgd_ce"] <= 0.02 and acc["pgd_ce_large_eps"] == 0.0
    assert acc["noise"] > 0.6
    assert report.checks["raw_output_gradients"]["zero_share"] == 0.0
    assert "none fired" in str(report)
    assert json.loads(report.to_json(str(tmp_path / "m.json")))["suspicious"] is False


def test_saturated_softmax_model_is_suspicious(trained_cnn, batch):
    report = masking_report(_hot(trained_cnn, softmax=True), *batch, eps=EPS, steps=STEPS)
    assert report.suspicious
    assert {"zero_or_nan_gradients", "softmax_as_logits", "large_eps_not_zero"} <= set(report.fired)
    assert report.checks["raw_output_gradients"]["zero_share"] > 0.8
    assert report.checks["accuracy"]["pgd_ce"] > 0.8  # the gradient attack is fooled, not the model robust
    assert any(f.startswith("[softmax_as_logits]") for f in report.findings)
    assert "SUSPICIOUS" in str(report)


def test_plain_softmax_model_gets_a_note_not_a_finding(trained_cnn_softmax, batch):
    # Issue 10 case 5: a plain softmax CNN that PGD on its log-probabilities drives to ~0% is not masked.
    report = masking_report(trained_cnn_softmax, *batch, eps=EPS, steps=STEPS)
    assert report.checks["output_kind"] == "probabilities" and report.checks["outputs_are_probabilities"]
    assert report.checks["accuracy"]["pgd_ce"] <= 0.02 and report.checks["accuracy"]["clean"] > 0.9
    assert not report.suspicious and report.fired == [] and report.findings == []
    assert len(report.notes) == 1 and report.notes[0].startswith("[softmax_as_logits]")
    assert "none fired" in str(report) and "note: [softmax_as_logits]" in str(report)
    assert report.to_dict()["notes"] == report.notes


def test_temperature_scaled_logits_fire_the_margin_check(trained_cnn, batch):
    report = masking_report(_hot(trained_cnn, softmax=False), *batch, eps=EPS, steps=STEPS)
    assert {"margin_much_stronger_than_ce", "zero_or_nan_gradients"} <= set(report.fired)
    assert report.checks["accuracy"]["pgd_margin"] <= 0.02 < 0.8 < report.checks["accuracy"]["pgd_ce"]
    assert "softmax_as_logits" not in report.fired


def test_input_quantisation_is_suspicious(trained_cnn, batch):
    quantised = lambda x: trained_cnn(tf.round(x * 255.0) / 255.0)  # noqa: E731 (any callable is a model)
    # the substitute is the unquantised CNN: its PGD transfers where white-box attacks see no gradient
    report = masking_report(quantised, *batch, eps=EPS, steps=STEPS, substitute=trained_cnn,
                            substitute_attack="mifgsm")
    assert "zero_or_nan_gradients" in report.fired and "large_eps_not_zero" in report.fired
    assert "transfer_stronger_than_white_box" in report.fired
    transfer = report.checks["transfer"]
    assert transfer["attack"].startswith("mifgsm") and transfer["substitute_accuracy"] > 0.9
    assert transfer["white_box_accuracy"] > 0.9 and transfer["transfer_accuracy"] <= 0.1
    assert transfer["transfer_only_fooled_share"] >= 0.8
    finding = report.findings[report.fired.index("transfer_stronger_than_white_box")]
    assert finding.startswith("[transfer_stronger_than_white_box] Transfer from a substitute stronger than white-box")
    assert f"{transfer['transfer_accuracy']:.3f}" in finding
    assert report.checks["attacked_gradients"]["zero_share"] == 1.0
    assert report.checks["attacked_gradients"]["disconnected"]
    assert report.checks["accuracy"]["fgsm"] == report.checks["accuracy"]["clean"]  # sign(0) moves nothing
    assert "no gradient path" in report.findings[report.fired.index("zero_or_nan_gradients")]


def test_stop_gradient_on_the_input_has_no_gradient(trained_cnn, batch):
    stats = input_gradient_stats(lambda x: trained_cnn(tf.stop_gradient(x)), *batch)
    assert stats["disconnected"] and stats["zero_share"] == 1.0 and stats["median_l1"] == 0.0
    normal = input_gradient_stats(trained_cnn, *batch)
    assert not normal["disconnected"] and normal["zero_share"] == 0.0 and normal["median_l1"] > 0


def test_input_gradient_stats_counts_nan_and_zero():
    x = tf.constant(np.linspace(0.1, 0.9, 4 * 3, dtype=np.float32).reshape(4, 3))

    def model(t):  # example 0: NaN gradient (sqrt at 0), example 1: constant output, others fine
        scale = tf.constant([[1.0], [0.0], [1.0], [1.0]])
        shifted = t - tf.constant([[0.1, 0.0, 0.0], [0, 0, 0], [0, 0, 0], [0, 0, 0]])
        return tf.sqrt(shifted) * scale
    stats = input_gradient_stats(model, x, np.array([0, 1, 2, 0]))
    assert stats["nonfinite_share"] == 0.25 and stats["zero_share"] == 0.25 and not stats["disconnected"]


def _checks(**accuracy):
    acc = {"clean": 0.95, "fgsm": 0.30, "pgd_ce": 0.10, "pgd_margin": 0.10, "pgd_ce_large_eps": 0.0, "noise": 0.90}
    acc.update(accuracy)
    gradients = {"zero_share": 0.0, "nonfinite_share": 0.0, "median_l1": 1.0, "disconnected": False}
    return {"n": 100, "eps": 0.1, "large_eps": 0.5, "pgd_steps": 10, "accuracy": acc,
            "best_attack_accuracy": min(acc["fgsm"], acc["pgd_ce"], acc["pgd_margin"]),
            "noise_only_fooled_share": 0.0, "raw_output_gradients": gradients,
            "attacked_gradients": copy.deepcopy(gradients), "outputs_are_probabilities": False,
            "output_kind": "logits",
            "thresholds": {"tolerance": 0.03, "near_zero": 0.10, "zero_gradient_share": 0.05, "loss_gap": 0.10}}


def _set(checks, path, value):
    *keys, last = path
    target = checks
    for key in keys:
        target = target[key]
    target[last] = value
    return checks


@pytest.mark.parametrize("path, value, fired", [
    (None, None, []),
    (("accuracy", "fgsm"), 0.06, ["iterative_weaker_than_one_step"]),
    (("accuracy", "fgsm"), 0.08, []),  # within the tolerance
    (("accuracy", "pgd_ce_large_eps"), 0.11, ["large_eps_not_zero"]),
    (("raw_output_gradients", "zero_share"), 0.06, ["zero_or_nan_gradients"]),
    (("attacked_gradients", "nonfinite_share"), 0.06, ["zero_or_nan_gradients"]),
    (("outputs_are_probabilities",), True, ["softmax_as_logits"]),
    (("noise_only_fooled_share",), 0.04, ["noise_as_strong_as_attack"]),
])
def test_each_rule_fires_alone(path, value, fired):
    checks = _checks() if path is None else _set(_checks(), path, value)
    report = judge_masking(checks)
    assert report.fired == fired and report.suspicious == bool(fired) and len(report.findings) == len(fired)


@pytest.mark.parametrize("changes, fired, notes", [
    # attacked as log-probabilities, and the attack works: a note
    ({"output_kind": "probabilities"}, [], 1),
    # attacked as log-probabilities, but their gradients vanish / PGD cannot reach 0 / margin is far stronger
    ({"output_kind": "probabilities", ("attacked_gradients", "zero_share"): 0.5},
     ["zero_or_nan_gradients", "softmax_as_logits"], 0),
    ({"output_kind": "probabilities", ("accuracy", "pgd_ce_large_eps"): 0.5},
     ["large_eps_not_zero", "softmax_as_logits"], 0),
    ({"output_kind": "probabilities", ("accuracy", "pgd_ce"): 0.25, ("accuracy", "fgsm"): 0.25},
     ["softmax_as_logits", "margin_much_stronger_than_ce"], 0),
])
def test_softmax_output_is_a_note_only_when_the_log_probability_attack_works(changes, fired, notes):
    checks = _set(_checks(), ("outputs_are_probabilities",), True)
    for key, value in changes.items():
        _set(checks, key if isinstance(key, tuple) else (key,), value)
    report = judge_masking(checks)
    assert report.fired == fired and len(report.notes) == notes


@pytest.mark.parametrize("transfer_accuracy, only_fooled, fired", [
    (0.30, 0.00, False), (0.28, 0.03, False),  # within the tolerance (0.03)
    (0.26, 0.04, True),  # fools examples every white-box attack failed on
    (0.20, 0.00, True),  # lower accuracy than the best white-box attack (0.30)
])
def test_transfer_rule(transfer_accuracy, only_fooled, fired):
    checks = _checks()
    checks["transfer"] = {"attack": "pgd-10x1-ce", "substitute_accuracy": 0.9, "substitute_adversarial_accuracy": 0.0,
                          "transfer_accuracy": transfer_accuracy, "white_box_accuracy": 0.30,
                          "transfer_only_fooled_share": only_fooled}
    report = judge_masking(checks)
    assert report.fired == (["transfer_stronger_than_white_box"] if fired else [])


def test_noise_and_margin_rules():
    # noise as strong as the best attack, and noise really lowers accuracy
    report = judge_masking(_checks(fgsm=0.80, pgd_ce=0.80, pgd_margin=0.80, noise=0.82))
    assert report.fired == ["noise_as_strong_as_attack"] and "0.820" in report.findings[0]
    # at a tiny eps neither noise nor the attack does much: no finding
    assert judge_masking(_checks(fgsm=0.94, pgd_ce=0.94, pgd_margin=0.94, noise=0.95)).fired == []
    report = judge_masking(_checks(pgd_ce=0.25, pgd_margin=0.10, fgsm=0.30))
    assert report.fired == ["margin_much_stronger_than_ce"]


@pytest.mark.parametrize("kwargs, match", [
    (dict(eps=0.0), "eps > 0"), (dict(eps=0.3, tolerance=1.5), "tolerance"), (dict(eps=0.3, steps=0), "steps"),
    (dict(eps=0.3, large_eps=2.0), "large_eps"),
])
def test_bad_arguments_raise(trained_cnn, batch, kwargs, match):
    with pytest.raises(ValueError, match=match):
        masking_report(trained_cnn, *batch, **kwargs)
