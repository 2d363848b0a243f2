"""Fixtures shared by the training tests: a stratified mnist5k subset and a high-temperature model."""
import numpy as np
import pytest
import tf_keras as keras
from training_helpers import small_cnn

from tfrobust.training import TemperatureModel


@pytest.fixture(scope="session")
def train_subset(mnist5k):
    """1,500 mnist5k training digits (150 per class), shuffled (the split is sorted by class)."""
    x_train, y_train, _, _ = mnist5k
    rng = np.random.default_rng(0)
    idx = rng.permutation(np.concatenate([np.flatnonzero(y_train == c)[:150] for c in range(10)]))
    return x_train[idx], y_train[idx]


@pytest.fixture(scope="session")
def temperature_50(train_subset):
    """TemperatureModel at T = 50 trained 5 epochs on the subset (the distillation teacher too)."""
    x, y = train_subset
    model = TemperatureModel(small_cnn(seed=1), temperature=50.0)
    model.compile(keras.optimizers.Adam(2e-3))
    model.fit(x, y, batch_size=100, epochs=5, verbose=0)
    return model
