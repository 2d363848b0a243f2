"""TargetNetwork: flat θ <-> LeNet-5 weights and the functional forward pass (seed 000)."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrobust import models
from tfrobust.hypernet import TargetNetwork, flatten_from, load_into


@pytest.fixture(scope="module")
def lenet():
    keras.utils.set_random_seed(1)
    return models.build("lenet5", (28, 28, 1), 10)


@pytest.fixture(scope="module")
def target(lenet):
    return TargetNetwork.from_model(lenet)


def _random_theta(target, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 0.1, target.theta_size).astype(np.float32)


def test_lenet5_layout_matches_seed(target, lenet):
    assert target.theta_size == 20522 == lenet.count_params()
    assert target.shapes == ((5, 5, 1, 8), (8,), (5, 5, 8, 16), (16,), (256, 64), (64,), (64, 10), (10,))


def test_flatten_unflatten_round_trip(target, lenet):
    theta = flatten_from(lenet)
    parts = target.unflatten(theta)
    for part, weight in zip(parts, lenet.trainable_weights):
        np.testing.assert_array_equal(part.numpy(), weight.numpy())
    np.testing.assert_array_equal(target.flatten(parts).numpy(), theta.numpy())
    # θ starts with conv1's kernel in row-major order, then conv1's bias.
    np.testing.assert_array_equal(theta[:200].numpy(), lenet.trainable_weights[0].numpy().reshape(-1))
    batch = np.stack([_random_theta(target, 0), _random_theta(target, 1)])
    batch_parts = target.unflatten(batch)
    assert batch_parts[2].shape == (2, 5, 5, 8, 16)
    np.testing.assert_array_equal(target.flatten([p[1] for p in batch_parts]).numpy(), batch[1])


def test_load_into_round_trip(target):
    model = models.build("lenet5", (28, 28, 1), 10)
    theta = _random_theta(target, 2)
    load_into(model, theta)
    np.testing.assert_array_equal(flatten_from(model).numpy(), theta)


def test_functional_forward_equals_keras_lenet5(target, test_batch):
    x = test_batch[0][:32]
    model = models.build("lenet5", (28, 28, 1), 10)
    thetas = np.stack([_random_theta(target, s) for s in (3, 4, 5)])
    batched = target.forward_batch(thetas, x).numpy()
    assert batched.shape == (3, 32, 10)
    for i, theta in enumerate(thetas):
        load_into(model, theta)
        expected = model(x, training=False).numpy()
        np.testing.assert_allclose(target.forward(theta, x).numpy(), expected, atol=1e-5)
        np.testing.assert_allclose(batched[i], expected, atol=1e-5)
    # One batch of images per network gives each network its own images.
    per_network = target.forward_batch(thetas, np.stack([x, x[::-1], x])).numpy()
    load_into(model, thetas[1])
    np.testing.assert_allclose(per_network[1], model(x[::-1], training=False).numpy(), atol=1e-5)


def test_gradient_wrt_theta_equals_keras_weight_gradient(target, test_batch):
    x, y = test_batch[0][:16], test_batch[1][:16]
    model = models.build("lenet5", (28, 28, 1), 10)
    theta = tf.constant(_random_theta(target, 6))
    load_into(model, theta)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        tape.watch(theta)
        functional_loss = loss_fn(y, target.forward(theta, x))
    grad = tape.gradient(functional_loss, theta).numpy()
    with tf.GradientTape() as tape:
        keras_loss = loss_fn(y, model(x, training=False))
    expected = target.flatten(tape.gradient(keras_loss, model.trainable_weights)).numpy()
    np.testing.assert_allclose(grad, expected, atol=1e-5, rtol=1e-4)
    assert np.abs(expected).max() > 1e-3


def test_training_mode_applies_dropout(target, test_batch):
    x = test_batch[0][:64]
    theta = _random_theta(target, 7)
    tf.random.set_seed(0)
    eval_logits = target.forward(theta, x, training=False).numpy()
    train_logits = target.forward(theta, x, training=True).numpy()
    assert not np.allclose(eval_logits, train_logits, atol=1e-3)


def test_bad_theta_and_unsupported_models_raise(target):
    with pytest.raises(ValueError, match="20522"):
        target.check_theta(np.zeros(100, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        target.check_theta(np.full(target.theta_size, np.nan, np.float32))
    model = models.build("lenet5", (28, 28, 1), 10)
    with pytest.raises(ValueError, match="20522"):
        load_into(model, np.zeros(5, np.float32))
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3)(inputs)
    h = keras.layers.BatchNormalization()(h)
    outputs = keras.layers.Dense(3)(keras.layers.Flatten()(h))
    with pytest.raises(ValueError, match="BatchNormalization"):
        TargetNetwork.from_model(keras.Model(inputs, outputs))
    inputs = keras.Input((6,))
    h = keras.layers.Dense(6)(inputs)
    outputs = keras.layers.Dense(3)(keras.layers.Add()([h, inputs]))  # residual: not a chain
    with pytest.raises(ValueError, match="chain"):
        TargetNetwork.from_model(keras.Model(inputs, outputs))
