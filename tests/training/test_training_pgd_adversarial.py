"""PGDAdversarialModel (Madry et al. 2018) and the graph-safe inner PGD."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from training_helpers import accuracy, pgd_accuracy, small_cnn

from tfrobust.training import PGDAdversarialModel, pgd_examples


def test_pgd_training_beats_standard_training_under_pgd20(train_subset, trained_cnn, test_batch):
    x, y = train_subset
    # Goodfellow et al.'s 50/50 clean/adversarial mix converges in the 3 epochs a unit test affords.
    model = PGDAdversarialModel(small_cnn(seed=5), eps=0.1, step_size=0.04, steps=3, clean_weight=0.5)
    model.compile(keras.optimizers.Adam(2e-3))
    history = model.fit(x, y, batch_size=100, epochs=3, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "adv_accuracy"}
    xt, yt = test_batch
    robust_pgd = pgd_accuracy(model.inner, xt, yt, eps=0.1)
    robust_standard = pgd_accuracy(trained_cnn, xt, yt, eps=0.1)
    assert accuracy(model.inner, xt, yt) > 0.85
    assert robust_pgd >= robust_standard + 0.20, (robust_pgd, robust_standard)


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 1.5)])
def test_inner_pgd_stays_in_ball_and_raises_the_loss(trained_cnn, test_batch, norm, eps):
    x, y = tf.constant(test_batch[0][:64]), tf.constant(test_batch[1][:64], tf.int32)
    x_adv = pgd_examples(lambda z: trained_cnn(z, training=False), x, y, eps=eps, step_size=eps / 4, steps=5,
                         norm=norm).numpy()
    delta = (x_adv - x.numpy()).reshape(64, -1)
    size = np.abs(delta).max(axis=1) if norm == "linf" else np.linalg.norm(delta, axis=1)
    assert size.max() <= eps * (1 + 1e-5) and x_adv.min() >= 0 and x_adv.max() <= 1

    def ce(images):
        return tf.nn.sparse_softmax_cross_entropy_with_logits(y, trained_cnn(images)).numpy().mean()

    assert ce(x_adv) > ce(x) + 1.0


def test_clean_weight_mixes_clean_and_adversarial_cross_entropy(trained_cnn, test_batch):
    model = PGDAdversarialModel(trained_cnn, eps=0.1, step_size=0.05, steps=2, clean_weight=0.3)
    x, y = tf.constant(test_batch[0][:16]), tf.constant(test_batch[1][:16], tf.int32)
    x_adv = model.adversarial_examples(x, y)
    per_example, clean_logits, adv_logits = model.training_loss(x, y, x_adv)

    def ce(logits):
        logits = logits.numpy().astype(np.float64)
        log_probs = logits - logits.max(1, keepdims=True)
        log_probs -= np.log(np.exp(log_probs).sum(1, keepdims=True))
        return -log_probs[np.arange(16), y.numpy()]

    np.testing.assert_allclose(clean_logits.numpy(), trained_cnn(x).numpy(), atol=1e-5)
    np.testing.assert_allclose(adv_logits.numpy(), trained_cnn(x_adv).numpy(), atol=1e-5)
    np.testing.assert_allclose(per_example.numpy(), 0.3 * ce(clean_logits) + 0.7 * ce(adv_logits), rtol=1e-5, atol=1e-6)


def test_invalid_settings_raise():
    with pytest.raises(ValueError, match="clean_weight"):
        PGDAdversarialModel(small_cnn(), eps=0.1, step_size=0.01, steps=3, clean_weight=1.5)
    with pytest.raises(TypeError, match="steps"):
        PGDAdversarialModel(small_cnn(), eps=0.1, step_size=0.01, steps=2.5)
    with pytest.raises(ValueError, match="norm"):
        PGDAdversarialModel(small_cnn(), eps=0.1, step_size=0.01, steps=3, norm="l1")
