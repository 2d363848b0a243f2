"""EnsembleAdversarialModel (Tramèr et al. 2018): source rotation, static models untouched, config."""
import json

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from training_helpers import small_cnn

from tfrobust.training import EnsembleAdversarialModel


def _fgsm(net, x, y, eps):
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(y, net(xt, training=False)))
    return np.clip(x + eps * np.sign(tape.gradient(loss, xt).numpy()), 0, 1)


def test_sources_rotate_and_static_models_stay_fixed():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (32, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, 32)
    static = [small_cnn(seed=21), small_cnn(seed=22)]
    static_before = [m.get_weights() for m in static]
    model = EnsembleAdversarialModel(small_cnn(seed=23), static, eps=0.2)
    model.compile(keras.optimizers.SGD(0.1))
    assert len(model.weights) == len(model.inner.weights)  # static models are not the wrapper's weights
    yt = tf.constant(y, tf.int32)
    for step, net in enumerate([model.inner] + static):
        assert int(model.source_index()) == step
        np.testing.assert_allclose(model.adversarial_examples(tf.constant(x), yt).numpy(), _fgsm(net, x, y, 0.2),
                                   atol=1e-6)
        model.train_on_batch(x, y)
    assert int(model.source_index()) == 0  # back to the trained model after n + 1 steps
    for net, before in zip(static, static_before):
        for w, w0 in zip(net.get_weights(), before):
            np.testing.assert_array_equal(w, w0)


def test_rfgsm_examples_inside_the_ball_and_round_trip():
    model = EnsembleAdversarialModel(small_cnn(seed=24), small_cnn(seed=25), eps=0.2, attack="rfgsm",
                                     adversarial_weight=1.0)
    rng = np.random.default_rng(1)
    x = rng.uniform(0.3, 0.7, (8, 28, 28, 1)).astype(np.float32)  # away from the bounds: no domain clipping
    x_adv = model.adversarial_examples(tf.constant(x), tf.constant(rng.integers(0, 10, 8), tf.int32), source=1)
    delta = x_adv.numpy() - x
    # R+FGSM: alpha sign(noise) + (eps - alpha) sign(grad), alpha = eps / 2: each |delta| is 0, eps/2 or eps.
    magnitude = np.abs(delta)
    assert np.max(magnitude) <= 0.2 + 1e-5
    assert np.all(np.min(np.abs(magnitude[..., None] - np.array([0.0, 0.1, 0.2])), axis=-1) < 1e-5)
    assert np.mean(magnitude > 0.15) > 0.3
    config = json.loads(json.dumps(model.get_config()))
    restored = EnsembleAdversarialModel.from_config(config)
    assert len(restored.static_models) == 1 and restored.attack == "rfgsm" and restored.adversarial_weight == 1.0
    with pytest.raises(ValueError, match="static_models"):
        EnsembleAdversarialModel(small_cnn(), [], eps=0.1)
    inner = small_cnn()
    with pytest.raises(ValueError, match="static"):
        EnsembleAdversarialModel(inner, [inner], eps=0.1)
