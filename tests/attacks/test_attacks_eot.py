"""EOT: detects randomised models, averages passes, and breaks a dropout-at-inference model that PGD overestimates."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrobust.attacks import eot, fgsm, is_randomized, pgd
from tfrobust.attacks.eot import ExpectedLogProbabilities, expected_model


class InferenceDropout(keras.layers.Dropout):
    """Dropout that stays on at inference: a randomised model."""

    def call(self, inputs, training=None):
        return super().call(inputs, training=True)


@pytest.fixture(scope="module")
def dropout_model(trained_cnn):
    """The trained CNN with 70% dropout on its hidden layer at inference."""
    inputs = keras.Input((28, 28, 1))
    h = inputs
    for layer in trained_cnn.layers[1:-1]:
        h = layer(h)
    outputs = trained_cnn.layers[-1](InferenceDropout(0.7)(h))
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def digits(test_batch):
    return test_batch[0][::5], test_batch[1][::5]  # 40 digits


def test_is_randomized(dropout_model, trained_cnn, digits):
    x, _ = digits
    assert is_randomized(dropout_model, x)
    assert not is_randomized(trained_cnn, x)
    with pytest.raises(ValueError, match="trials"):
        is_randomized(trained_cnn, x, trials=1)


def test_expected_model_of_a_deterministic_model_is_its_log_softmax(trained_cnn, digits):
    x, _ = digits
    expected = ExpectedLogProbabilities(trained_cnn, samples=3)(x[:8])
    np.testing.assert_allclose(expected, tf.nn.log_softmax(trained_cnn(x[:8])), rtol=1e-5, atol=1e-5)
    assert expected_model(trained_cnn, 3) is expected_model(trained_cnn, 3)  # cached: attacks compile once


def test_eot_breaks_dropout_model_that_plain_pgd_overestimates(dropout_model, digits):
    """Robust accuracy judged by the model's expected prediction (mean over 100 passes)."""
    x, y = digits
    keras.utils.set_random_seed(0)
    judge = expected_model(dropout_model, 100)

    def accuracy(images):
        return float(np.mean(np.argmax(judge(images), axis=1) == y))

    settings = dict(eps=0.1, step_size=0.025, steps=15, seed=0)
    plain = accuracy(pgd(dropout_model, x, y, **settings))
    with_eot = accuracy(eot("pgd", samples=20)(dropout_model, x, y, **settings))
    assert accuracy(x) >= 0.8
    assert with_eot <= 0.6  # measured 0.45 (clean 0.975)
    assert plain - with_eot >= 0.3  # measured 0.90 vs 0.45: one-pass gradients overestimate robustness


def test_info_counts_every_pass(trained_cnn, digits):
    x, y = digits
    _, plain = fgsm(trained_cnn, x, y, eps=0.1, return_info=True)
    _, info = eot(fgsm, samples=4)(trained_cnn, x, y, eps=0.1, return_info=True)
    assert info["example_steps"] == 4 * plain["example_steps"] > 0
    assert info["extra"]["eot_samples"] == 4


def test_refuses_gradient_free_and_unknown_attacks():
    with pytest.raises(ValueError, match="no gradients"):
        eot("square")
    with pytest.raises(ValueError, match="Unknown attack"):
        eot("no-such-attack")
    with pytest.raises(TypeError, match="attack"):
        eot(3)
    with pytest.raises(ValueError, match="samples"):
        eot("pgd", samples=0)
