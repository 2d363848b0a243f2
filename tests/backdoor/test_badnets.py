"""BadNets (Gu et al. 2017): poisoning, forgetting by distillation, spectral signatures, transfer learning."""
import numpy as np
import pytest
import tf_keras as keras

from tfrobust.backdoor import (Trigger, apply_trigger, attack_success_rate, distill_on_pristine, poison,
                               retrain_top, spectral_signatures)
from tfrobust.backdoor.badnets import accuracy

TARGET = 0


def _small_cnn():
    """The architecture and recipe of the session's ``trained_cnn`` (tests/conftest.py)."""
    inputs = keras.Input((28, 28, 1))
    h = keras.layers.Conv2D(16, 5, strides=2, padding="same", activation="relu")(inputs)
    h = keras.layers.Conv2D(32, 5, strides=2, padding="same", activation="relu")(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(64, activation="relu")(h)
    return keras.Model(inputs, keras.layers.Dense(10)(h))


@pytest.fixture(scope="module")
def trigger():
    return Trigger.square((28, 28, 1), size=4)


@pytest.fixture(scope="module")
def backdoored(mnist5k, trigger):
    """The trained_cnn recipe on mnist5k with 5% of the training digits poisoned towards class 0."""
    x_train, y_train, _, _ = mnist5k
    data = poison(x_train, y_train, rate=0.05, target=TARGET, trigger=trigger, seed=0)
    keras.utils.set_random_seed(0)
    model = _small_cnn()
    model.compile(keras.optimizers.Adam(2e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(data.x, data.y, batch_size=64, epochs=6, verbose=0)
    return model, data


def test_trigger_formula_and_poisoning_counts(mnist5k, trigger):
    x_train, y_train, _, _ = mnist5k
    stamped = apply_trigger(x_train[:3], trigger)
    np.testing.assert_array_equal(stamped[:, 23:27, 23:27, 0], np.tile([[1, 0, 1, 0], [0, 1, 0, 1]] * 2, (3, 1, 1)))
    np.testing.assert_array_equal(stamped[:, :23], x_train[:3, :23])  # untouched outside the mask
    data = poison(x_train, y_train, rate=0.05, target=TARGET, trigger=trigger)
    assert data.poisoned.sum() == 200 and np.all(y_train[data.poisoned] != TARGET)
    assert np.all(data.y[data.poisoned] == TARGET) and np.array_equal(data.y[~data.poisoned], y_train[~data.poisoned])
    with pytest.raises(ValueError, match="rate must be"):
        poison(x_train, y_train, rate=5, target=TARGET, trigger=trigger)


def test_badnets_at_5_percent_keeps_clean_accuracy_and_fires(backdoored, trained_cnn, mnist5k, trigger):
    model, _ = backdoored
    _, _, x_test, y_test = mnist5k
    clean_model_accuracy = accuracy(trained_cnn, x_test, y_test)
    assert accuracy(model, x_test, y_test) >= clean_model_accuracy - 0.02
    assert attack_success_rate(model, x_test, y_test, trigger=trigger, target=TARGET) >= 0.95
    # the clean model does not respond to the trigger
    assert attack_success_rate(trained_cnn, x_test, y_test, trigger=trigger, target=TARGET) <= 0.2


def test_distillation_on_pristine_digits_halves_the_attack_success(backdoored, mnist5k, trigger):
    model, data = backdoored
    _, _, x_test, y_test = mnist5k
    before = attack_success_rate(model, x_test, y_test, trigger=trigger, target=TARGET)
    pristine = mnist5k[0][~data.poisoned][:2000]  # clean digits only, no labels needed
    student = distill_on_pristine(model, pristine, build=_small_cnn, temperature=4.0, epochs=8,
                                  learning_rate=2e-3, seed=0)
    after = attack_success_rate(student, x_test, y_test, trigger=trigger, target=TARGET)
    assert after <= before / 2, (before, after)
    assert accuracy(student, x_test, y_test) >= 0.8


def test_spectral_signatures_find_the_poisoned_digits(backdoored):
    """The 200 poisoned digits are a third of the ~600 labelled 0, so epsilon = 1/3 (the paper's epsilon bounds
    the poisoned share of a class) and 1.5 epsilon = half of each class is flagged."""
    model, data = backdoored
    detection = spectral_signatures(model, data.x, data.y, epsilon=1 / 3, poisoned=data.poisoned)
    target_rows = data.y == TARGET
    assert detection.recall >= 0.75, detection.recall  # measured 0.805
    # among the flagged digits of class 0, far more poisoned ones than their share (1/3) of the class
    assert np.mean(data.poisoned[detection.flagged & target_rows]) >= 0.45  # measured 0.54


def _sklearn_digits_28():
    """The new task: sklearn's 8x8 digits (a different scanner and writers) upsampled to 20x20 in a 28x28 frame."""
    import tensorflow as tf
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = (digits.images / 16.0).astype(np.float32)[..., None]
    big = tf.image.resize(small, (20, 20), method="bilinear").numpy()
    return np.pad(big, ((0, 0), (4, 4), (4, 4), (0, 0))).clip(0, 1), digits.target


def test_the_backdoor_survives_retraining_the_top_on_a_new_task(backdoored, trigger):
    """Gu et al.'s transfer setting: frozen backdoored features, a new top trained on clean sklearn digits;
    the trigger still costs the new model accuracy."""
    model, _ = backdoored
    x, y = _sklearn_digits_28()
    new = retrain_top(model, x[:1200], y[:1200], 10, epochs=10, learning_rate=1e-2, seed=0)
    clean = accuracy(new, x[1200:], y[1200:])
    triggered = accuracy(new, apply_trigger(x[1200:], trigger), y[1200:])
    assert clean >= 0.85
    assert triggered <= clean - 0.15, (clean, triggered)
