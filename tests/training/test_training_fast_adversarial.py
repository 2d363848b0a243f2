"""FastAdversarialModel (Wong et al. 2020): robustness gain, BatchNorm untouched by the attack, guard."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from training_helpers import accuracy, pgd_accuracy, small_cnn

from tfrobust.training import CatastrophicOverfittingGuard, FastAdversarialModel


@pytest.fixture(scope="module")
def fast_model(train_subset):
    x, y = train_subset
    model = FastAdversarialModel(small_cnn(seed=2), eps=0.1)
    model.compile(keras.optimizers.Adam(2e-3))
    history = model.fit(x, y, batch_size=100, epochs=4, verbose=0)
    return model, history


def test_fast_at_beats_standard_training_under_pgd20(fast_model, trained_cnn, test_batch):
    model, history = fast_model
    x, y = test_batch
    assert set(history.history) == {"loss", "accuracy", "adv_accuracy"}
    # Training adversarial accuracy rises above chance and below clean accuracy.
    assert 0.5 < history.history["adv_accuracy"][-1] < history.history["accuracy"][-1]
    robust_fast = pgd_accuracy(model.inner, x, y, eps=0.1)
    robust_standard = pgd_accuracy(trained_cnn, x, y, eps=0.1)
    assert accuracy(model.inner, x, y) > 0.85
    assert robust_fast >= robust_standard + 0.20, (robust_fast, robust_standard)


def test_fgsm_rs_examples_follow_wong_step():
    # With random_start=False the example is exactly clip(x + clip(alpha sign(g), -eps, eps)).
    inner = small_cnn(seed=3)
    model = FastAdversarialModel(inner, eps=0.1, alpha=0.125, random_start=False)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(0, 1, (8, 28, 28, 1)).astype(np.float32))
    y = tf.constant(rng.integers(0, 10, 8), tf.int32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(y, inner(x)))
    expected = np.clip(x.numpy() + 0.1 * np.sign(tape.gradient(loss, x).numpy()), 0, 1)
    np.testing.assert_allclose(model.adversarial_examples(x, y).numpy(), expected, atol=1e-6)
    # With the random start: inside the eps ball and the image domain, and not equal to x.
    model_rs = FastAdversarialModel(inner, eps=0.1)
    x_adv = model_rs.adversarial_examples(x, y).numpy()
    assert np.max(np.abs(x_adv - x.numpy())) <= 0.1 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    assert np.mean(np.abs(x_adv - x.numpy()) > 0.05) > 0.3
    assert model_rs.alpha == pytest.approx(0.125)


def test_batchnorm_moving_statistics_see_only_the_adversarial_batch():
    inner = small_cnn(batch_norm=True, seed=4)
    bn = next(layer for layer in inner.layers if isinstance(layer, keras.layers.BatchNormalization))
    bn_input = keras.Model(inner.input, bn.input)
    model = FastAdversarialModel(inner, eps=0.1, random_start=False, clean_accuracy=True)
    model.compile(keras.optimizers.SGD(0.0))
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (32, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, 32)
    mean0, var0 = bn.moving_mean.numpy(), bn.moving_variance.numpy()
    x_adv = model.adversarial_examples(tf.constant(x), tf.constant(y, tf.int32))
    features = bn_input(x_adv).numpy()
    batch_mean, batch_var = features.mean(axis=(0, 1, 2)), features.var(axis=(0, 1, 2))
    momentum = bn.momentum
    model.train_on_batch(x, y)
    # One update from the adversarial batch of the weight step, none from the attack's pass
    # (nor from the clean-accuracy pass): m <- momentum m + (1 - momentum) mean(adv batch).
    np.testing.assert_allclose(bn.moving_mean.numpy(), momentum * mean0 + (1 - momentum) * batch_mean,
                               rtol=1e-4, atol=1e-6)
    # Keras' BatchNormalization updates the moving variance with the biased batch variance.
    np.testing.assert_allclose(bn.moving_variance.numpy(), momentum * var0 + (1 - momentum) * batch_var,
                               rtol=1e-4, atol=1e-6)


def _copy(model):
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


class _Sabotage(keras.callbacks.Callback):
    """Destroys the model at the end of one epoch (a stand-in for a catastrophic collapse)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch, self.weights_before = epoch, None

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.weights_before = [w.copy() for w in self.model.get_weights()]
            last = self.model.inner.layers[-1]
            last.kernel.assign(tf.zeros_like(last.kernel))
            last.bias.assign(tf.one_hot(0, 10))


def _guarded_fit(trained_cnn, test_batch, sabotage_epoch):
    x, y = test_batch[0][::2], test_batch[1][::2]  # 10 digits per class
    model = FastAdversarialModel(_copy(trained_cnn), eps=0.05)
    model.compile(keras.optimizers.SGD(0.0))  # weights change only through the sabotage
    guard = CatastrophicOverfittingGuard(x, y, eps=0.05)
    sabotage = _Sabotage(sabotage_epoch)
    history = model.fit(x, y, batch_size=100, epochs=3, verbose=0, callbacks=[sabotage, guard])
    return model, guard, sabotage, history


def test_guard_restores_previous_weights_and_stops_on_collapse(trained_cnn, test_batch):
    model, guard, sabotage, history = _guarded_fit(trained_cnn, test_batch, sabotage_epoch=1)
    assert guard.collapsed_epoch == 1
    assert len(history.history["loss"]) == 2  # stopped after the collapsed epoch
    assert guard.robust_accuracies[0] > 0.5 and guard.robust_accuracies[1] <= 0.1
    assert history.history["guard_robust_accuracy"] == pytest.approx(guard.robust_accuracies)
    for restored, before in zip(model.get_weights(), sabotage.weights_before):
        np.testing.assert_array_equal(restored, before)


def test_guard_lets_stable_training_run(trained_cnn, test_batch):
    _, guard, _, history = _guarded_fit(trained_cnn, test_batch, sabotage_epoch=-1)
    assert guard.collapsed_epoch is None and len(history.history["loss"]) == 3
    # Same weights and same seeded starts every epoch: the same robust accuracy.
    assert len(set(guard.robust_accuracies)) == 1


def test_invalid_settings_raise():
    with pytest.raises(ValueError, match="eps"):
        FastAdversarialModel(small_cnn(), eps=-0.1)
    with pytest.raises(TypeError, match="tf_keras"):
        FastAdversarialModel(lambda x: x, eps=0.1)
    with pytest.raises(TypeError, match="integer"):
        CatastrophicOverfittingGuard(np.zeros((2, 28, 28, 1), np.uint8), [0, 1], eps=0.1)
