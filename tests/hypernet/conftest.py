"""Fixtures of the hypernet tests: a LeNet-5 (seed 000) trained briefly on mnist5k, and its target network."""
import pytest
import tf_keras as keras

from tfrobust import models
from tfrobust.hypernet import TargetNetwork


@pytest.fixture(scope="session")
def trained_lenet5(mnist5k):
    """The seed-000 LeNet-5 trained for 3 epochs on mnist5k train (about 95% test accuracy)."""
    x_train, y_train, _, _ = mnist5k
    keras.utils.set_random_seed(0)
    model = models.build("lenet5", (28, 28, 1), 10)
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=64, epochs=3, verbose=0)
    return model


@pytest.fixture(scope="session")
def lenet5_target(trained_lenet5):
    return TargetNetwork.from_model(trained_lenet5)
