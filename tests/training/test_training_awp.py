"""AWPModel (Wu et al. 2020): per-layer relative norm gamma, removed after the step, warm-up, TRADES-AWP."""
import json

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from training_helpers import small_cnn

from tfrobust.training import AWPModel
from tfrobust.training.awp import perturbed_variables


class _FixedAttackAWP(AWPModel):
    """AWP with a fixed adversarial batch, so the expected update can be computed separately."""

    x_fixed = None

    def adversarial_examples(self, x, y):
        return tf.constant(self.x_fixed)


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (32, 28, 28, 1)).astype(np.float32)
    return x, rng.integers(0, 10, 32), np.clip(x + rng.uniform(-0.1, 0.1, x.shape), 0, 1).astype(np.float32)


def _mean_ce_gradient(model, x_adv, y):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, model(x_adv, training=False)))
    return [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]


def test_weight_perturbation_has_relative_norm_gamma_and_is_removed_after_the_step():
    x, y, x_adv = _batch()
    gamma, lr = 0.05, 0.1
    model = _FixedAttackAWP(small_cnn(seed=12), eps=0.1, step_size=0.05, steps=1, gamma=gamma)
    model.x_fixed = x_adv
    model.compile(keras.optimizers.SGD(lr))
    w0 = [w.numpy() for w in model.inner.trainable_variables]
    kernels = perturbed_variables(model.inner.trainable_variables)
    assert len(kernels) == 4 and all(v.shape.rank >= 2 for v in kernels)  # 2 conv + 2 dense kernels

    weights, deltas = model.perturbation(tf.constant(x), tf.constant(y, tf.int32), tf.constant(x_adv))
    for w, v in zip(weights, deltas):
        assert float(tf.norm(v) / tf.norm(w)) == pytest.approx(gamma, rel=1e-5)

    # Independent computation: v_l = gamma ||w_l|| g_l / ||g_l|| on the kernels (numpy), G at w + v, w0 - lr G.
    reference = small_cnn(seed=12)
    reference.set_weights(model.inner.get_weights())
    grads = _mean_ce_gradient(reference, x_adv, y)
    shifted = [w + (gamma * np.linalg.norm(w) * g / np.linalg.norm(g) if w.ndim >= 2 else 0.0)
               for w, g in zip(w0, grads)]
    for var, value in zip(reference.trainable_variables, shifted):
        var.assign(value)
    grads_at_shift = _mean_ce_gradient(reference, x_adv, y)
    expected = [w - lr * g for w, g in zip(w0, grads_at_shift)]
    # The same step without AWP (gradient at w0) differs: the perturbation really acted.
    plain = [w - lr * g for w, g in zip(w0, grads)]

    model.train_on_batch(x, y)
    after = [w.numpy() for w in model.inner.trainable_variables]
    for got, want in zip(after, expected):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    assert max(float(np.max(np.abs(p - e))) for p, e in zip(plain, expected)) > 1e-5


def test_no_perturbation_during_warm_up():
    x, y, x_adv = _batch(1)
    model = _FixedAttackAWP(small_cnn(seed=13), eps=0.1, step_size=0.05, steps=1, gamma=0.05, warmup_steps=1)
    model.x_fixed = x_adv
    model.compile(keras.optimizers.SGD(0.1))
    reference = small_cnn(seed=13)
    reference.set_weights(model.inner.get_weights())
    expected = [w.numpy() - 0.1 * g for w, g in zip(reference.trainable_variables, _mean_ce_gradient(reference, x_adv, y))]
    model.train_on_batch(x, y)  # step 0 < warmup_steps: plain PGD-AT update
    for got, want in zip(model.inner.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    _, deltas = model.perturbation(tf.constant(x), tf.constant(y, tf.int32), tf.constant(x_adv))
    assert float(tf.norm(deltas[0])) > 0  # step 1: warm-up over


def test_trades_awp_trains_and_round_trips(train_subset):
    x, y = train_subset[0][:300], train_subset[1][:300]
    model = AWPModel(small_cnn(seed=14), eps=0.1, step_size=0.05, steps=2, objective="trades", beta=1.0)
    model.compile(keras.optimizers.Adam(2e-3))
    history = model.fit(x, y, batch_size=100, epochs=2, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    config = json.loads(json.dumps(model.get_config()))
    restored = AWPModel.from_config(config)
    assert {k: restored.get_config()[k] for k in ("objective", "gamma", "beta", "warmup_steps")} == \
        {"objective": "trades", "gamma": 5e-3, "beta": 1.0, "warmup_steps": 0}
    with pytest.raises(ValueError, match="objective"):
        AWPModel(small_cnn(), eps=0.1, step_size=0.05, steps=2, objective="mart")
    with pytest.raises(ValueError, match="warmup_steps"):
        AWPModel(small_cnn(), eps=0.1, step_size=0.05, steps=2, warmup_steps=-1)


def test_trades_awp_under_mirrored_strategy_matches_single_device(tmp_path_factory):
    import two_cpus_worker  # tests/two_cpus_worker.py: one fresh process with two logical CPUs

    runs = two_cpus_worker.results(tmp_path_factory)
    assert runs["replicas"] == 2
    result = runs["awp"]
    np.testing.assert_allclose(result["m_loss"], result["s_loss"], rtol=1e-4)
    for a, b in zip(result["m_w"], result["s_w"]):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-4, atol=1e-6)
