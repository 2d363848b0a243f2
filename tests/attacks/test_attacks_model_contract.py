"""Any callable from images to logits is attacked the same way: Keras 3 models, tf.functions."""
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.attacks import fgsm, pgd


def test_keras3_model_is_attacked_like_the_tf_keras_model(trained_cnn, small_batch, accuracy):
    import keras  # the one place Keras 3 is imported: to check that attacks accept its models

    layers = keras.layers
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(16, 5, strides=2, padding="same", activation="relu"),
        layers.Conv2D(32, 5, strides=2, padding="same", activation="relu"),
        layers.Flatten(), layers.Dense(64, activation="relu"), layers.Dense(10)])
    model.set_weights(trained_cnn.get_weights())
    x, y = small_batch
    reference = np.asarray(fgsm(trained_cnn, x, y, eps=0.1))
    got = np.asarray(fgsm(model, x, y, eps=0.1))
    assert np.mean(np.abs(got - reference) > 1e-6) < 1e-3
    kwargs = dict(eps=0.1, step_size=0.02, steps=10, seed=0)
    acc_keras3 = accuracy(trained_cnn, pgd(model, x, y, **kwargs), y)
    assert abs(acc_keras3 - accuracy(trained_cnn, pgd(trained_cnn, x, y, **kwargs), y)) <= 1 / len(y) + 1e-9
    assert acc_keras3 < 0.5


def test_plain_tf_function_is_accepted(trained_cnn, small_batch, accuracy):
    x, y = small_batch
    function = tf.function(lambda images: trained_cnn(images, training=False))
    np.testing.assert_allclose(np.asarray(fgsm(function, x, y, eps=0.1)),
                               np.asarray(fgsm(trained_cnn, x, y, eps=0.1)), atol=1e-6)
    x_adv = pgd(function, x, y, eps=0.1, step_size=0.02, steps=10, seed=0)
    assert accuracy(trained_cnn, x_adv, y) < 0.5


def test_declared_input_shapes_of_keras3_models_and_concrete_functions_are_checked(trained_cnn, small_batch):
    """Wrong-rank images are refused before the first call for every kind of model that declares a shape."""
    import keras  # Keras 3, only to check that its models' input shapes are read

    x, y = small_batch
    keras3_model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    concrete = tf.function(lambda images: trained_cnn(images, training=False)).get_concrete_function(
        tf.TensorSpec([None, 28, 28, 1], tf.float32))
    for model in (keras3_model, concrete):
        assert np.asarray(fgsm(model, x[:4], y[:4], eps=0.1)).shape == (4, 28, 28, 1)
        with pytest.raises(ValueError, match=r"lack the channel axis"):
            fgsm(model, x[:4, ..., 0], y[:4], eps=0.1)
