"""TemperatureModel: apparent FGSM robustness at T = 1 that the masking report exposes (seed 004)."""
import numpy as np
import pytest
import tensorflow as tf
from training_helpers import accuracy

from tfrobust.training import TemperatureModel


def _fgsm_accuracy(logits_fn, x, y, eps):
    """Independent FGSM (Goodfellow et al. 2015) on the cross entropy of ``logits_fn``."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.constant(y, tf.int32), logits_fn(x))
    x_adv = tf.clip_by_value(x + eps * tf.sign(tape.gradient(loss, x)), 0.0, 1.0)
    return float(np.mean(np.argmax(logits_fn(x_adv).numpy(), axis=1) == y))


def test_call_returns_raw_logits_and_scaled_model_divides_by_t(temperature_50, test_batch):
    x = test_batch[0][:16]
    raw = temperature_50(x).numpy()
    np.testing.assert_allclose(raw, temperature_50.inner(x).numpy(), rtol=1e-6)
    np.testing.assert_allclose(temperature_50.scaled_model(x).numpy(), raw / 50.0, rtol=1e-6)
    np.testing.assert_array_equal(np.argmax(temperature_50.predict(x, verbose=0), 1),
                                  np.argmax(temperature_50.scaled_model.predict(x, verbose=0), 1))
    # Training at T = 50 drives the raw logits to ~T times ordinary scales.
    assert np.mean(raw.max(1) - np.median(raw, 1)) > 50


def test_high_temperature_looks_robust_to_unaware_fgsm_but_masking_report_flags_it(
        temperature_50, trained_cnn, test_batch):
    x, y = test_batch
    eps = 0.2
    clean = accuracy(temperature_50, x, y)
    unaware_t50 = _fgsm_accuracy(temperature_50, x, y, eps)  # attacker at T = 1: saturated softmax
    standard = _fgsm_accuracy(trained_cnn, x, y, eps)  # the T = 1 model
    aware_t50 = _fgsm_accuracy(temperature_50.scaled_model, x, y, eps)
    assert clean > 0.75
    assert unaware_t50 > standard + 0.3, (unaware_t50, standard)
    assert aware_t50 < unaware_t50 - 0.3, (aware_t50, unaware_t50)  # the robustness is not real

    evaluation = pytest.importorskip("tfrobust.evaluation")
    if not hasattr(evaluation, "masking_report"):
        pytest.skip("tfrobust.evaluation.masking_report is not available yet")
    report = evaluation.masking_report(temperature_50.inner, x, y, eps=eps)
    assert report.suspicious and report.findings


def test_temperature_loss_is_cross_entropy_of_scaled_logits(trained_cnn, test_batch):
    model = TemperatureModel(trained_cnn, temperature=4.0)
    x, y = tf.constant(test_batch[0][:8]), tf.constant(test_batch[1][:8], tf.int32)
    per_example, logits, adv = model.training_loss(x, y, None)
    z = trained_cnn(x).numpy().astype(np.float64) / 4.0
    expected = np.log(np.exp(z).sum(1)) - z[np.arange(8), y.numpy()]
    np.testing.assert_allclose(per_example.numpy(), expected, rtol=1e-5)
    assert adv is None


def test_invalid_temperature_raises(trained_cnn):
    with pytest.raises(ValueError, match="temperature"):
        TemperatureModel(trained_cnn, temperature=0.0)
