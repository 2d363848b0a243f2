"""Normalize layer: (x - mean) / std per channel against numpy, no parameters, clear errors."""
import numpy as np
import pytest
import tf_keras as keras

from tfrobust.models import Normalize, default_normalization


def test_normalize_matches_numpy_per_channel():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(3, 5, 4, 3)).astype(np.float32)
    mean, std = (0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616)
    out = Normalize(mean, std)(x).numpy()
    expected = (x - np.array(mean, np.float32)) / np.array(std, np.float32)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    # Channel 0 and channel 2 are standardised differently: a broadcast over the wrong axis would fail here.
    assert not np.allclose(out[..., 0], out[..., 2])


def test_normalize_scalar_stats_and_zero_parameters():
    x = np.linspace(0, 1, 28 * 28, dtype=np.float32).reshape(1, 28, 28, 1)
    layer = Normalize(0.1307, 0.3081)
    np.testing.assert_allclose(layer(x).numpy(), (x - 0.1307) / 0.3081, rtol=1e-6)
    assert layer.count_params() == 0 and not layer.weights


def test_normalize_config_round_trip():
    layer = Normalize([0.5, 0.25, 0.0], [0.5, 1.0, 2.0], name="norm")
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    assert isinstance(clone, Normalize)
    assert clone.mean == (0.5, 0.25, 0.0) and clone.std == (0.5, 1.0, 2.0)


@pytest.mark.parametrize("mean, std, match", [
    (0.0, 0.0, "std must be > 0"),
    (0.0, [1.0, -1.0, 1.0], "std must be > 0"),
    (float("nan"), 1.0, "finite"),
    ([], 1.0, "empty"),
])
def test_normalize_rejects_bad_stats(mean, std, match):
    with pytest.raises(ValueError, match=match):
        Normalize(mean, std)


def test_normalize_rejects_channel_mismatch():
    with pytest.raises(ValueError, match="2 values but the input has 3 channels"):
        Normalize([0.1, 0.2], 1.0)(np.zeros((1, 2, 2, 3), np.float32))


def test_default_normalization_rule():
    assert default_normalization((28, 28, 1)) == ((0.1307,), (0.3081,))
    assert default_normalization((32, 32, 3))[0] == (0.4914, 0.4822, 0.4465)
    assert default_normalization((64, 64, 3))[0] == (0.485, 0.456, 0.406)
    assert default_normalization((8, 8, 5)) == ((0.0,), (1.0,))
