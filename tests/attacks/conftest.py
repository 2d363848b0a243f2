"""Fixtures for the attack tests: a linear model with known gradients and an accuracy helper."""
import numpy as np
import pytest
import tf_keras as keras


def _accuracy(model, x, y) -> float:
    return float(np.mean(np.argmax(np.asarray(model(x, training=False)), axis=1) == np.asarray(y)))


@pytest.fixture(scope="session")
def accuracy():
    """Top-1 accuracy of a Keras model on (x, y) in inference mode: ``accuracy(model, x, y)``."""
    return _accuracy


@pytest.fixture(scope="module")
def linear_model():
    """A Dense-only model on 4x4x1 images with fixed random weights, and those weights (W, b)."""
    rng = np.random.default_rng(7)
    weights = rng.normal(size=(16, 10)).astype(np.float32)
    bias = rng.normal(size=(10,)).astype(np.float32)
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.layers[-1].set_weights([weights, bias])
    return model, weights.astype(np.float64), bias.astype(np.float64)


@pytest.fixture(scope="module")
def small_batch(test_batch):
    """100 of the 200 test digits (10 per class), float32 images and int64 labels."""
    x, y = test_batch
    return x[::2], y[::2]
