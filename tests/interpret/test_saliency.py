"""Saliency maps: closed forms on a linear model, completeness of integrated gradients on a trained CNN."""
import numpy as np
import pytest

from tfrobust.interpret import (integrated_gradients, mask_correlation, saliency_mass_on_object, smoothgrad,
                                vanilla_gradient)


@pytest.fixture(scope="module")
def linear():
    import tf_keras as keras
    rng = np.random.default_rng(7)
    weights = rng.normal(size=(16, 10)).astype(np.float32)
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.layers[-1].set_weights([weights, rng.normal(size=(10,)).astype(np.float32)])
    return model, weights


def test_gradients_of_a_linear_model_are_its_weight_columns(linear):
    model, weights = linear
    x = np.random.default_rng(0).uniform(size=(3, 4, 4, 1)).astype(np.float32)
    classes = np.array([1, 4, 9])
    want = weights[:, classes].T.reshape(x.shape)
    np.testing.assert_allclose(vanilla_gradient(model, x, classes), want, rtol=1e-5)
    # the gradient is constant, so the noisy average is the same map
    np.testing.assert_allclose(smoothgrad(model, x, classes, samples=5), want, rtol=1e-4, atol=1e-6)
    # integrated gradients from black: x * w, exact for any number of steps
    np.testing.assert_allclose(integrated_gradients(model, x, classes, steps=2), x * want, rtol=1e-4, atol=1e-6)


def test_integrated_gradients_are_complete_on_the_trained_cnn(trained_cnn, test_batch):
    x, y = test_batch
    attributions, score_x, score_base = integrated_gradients(trained_cnn, x[::20], y[::20], steps=128,
                                                             return_scores=True)
    total = attributions.reshape(len(attributions), -1).sum(axis=1)
    np.testing.assert_allclose(total, score_x - score_base, rtol=0.01)
    assert np.all(np.abs(score_x - score_base) > 1.0)  # a non-trivial difference to be complete about


def test_image_likeness_numbers():
    x = np.zeros((2, 4, 4, 1), np.float32)
    x[:, 1:3, 1:3] = 1.0  # a 2x2 "digit": 4 of 16 pixels
    np.testing.assert_allclose(saliency_mass_on_object(x, x), [1.0, 1.0])
    np.testing.assert_allclose(saliency_mass_on_object(np.ones_like(x), x), [0.25, 0.25])
    np.testing.assert_allclose(mask_correlation(x, x), [1.0, 1.0])
    np.testing.assert_allclose(mask_correlation(1.0 - x, x), [-1.0, -1.0])
    with pytest.raises(ValueError, match="same shape"):
        saliency_mass_on_object(x[:, :2], x)
