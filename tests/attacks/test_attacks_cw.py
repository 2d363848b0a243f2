"""Carlini & Wagner L2: the exact distance of an affine model, confidence kappa, the search over c, targets."""
import numpy as np
import pytest

from tfrobust.attacks import carlini_wagner_l2
from tfrobust.attacks.cw import next_constant


@pytest.fixture(scope="module")
def affine_case(linear_model):
    model, weights, bias = linear_model
    x = np.random.default_rng(5).uniform(0.4, 0.6, size=(8, 4, 4, 1)).astype(np.float32)
    logits = x.reshape(8, -1).astype(np.float64) @ weights + bias
    labels = np.argmax(logits, axis=1)
    exact = np.full(8, np.inf)
    for i, k0 in enumerate(labels):
        for k in range(10):
            if k != k0:
                w = weights[:, k] - weights[:, k0]
                exact[i] = min(exact[i], abs(logits[i, k] - logits[i, k0]) / np.linalg.norm(w))
    return model, weights, bias, x, labels, exact


def test_affine_model_reaches_exact_l2_distance(affine_case):
    model, _, _, x, labels, exact = affine_case
    result = carlini_wagner_l2(model, x, labels, bounds=(-2.0, 3.0), search_steps=4, steps=200, learning_rate=0.01,
                               initial_const=10.0)
    assert result.success.all()
    assert np.all(result.norms >= exact * (1 - 1e-4))  # nothing beats the true minimum
    np.testing.assert_allclose(result.norms, exact, rtol=0.03)


def test_confidence_buys_a_margin_at_a_larger_norm(affine_case):
    model, weights, bias, x, labels, exact = affine_case
    kappa = 2.0
    result = carlini_wagner_l2(model, x, labels, bounds=(-2.0, 3.0), confidence=kappa, search_steps=4, steps=200,
                               learning_rate=0.01, initial_const=10.0)
    assert result.success.all()
    z = np.asarray(result.x_adv).reshape(8, -1).astype(np.float64) @ weights + bias
    true = z[np.arange(8), labels]
    other = np.where(np.eye(10, dtype=bool)[labels], -np.inf, z).max(axis=1)
    assert np.all(other - true >= kappa - 1e-3)
    assert np.all(result.norms > exact * 1.05)


def test_binary_search_over_c():
    c = np.array([1.0, 1.0, 0.5], np.float32)
    lower, upper = np.zeros(3, np.float32), np.full(3, 1e10, np.float32)
    found = np.array([True, False, True])
    c, lower, upper = next_constant(c, found, lower, upper)
    np.testing.assert_allclose(c, [0.5, 10.0, 0.25])  # success: halve towards 0; failure: x10 until bracketed
    c, lower, upper = next_constant(c, np.array([False, True, False]), lower, upper)
    np.testing.assert_allclose(c, [0.75, 5.5, 0.375])  # bracketed: midpoints


def test_targeted_reaches_targets_and_failures_come_back_unchanged(trained_cnn, test_batch):
    x, y = test_batch[0][::20], test_batch[1][::20]
    target = (y + 5) % 10
    result = carlini_wagner_l2(trained_cnn, x, target, targeted=True, search_steps=2, steps=60, learning_rate=0.05,
                               initial_const=1.0)
    reached = np.argmax(trained_cnn(result.x_adv), axis=1) == target
    np.testing.assert_array_equal(reached, result.success)
    assert result.success.mean() >= 0.7
    np.testing.assert_array_equal(np.asarray(result.x_adv)[~result.success], x[~result.success])


def test_bad_settings_are_refused(affine_case):
    model, _, _, x, labels, _ = affine_case
    with pytest.raises(ValueError, match="norm"):
        carlini_wagner_l2(model, x, labels, norm="linf")
    with pytest.raises(ValueError, match="confidence"):
        carlini_wagner_l2(model, x, labels, confidence=-1.0)
    with pytest.raises(ValueError, match="initial_const"):
        carlini_wagner_l2(model, x, labels, initial_const=0.0)
