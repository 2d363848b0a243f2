"""MARTModel (Wang et al. 2020): loss equals its formula in numpy, the attack, training lowers the loss."""
import json

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from training_helpers import small_cnn

from tfrobust.training import MARTModel


def _np_softmax(z):
    z = z.astype(np.float64) - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def test_mart_loss_equals_its_formula_in_numpy():
    inner = small_cnn(seed=8)
    model = MARTModel(inner, eps=0.3, step_size=0.1, steps=3, beta=6.0)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (16, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, 16)
    x_adv = model.adversarial_examples(tf.constant(x), tf.constant(y, tf.int32)).numpy()
    assert np.max(np.abs(x_adv - x)) <= 0.3 + 1e-6
    per_example, _, _ = model.training_loss(tf.constant(x), tf.constant(y, tf.int32), tf.constant(x_adv))
    p = _np_softmax(inner(x, training=True).numpy())
    q = _np_softmax(inner(x_adv, training=True).numpy())
    idx = np.arange(len(y))
    q_wrong = q.copy()
    q_wrong[idx, y] = -1.0
    bce = -np.log(q[idx, y]) - np.log(1.0001 - q_wrong.max(axis=1) + 1e-12)
    kl = np.sum(p * (np.log(p) - np.log(q)), axis=1)
    expected = bce + 6.0 * kl * (1.0000001 - p[idx, y])
    np.testing.assert_allclose(per_example.numpy(), expected, rtol=1e-4, atol=1e-5)


class _FixedAttackMART(MARTModel):
    """MART with a fixed adversarial batch, so the objective before and after a step is comparable."""

    x_fixed = None

    def adversarial_examples(self, x, y):
        return tf.constant(self.x_fixed)


def test_mart_step_lowers_its_objective_and_round_trips():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (32, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, 32)
    model = _FixedAttackMART(small_cnn(seed=9), eps=0.1, step_size=0.05, steps=2)
    model.x_fixed = MARTModel(model.inner, eps=0.1, step_size=0.05, steps=2).adversarial_examples(
        tf.constant(x), tf.constant(y, tf.int32)).numpy()
    model.compile(keras.optimizers.SGD(0.05))

    def objective():
        return float(np.mean(model.training_loss(tf.constant(x), tf.constant(y, tf.int32),
                                                 tf.constant(model.x_fixed))[0]))

    before = objective()
    logs = model.train_on_batch(x, y, return_dict=True)
    assert logs["loss"] == pytest.approx(before, rel=1e-4)  # the logged loss is the formula's batch mean
    after = objective()
    assert after < before - 1e-3, (before, after)
    assert set(logs) == {"loss", "accuracy", "adv_accuracy"}
    config = json.loads(json.dumps(model.get_config()))
    assert MARTModel.from_config(config).get_config()["beta"] == 6.0
    with pytest.raises(ValueError, match="beta"):
        MARTModel(small_cnn(), eps=0.1, step_size=0.05, steps=2, beta="6")
