"""FGSM against the analytic gradient of a linear model, and its strength on the trained CNN."""
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.attacks import fgsm, rfgsm


def _ce_input_gradient(weights, bias, x, labels):
    """d CE(softmax(W^T x + b), labels) / d x = W (softmax - onehot), in float64 numpy."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    logits = flat @ weights + bias
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    return (probs - np.eye(weights.shape[1])[labels]) @ weights.T


@pytest.fixture(scope="module")
def linear_inputs():
    rng = np.random.default_rng(1)
    x = rng.uniform(0.2, 0.8, size=(32, 4, 4, 1)).astype(np.float32)
    y = rng.integers(0, 10, size=32)
    return x, y


@pytest.mark.parametrize("targeted", [False, True])
def test_linf_fgsm_equals_analytic_sign_of_gradient(linear_model, linear_inputs, targeted):
    model, weights, bias = linear_model
    x, y = linear_inputs
    eps = 0.05
    grad = _ce_input_gradient(weights, bias, x, y)
    expected = (-eps if targeted else eps) * np.sign(grad)
    got = (np.asarray(fgsm(model, x, y, eps=eps, targeted=targeted)) - x).reshape(len(x), -1)
    clear = np.abs(grad) > 1e-5  # float32 may round a vanishing gradient component either way
    assert clear.mean() > 0.99
    np.testing.assert_allclose(got[clear], expected[clear], atol=1e-6)


def test_l2_fgsm_equals_normalised_gradient(linear_model, linear_inputs):
    model, weights, bias = linear_model
    x, y = linear_inputs
    eps = 0.3
    grad = _ce_input_gradient(weights, bias, x, y)
    expected = eps * grad / np.linalg.norm(grad, axis=1, keepdims=True)
    got = (np.asarray(fgsm(model, x, y, eps=eps, norm="l2")) - x).reshape(len(x), -1)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_rfgsm_matches_its_two_steps_on_linear_model(linear_model, linear_inputs):
    """delta = alpha*s1 + (eps - alpha)*s2 with s1 = sign(noise), s2 = sign(grad at x + alpha*s1):
    every coordinate moves by eps (s1 = s2) or eps - 2*alpha (s1 = -s2), in the direction s2."""
    model, weights, bias = linear_model
    x, y = linear_inputs
    eps, alpha = 0.1, 0.04
    delta = (np.asarray(rfgsm(model, x, y, eps=eps, alpha=alpha, seed=0)) - x).reshape(len(x), -1)
    full = np.isclose(np.abs(delta), eps, atol=1e-6)
    partial = np.isclose(np.abs(delta), eps - 2 * alpha, atol=1e-6)
    assert np.all(full | partial)
    assert 0.3 < full.mean() < 0.7  # the random signs agree with the gradient about half the time
    s2 = np.sign(delta)
    x_random = x.reshape(len(x), -1) + alpha * np.where(full, s2, -s2)
    grad = _ce_input_gradient(weights, bias, x_random, y)
    clear = np.abs(grad) > 1e-5
    np.testing.assert_array_equal(s2[clear], np.sign(grad)[clear])


def test_fgsm_lowers_accuracy_and_targeted_fgsm_moves_towards_target(trained_cnn, test_batch, accuracy):
    x, y = test_batch
    clean = accuracy(trained_cnn, x, y)
    assert accuracy(trained_cnn, fgsm(trained_cnn, x, y, eps=0.2), y) < clean - 0.4
    target = (y + 1) % 10
    x_adv = fgsm(trained_cnn, x, target, eps=0.3, targeted=True)
    log_p = tf.nn.log_softmax(trained_cnn(x, training=False)).numpy()[np.arange(len(y)), target]
    log_p_adv = tf.nn.log_softmax(trained_cnn(x_adv, training=False)).numpy()[np.arange(len(y)), target]
    assert np.mean(log_p_adv > log_p) > 0.95
    reached = np.mean(np.argmax(trained_cnn(x_adv, training=False), axis=1) == target)
    assert reached > 0.4  # chance is 0.1 and the clean model predicts the target ~1%
