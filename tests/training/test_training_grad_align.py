"""GradAlignModel (Andriushchenko & Flammarion 2020): R = 0 for a linear model, R > 0 otherwise, training."""
import json

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from training_helpers import small_cnn

from tfrobust.training import GradAlignModel


def _linear_two_class(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((28, 28, 1))
    return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))


def _np_cosine(a, b):
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_regulariser_is_zero_for_a_linear_model_and_positive_for_a_cnn():
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(0, 1, (16, 28, 28, 1)).astype(np.float32))
    linear = GradAlignModel(_linear_two_class(), eps=0.3)
    r_linear = linear.alignment_regulariser(x, tf.constant(rng.integers(0, 2, 16), tf.int32)).numpy()
    np.testing.assert_allclose(r_linear, 0.0, atol=1e-5)
    y10 = tf.constant(rng.integers(0, 10, 16), tf.int32)
    cnn = GradAlignModel(small_cnn(seed=18), eps=0.3)
    tf.random.set_seed(3)
    r_cnn = cnn.alignment_regulariser(x, y10).numpy()
    assert r_cnn.mean() > 0.01, r_cnn
    # Formula check: same eta (same op seed), gradients taken separately, cosine in numpy.
    tf.random.set_seed(3)
    eta = tf.random.uniform(tf.shape(x), -0.3, 0.3)
    grads = []
    for point in (x, tf.clip_by_value(x + eta, 0, 1)):
        with tf.GradientTape() as tape:
            tape.watch(point)
            loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(y10, cnn.inner(point)))
        grads.append(tape.gradient(loss, point).numpy())
    np.testing.assert_allclose(r_cnn, 1.0 - _np_cosine(*grads), rtol=1e-4, atol=1e-5)


def test_regulariser_changes_the_update_and_is_logged():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (32, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, 32)
    updates = []
    for lam in (0.0, 1.0):
        model = GradAlignModel(small_cnn(seed=19), eps=0.2, grad_align_lambda=lam)
        model.compile(keras.optimizers.SGD(0.1))
        logs = model.train_on_batch(x, y, return_dict=True)
        assert set(logs) == {"loss", "accuracy", "adv_accuracy", "grad_align"}
        updates.append(model.inner.get_weights())
    # The double-backprop gradient of lambda * R reaches the weights.
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(*updates)) > 1e-5


def test_trains_and_round_trips(train_subset):
    x, y = train_subset[0][:300], train_subset[1][:300]
    model = GradAlignModel(small_cnn(seed=20), eps=0.1)
    model.compile(keras.optimizers.Adam(2e-3))
    history = model.fit(x, y, batch_size=100, epochs=2, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    restored = GradAlignModel.from_config(json.loads(json.dumps(model.get_config())))
    assert (restored.eps, restored.grad_align_lambda, restored.alpha, restored.random_start) == (0.1, 0.2, 0.1, False)
    assert "grad_align" not in model.evaluate(x[:100], y[:100], verbose=0, return_dict=True)
    with pytest.raises(ValueError, match="grad_align_lambda"):
        GradAlignModel(small_cnn(), eps=0.1, grad_align_lambda=-0.2)
