"""plot_activations / log_activations draw the KAF functions the layers compute."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrobust.layers import KAF, find_layers
from tfrobust.plotting import plot_activations
from tfrobust.tensorboard import log_activations


@pytest.fixture(scope="module")
def kaf_model():
    inputs = keras.Input((5, 5, 1))
    h = KAF(init="relu", name="kaf_a")(keras.layers.Conv2D(3, 3)(inputs))
    h = KAF(trainable_dictionary=True, name="kaf_b")(keras.layers.Conv2D(6, 3)(h))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(h)))
    rng = np.random.default_rng(0)
    for layer in find_layers(model, KAF):
        layer.alpha.assign(rng.normal(size=layer.alpha.shape))
    return model


def test_plot_activations_draws_each_channel_and_the_mean(kaf_model):
    fig = plot_activations(kaf_model, x_range=(-2, 2), max_channels=2, num_samples=41)
    assert [ax.get_title().split(":")[0] for ax in fig.axes] == ["kaf_a", "kaf_b"]
    s = np.linspace(-2, 2, 41)
    dictionary = np.linspace(-3, 3, 20)
    gamma = 1 / (6 * (dictionary[1] - dictionary[0]) ** 2)
    gaussians = np.exp(-gamma * (s[:, None] - dictionary) ** 2)  # (41, 20)
    for ax, layer in zip(fig.axes, find_layers(kaf_model, KAF)):
        expected = gaussians @ layer.alpha.numpy().T  # (41, channels)
        lines = ax.get_lines()
        np.testing.assert_allclose(lines[0].get_ydata(), expected[:, 0], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(lines[1].get_ydata(), expected[:, 1], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(lines[2].get_ydata(), expected.mean(axis=1), rtol=1e-5, atol=1e-5)


def test_log_activations_writes_a_png_image(kaf_model, tmp_path):
    log_activations(str(tmp_path), kaf_model, step=3)
    images = []
    for event_file in tmp_path.iterdir():
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            for value in event.summary.value:
                if value.tag == "kaf_activations":
                    images.append((event.step, tf.make_ndarray(value.tensor)))
    assert len(images) == 1 and images[0][0] == 3
    png = tf.image.decode_png(images[0][1][2])  # [width, height, encoded image]
    assert png.shape[0] > 100 and png.shape[1] > 200


def test_plot_activations_needs_kaf_layers():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="relu")])
    with pytest.raises(ValueError, match="no KAF layer"):
        plot_activations(model)
