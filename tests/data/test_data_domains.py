"""The offline domains of the DANN study: MNIST-M-style blends and upsampled scikit-learn digits."""
import numpy as np
import pytest

from tfrobust.data.mnist5k import load_mnist5k
from tfrobust.data.mnist_m import blend, load_mnist_m, random_patches
from tfrobust.data.sklearn_digits import load_sklearn_digits, upsample


def test_mnist_m_is_the_difference_blend_of_mnist5k_and_photo_patches():
    x, y = load_mnist_m("test")
    digits, labels = load_mnist5k("test")
    assert x.shape == (1000, 28, 28, 3) and x.dtype == np.float32
    np.testing.assert_array_equal(y, labels)
    patches = random_patches(1000, seed=2)
    np.testing.assert_allclose(x, np.abs(patches - digits), atol=1e-7)
    # Real photographs: colour (channels differ) and texture (patches differ from one another).
    assert np.mean(np.abs(patches[..., 0] - patches[..., 1])) > 0.02
    assert patches.std(axis=(1, 2, 3)).mean() > 0.05
    np.testing.assert_allclose(blend(np.ones((1, 2, 2, 1)), np.full((1, 2, 2, 3), 0.25)), 0.75)
    with pytest.raises(ValueError, match="train"):
        load_mnist_m("validation")


def test_sklearn_digits_are_upsampled_into_mnists_20_pixel_box():
    x, y = load_sklearn_digits("train")
    xt, yt = load_sklearn_digits("test")
    assert x.shape[1:] == (28, 28, 1) and len(x) + len(xt) == 1797
    assert set(np.unique(yt)) == set(range(10))
    assert x[:, :4].max() == 0 and x[:, 24:].max() == 0  # 4-pixel frame, as MNIST
    const = upsample(np.full((1, 8, 8), 0.5))
    np.testing.assert_allclose(const[0, 4:24, 4:24, 0], 0.5, atol=1e-6)  # bilinear keeps a constant image
    with pytest.raises(ValueError, match="train"):
        load_sklearn_digits("all")
