"""TRADESModel (Zhang et al. 2019): loss equals its formula, beta = 0 is standard training, KL-PGD, config."""
import json

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from training_helpers import small_cnn

from tfrobust.training import TRADESModel
from tfrobust.training.trades import kl_divergence


def _batch(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, 28, 28, 1)).astype(np.float32), rng.integers(0, 10, n)


def _np_log_softmax(z):
    z = z.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def test_trades_loss_equals_its_formula_in_numpy():
    inner = small_cnn(seed=5)
    model = TRADESModel(inner, eps=0.3, step_size=0.1, steps=3, beta=6.0)
    x, y = _batch()
    x_adv = model.adversarial_examples(tf.constant(x), tf.constant(y, tf.int32)).numpy()
    per_example, clean_logits, adv_logits = model.training_loss(tf.constant(x), tf.constant(y, tf.int32),
                                                                tf.constant(x_adv))
    # Independent: logits from separate forward passes, CE and KL(p(x) || p(x')) in float64 numpy.
    log_p = _np_log_softmax(inner(x, training=True).numpy())
    log_q = _np_log_softmax(inner(x_adv, training=True).numpy())
    ce = -log_p[np.arange(len(y)), y]
    kl = np.sum(np.exp(log_p) * (log_p - log_q), axis=1)
    np.testing.assert_allclose(per_example.numpy(), ce + 6.0 * kl, rtol=1e-4, atol=1e-5)
    assert kl.mean() > 1e-3  # the attack moved the prediction, so the KL term is really tested
    # And the training loss Keras reports is the batch mean of that formula (SGD(0): weights unchanged).
    model.compile(keras.optimizers.SGD(0.0))
    tf.random.set_seed(0)
    logs = model.train_on_batch(x, y, return_dict=True)
    assert logs["loss"] > ce.mean()  # beta * KL > 0 on top of the clean CE


def test_kl_pgd_increases_the_kl_inside_the_ball():
    inner = small_cnn(seed=6)
    x, y = _batch(seed=1)
    model = TRADESModel(inner, eps=0.1, step_size=0.03, steps=5)
    x_adv = model.adversarial_examples(tf.constant(x), tf.constant(y, tf.int32)).numpy()
    assert np.max(np.abs(x_adv - x)) <= 0.1 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    noise = np.clip(x + 0.001 * np.random.default_rng(0).standard_normal(x.shape), 0, 1).astype(np.float32)
    kl_attack = kl_divergence(inner(x), inner(x_adv)).numpy().mean()
    kl_noise = kl_divergence(inner(x), inner(noise)).numpy().mean()
    assert kl_attack > 100 * kl_noise and kl_attack > 1e-3, (kl_attack, kl_noise)


def test_beta_zero_is_standard_training_on_the_same_batch():
    x, y = _batch(32, seed=2)
    standard = small_cnn(seed=7)
    trades_inner = small_cnn(seed=7)
    standard.compile(keras.optimizers.SGD(0.5), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    trades = TRADESModel(trades_inner, eps=0.3, step_size=0.1, steps=2, beta=0.0)
    trades.compile(keras.optimizers.SGD(0.5))
    standard.train_on_batch(x, y)
    trades.train_on_batch(x, y)
    moved = 0.0
    for w_std, w_trades, w0 in zip(standard.get_weights(), trades_inner.get_weights(), small_cnn(seed=7).get_weights()):
        np.testing.assert_allclose(w_trades, w_std, rtol=1e-4, atol=1e-6)
        moved = max(moved, float(np.max(np.abs(w_std - w0))))
    assert moved > 1e-3  # the step really changed the weights


def test_config_round_trip_and_bad_settings():
    model = TRADESModel(small_cnn(), eps=1.0, step_size=0.2, steps=4, beta=1.0, norm="l2")
    config = json.loads(json.dumps(model.get_config()))
    restored = TRADESModel.from_config(config)
    assert {k: restored.get_config()[k] for k in ("eps", "step_size", "steps", "beta", "norm")} == \
        {"eps": 1.0, "step_size": 0.2, "steps": 4, "beta": 1.0, "norm": "l2"}
    with pytest.raises(ValueError, match="beta"):
        TRADESModel(small_cnn(), eps=0.3, step_size=0.1, steps=2, beta=-1.0)
    with pytest.raises(ValueError, match="norm"):
        TRADESModel(small_cnn(), eps=0.3, step_size=0.1, steps=2, norm="l1")
