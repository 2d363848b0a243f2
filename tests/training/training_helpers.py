"""Helpers shared by the training tests (imported by their test modules and conftest)."""
import numpy as np
import tf_keras as keras


def small_cnn(batch_norm: bool = False, seed: int = 0):
    """The conftest ``trained_cnn`` architecture (Conv16-5-s2, Conv32-5-s2, FC64, FC10), optional BN."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((28, 28, 1))
    h = keras.layers.Conv2D(16, 5, strides=2, padding="same", activation=None if batch_norm else "relu")(inputs)
    if batch_norm:
        h = keras.layers.ReLU()(keras.layers.BatchNormalization()(h))
    h = keras.layers.Conv2D(32, 5, strides=2, padding="same", activation="relu")(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(64, activation="relu")(h)
    return keras.Model(inputs, keras.layers.Dense(10)(h))


def accuracy(model, x, y) -> float:
    return float(np.mean(np.argmax(model.predict(x, batch_size=500, verbose=0), axis=1) == y))


def pgd_accuracy(model, x, y, *, eps, steps=20, step_size=None) -> float:
    """PGD-``steps`` accuracy (L-inf, CE, one random start), step 2.5 eps / steps (Madry et al.)."""
    from tfrobust.attacks import pgd

    step_size = 2.5 * eps / steps if step_size is None else step_size
    x_adv = pgd(model, x, y, eps=eps, step_size=step_size, steps=steps, seed=0)
    return accuracy(model, np.asarray(x_adv), y)
