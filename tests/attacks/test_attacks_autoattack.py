"""autoattack: per-example worst case over its stages, per-stage accounting, skipped stages, spec names."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrobust.attacks import Attack, parse_attack, registry
from tfrobust.attacks.apgd import apgd
from tfrobust.attacks.autoattack import STAGES, autoattack

QUICK = {"steps": 10, "n_queries": 200, "n_target_classes": 2}


def test_spec_names_and_labels():
    assert registry.get("aa").function is autoattack
    assert Attack("aa").label == "autoattack"
    assert parse_attack("autoattack:version=rand").label == "autoattack-rand"
    assert "steps=5" in parse_attack("aa:steps=5").label  # a reduced budget is never labelled as the suite
    assert [s[0] for s in STAGES["standard"]] == ["apgd-ce", "apgd-t", "fab-t", "square"]


def test_worst_case_over_stages_with_per_stage_accounting(trained_cnn, small_batch, accuracy):
    x, y = small_batch
    x, y = x[::4], y[::4]
    eps = 0.1
    x_adv, info = autoattack(trained_cnn, x, y, eps=eps, return_info=True, **QUICK)
    extra = info["extra"]
    robust = accuracy(trained_cnn, x_adv, y)
    curve = [extra["robust_accuracy"][name] for name in ["clean", *extra["stages"]]]
    assert curve == sorted(curve, reverse=True) and curve[-1] == pytest.approx(robust)
    # the ensemble is at least as strong as its first stage alone, with the same settings
    alone = accuracy(trained_cnn, apgd(trained_cnn, x, y, eps=eps, steps=QUICK["steps"], seed=0), y)
    assert robust <= alone
    assert robust < 0.6 * curve[0]
    predicted = np.argmax(trained_cnn(x_adv, training=False), axis=1)
    broken = extra["broken_by"] != ""
    np.testing.assert_array_equal(broken, predicted != y)
    np.testing.assert_array_equal(info["success"], predicted != y)
    assert set(extra["broken_by"]) <= {"", "clean", *extra["stages"]}
    assert set(extra["seconds"]) == {"clean", *extra["stages"]}
    assert info["perturbation_norm"].max() <= eps + 1e-6


def test_gradient_free_model_is_broken_by_square(trained_cnn, small_batch):
    x, y = small_batch
    x, y = x[:30], y[:30]

    def quantised(z):  # tf.round: no input gradient at all
        return trained_cnn(tf.round(z * 255.0) / 255.0, training=False)

    _, info = autoattack(quantised, x, y, eps=0.3, return_info=True, steps=5, n_queries=1000, n_target_classes=2)
    extra = info["extra"]
    assert {"apgd-ce", "apgd-t", "fab-t"} <= set(extra["skipped"])
    assert "gradient" in extra["skipped"]["apgd-ce"]
    assert extra["stages"] == ["square"] and extra["robust_accuracy"]["square"] <= 0.05


def test_too_few_classes_skip_the_targeted_stages():
    rng = np.random.default_rng(0)
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    x = rng.uniform(size=(12, 4, 4, 1)).astype(np.float32)
    y = np.argmax(model(x).numpy(), axis=1)
    _, info = autoattack(model, x, y, eps=0.05, return_info=True, steps=5, n_queries=20)
    assert "apgd-t" in info["extra"]["skipped"] and "4 classes" in info["extra"]["skipped"]["apgd-t"]
    assert "apgd-ce" in info["extra"]["stages"]


def test_bad_arguments_are_refused(trained_cnn, small_batch):
    x, y = small_batch
    with pytest.raises(ValueError, match="version"):
        autoattack(trained_cnn, x[:2], y[:2], eps=0.1, version="fast")
    with pytest.raises(ValueError, match="untargeted"):
        autoattack(trained_cnn, x[:2], y[:2], eps=0.1, targeted=True)
    with pytest.raises(ValueError, match="height, width"):
        autoattack(lambda z: tf.zeros([tf.shape(z)[0], 10]) + tf.reduce_sum(z), np.zeros((2, 5), np.float32),
                   y[:2], eps=0.1)


# --- AutoAttack's checks in masking_report (tfrobust.evaluation.masking, checks (g)-(j)) ---

def _aa_checks(**changes):
    measured = {"num_classes": 10, "white_box_accuracy": 0.50, "square_accuracy": 0.52,
                "square_only_fooled_share": 0.0, "output_max_difference": 0.0, "randomised": False,
                "budget": {"steps": 20, "accuracy": 0.50, "accuracy_double": 0.49, "mean_loss": 1.0,
                           "mean_loss_double": 1.1, "robust_at_both": 40}}
    for key, value in changes.items():
        if key in measured["budget"]:
            measured["budget"][key] = value
        else:
            measured[key] = value
    return {"eps": 0.3, "autoattack": measured, "thresholds": {"tolerance": 0.03, "loss_climb": 0.25}}


@pytest.mark.parametrize("changes, fired", [
    ({}, []),
    ({"square_accuracy": 0.40}, ["black_box_stronger_than_white_box"]),
    ({"square_only_fooled_share": 0.05}, ["black_box_stronger_than_white_box"]),
    ({"randomised": True, "output_max_difference": 0.3}, ["randomised_outputs_without_eot"]),
    ({"num_classes": 3}, ["too_few_classes_for_dlr"]),
    ({"accuracy_double": 0.45}, ["budget_stopped_while_climbing"]),
    ({"mean_loss_double": 1.4}, ["budget_stopped_while_climbing"]),
])
def test_each_autoattack_check_fires_alone(changes, fired):
    from tfrobust.evaluation.masking import judge_autoattack_checks

    names = []
    judge_autoattack_checks(_aa_checks(**changes), lambda name, text: names.append(name))
    assert names == fired


def test_masking_report_measures_the_autoattack_checks(trained_cnn, small_batch):
    from tfrobust.evaluation import masking_report

    x, y = small_batch
    x, y = x[:30], y[:30]

    def noisy(z):  # randomised at inference: every call draws new input noise
        return trained_cnn(tf.clip_by_value(z + tf.random.uniform(tf.shape(z), -0.2, 0.2), 0.0, 1.0), training=False)

    def quantised(z):  # no gradient: the white-box attacks are stuck, Square is not
        return trained_cnn(tf.round(z * 255.0) / 255.0, training=False)

    report = masking_report(noisy, x, y, eps=0.1, steps=5, square_queries=100)
    assert "randomised_outputs_without_eot" in report.fired
    report = masking_report(quantised, x, y, eps=0.3, steps=5, square_queries=300)
    measured = report.checks["autoattack"]
    assert measured["square_accuracy"] <= 0.1 < 0.8 <= measured["white_box_accuracy"]
    assert "black_box_stronger_than_white_box" in report.fired
    assert "randomised_outputs_without_eot" not in report.fired
