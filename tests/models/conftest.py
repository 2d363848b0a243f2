"""Fixtures shared by the model-zoo tests."""
import numpy as np
import pytest
import tf_keras as keras


def _assert_round_trip(model, x, path):
    """Saves ``model`` to a .keras file, loads it, and checks layers, weights and outputs are identical."""
    model.save(path)
    loaded = keras.models.load_model(path)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    for saved, restored in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(saved.numpy(), restored.numpy())
    np.testing.assert_allclose(loaded(x, training=False).numpy(), model(x, training=False).numpy(),
                               rtol=0, atol=1e-6)
    return loaded


@pytest.fixture
def assert_round_trip():
    """``assert_round_trip(model, x, path) -> loaded model``."""
    return _assert_round_trip
