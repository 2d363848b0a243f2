"""Shared pytest fixtures: small real data and one trained CNN, built once per session."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The same oneDNN CPU kernels on every x86 host (on by default only on some): see tfrobust/__init__.py.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
# pytest -n 2 runs two workers on the two cores: one TensorFlow thread pool thread each keeps them from
# contending (measured on tests/attacks, 2 idle cores: 59.8 s -> 54.3 s, user time 110 s -> 102 s).
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrobust.data.mnist5k import load_mnist5k


@pytest.fixture(scope="session")
def mnist5k():
    """(x_train, y_train, x_test, y_test) numpy arrays of mnist5k."""
    x_train, y_train = load_mnist5k("train")
    x_test, y_test = load_mnist5k("test")
    return x_train, y_train, x_test, y_test


def _small_cnn(softmax: bool = False):
    inputs = keras.Input((28, 28, 1))
    h = keras.layers.Conv2D(16, 5, strides=2, padding="same", activation="relu")(inputs)
    h = keras.layers.Conv2D(32, 5, strides=2, padding="same", activation="relu")(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(64, activation="relu")(h)
    outputs = keras.layers.Dense(10, activation="softmax" if softmax else None)(h)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="session")
def trained_cnn(mnist5k):
    """A small CNN (logits output) trained on mnist5k train; ~96-97% test accuracy."""
    x_train, y_train, _, _ = mnist5k
    keras.utils.set_random_seed(0)
    model = _small_cnn()
    model.compile(keras.optimizers.Adam(2e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=64, epochs=6, verbose=0)
    return model


@pytest.fixture(scope="session")
def trained_cnn_softmax(trained_cnn):
    """The same trained CNN with a softmax on its output (outputs probabilities)."""
    model = _small_cnn(softmax=True)
    model.set_weights(trained_cnn.get_weights())
    return model


@pytest.fixture(scope="session")
def test_batch(mnist5k):
    """200 mnist5k test digits (20 per class), float32 in [0, 1], int64 labels."""
    _, _, x_test, y_test = mnist5k
    idx = np.concatenate([np.flatnonzero(y_test == c)[:20] for c in range(10)])
    return x_test[idx], y_test[idx]
