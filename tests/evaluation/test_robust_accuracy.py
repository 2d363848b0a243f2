"""robust_accuracy: clean point, early stop equivalence, input forms, ball check, serialisation."""
import json

import numpy as np
import pytest
import tensorflow as tf

from tfrobust.attacks import Attack
from tfrobust.evaluation import RobustAccuracyResult, robust_accuracy


def _numpy_accuracy(model, x, y):
    return float(np.mean(np.argmax(model.predict(x, verbose=0), axis=1) == y))


@pytest.mark.parametrize("attack", ["fgsm", "pgd:steps=5", "noise"])
def test_eps_zero_is_clean_accuracy(trained_cnn, test_batch, attack):
    x, y = test_batch
    result = robust_accuracy(trained_cnn, x, y, attack=attack, eps=0.0)
    clean = _numpy_accuracy(trained_cnn, x, y)
    assert result.clean_accuracy == pytest.approx(clean)
    assert result.robust_accuracy == pytest.approx(clean)
    assert result.n == len(y) and result.n_attacked == 0


def test_fgsm_early_stop_equals_full_evaluation(trained_cnn, test_batch):
    x, y = test_batch
    full = robust_accuracy(trained_cnn, x, y, attack="fgsm", eps=0.1, early_stop=False, per_example=True)
    early = robust_accuracy(trained_cnn, x, y, attack="fgsm", eps=0.1, early_stop=True, per_example=True)
    np.testing.assert_array_equal(full.robust_correct, early.robust_correct)
    assert early.n_attacked == int(full.clean_correct.sum()) < full.n_attacked == len(y)
    # a real attack: far below clean accuracy, and every robust example is clean-correct
    assert full.robust_accuracy < full.clean_accuracy - 0.3
    assert not np.any(full.robust_correct & ~full.clean_correct)


def test_pgd_early_stop_within_one_example(trained_cnn, test_batch):
    x, y = test_batch
    kwargs = dict(attack=Attack("pgd", steps=10), eps=0.1, batch_size=100)
    full = robust_accuracy(trained_cnn, x, y, early_stop=False, **kwargs)
    early = robust_accuracy(trained_cnn, x, y, early_stop=True, **kwargs)
    assert abs(round(full.robust_accuracy * len(y)) - round(early.robust_accuracy * len(y))) <= 1
    fgsm = robust_accuracy(trained_cnn, x, y, attack="fgsm", eps=0.1)
    assert early.robust_accuracy <= fgsm.robust_accuracy


def test_dataset_tensor_onehot_and_batching_agree(trained_cnn, test_batch):
    x, y = test_batch
    reference = robust_accuracy(trained_cnn, x, y, attack="fgsm", eps=0.05, batch_size=256)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(64)
    variants = [
        robust_accuracy(trained_cnn, dataset, attack="fgsm", eps=0.05, batch_size=50),
        robust_accuracy(trained_cnn, tf.constant(x), tf.constant(y), attack="fgsm", eps=0.05, batch_size=33),
        robust_accuracy(trained_cnn, x, np.eye(10, dtype=np.float32)[y], attack="fgsm", eps=0.05),
    ]
    for result in variants:
        assert result.n == reference.n
        assert result.robust_accuracy == pytest.approx(reference.robust_accuracy)
        assert result.clean_accuracy == pytest.approx(reference.clean_accuracy)


def test_softmax_model_gives_the_same_numbers(trained_cnn, trained_cnn_softmax, test_batch):
    x, y = test_batch
    logits = robust_accuracy(trained_cnn, x, y, attack="fgsm", eps=0.1)
    probs = robust_accuracy(trained_cnn_softmax, x, y, attack="fgsm", eps=0.1)
    assert abs(logits.robust_accuracy - probs.robust_accuracy) <= 0.01


def test_callable_attack_and_ball_check(trained_cnn, test_batch):
    x, y = test_batch[0][:20], test_batch[1][:20]

    def darken(model, x, y, *, eps, bounds):
        return tf.clip_by_value(x - eps, *bounds)

    result = robust_accuracy(trained_cnn, x, y, attack=darken, eps=0.05)
    predict = lambda images: np.argmax(np.asarray(trained_cnn(images, training=False)), axis=1)  # noqa: E731
    expected = np.mean((predict(x) == y) & (predict(np.clip(x - 0.05, 0, 1)) == y))
    assert result.attack == "darken" and result.robust_accuracy == pytest.approx(expected)

    def cheat(model, x, y, *, eps, bounds):
        return tf.clip_by_value(x + 3 * eps, *bounds)

    with pytest.raises(ValueError, match="left the linf ball"):
        robust_accuracy(trained_cnn, x, y, attack=cheat, eps=0.05)


def test_result_json_roundtrip(trained_cnn, test_batch, tmp_path):
    x, y = test_batch[0][:40], test_batch[1][:40]
    result = robust_accuracy(trained_cnn, x, y, attack="pgd:steps=3", eps=0.1, per_example=True)
    assert result.attack_config["step_size"] == pytest.approx(2.5 * 0.1 / 3)
    path = tmp_path / "r.json"
    text = result.to_json(path)
    assert json.loads(path.read_text()) == json.loads(text)
    back = RobustAccuracyResult.from_json(str(path))
    assert back.robust_accuracy == result.robust_accuracy and back.attack == "pgd-3x1-ce"
    np.testing.assert_array_equal(back.robust_correct, result.robust_correct)
    assert result.drop == pytest.approx(result.clean_accuracy - result.robust_accuracy)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(eps=-0.1), ValueError, ">= 0"),
    (dict(eps=float("nan")), ValueError, "finite"),
    (dict(eps=2.0), ValueError, "larger than the whole bounds"),
    (dict(eps=0.1, batch_size=0), ValueError, "batch_size"),
    (dict(eps=0.1, early_stop="yes"), TypeError, "early_stop"),
    (dict(eps=0.1, attack="no-such-attack"), ValueError, "Unknown attack"),
    (dict(eps=0.1, attack=42), TypeError, "attack must be"),
])
def test_bad_arguments_raise(trained_cnn, test_batch, kwargs, error, match):
    x, y = test_batch[0][:8], test_batch[1][:8]
    kwargs = {"attack": "fgsm", **kwargs}
    with pytest.raises(error, match=match):
        robust_accuracy(trained_cnn, x, y, **kwargs)


def test_bad_data_raise(trained_cnn, test_batch):
    x, y = test_batch[0][:8], test_batch[1][:8]
    with pytest.raises(ValueError, match="mismatch"):
        robust_accuracy(trained_cnn, x, y[:5], attack="fgsm", eps=0.1)
    with pytest.raises(TypeError, match="integer dtype"):
        robust_accuracy(trained_cnn, (x * 255).astype(np.uint8), y, attack="fgsm", eps=0.1)
    with pytest.raises(ValueError, match="missing"):
        robust_accuracy(trained_cnn, x, attack="fgsm", eps=0.1)
    with pytest.raises(ValueError, match="lie in"):
        robust_accuracy(trained_cnn, x, y + 10, attack="fgsm", eps=0.1)
    with pytest.raises(ValueError, match="images, labels"):
        robust_accuracy(trained_cnn, tf.data.Dataset.from_tensor_slices(x).batch(4), attack="fgsm", eps=0.1)
