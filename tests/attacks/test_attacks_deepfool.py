"""DeepFool: exact distance to the boundary of an affine model, the box-constrained step, the CNN, targets."""
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.attacks import deepfool, deepfool_step


def _analytic_distance(weights, bias, x, labels, norm):
    """min_{k != y} |w'_k^T x + b'_k| / ||w'_k||_q, computed in float64 numpy (q = 2 for L2, 1 for L-inf)."""
    z = x.reshape(len(x), -1).astype(np.float64) @ weights + bias
    out = np.full(len(x), np.inf)
    for i, k0 in enumerate(labels):
        for k in range(weights.shape[1]):
            if k == k0:
                continue
            w = weights[:, k] - weights[:, k0]
            dual = np.linalg.norm(w) if norm == "l2" else np.abs(w).sum()
            out[i] = min(out[i], abs(z[i, k] - z[i, k0]) / dual)
    return out


@pytest.fixture(scope="module")
def linear_points(linear_model):
    model, weights, bias = linear_model
    x = np.random.default_rng(0).uniform(0.3, 0.7, size=(12, 4, 4, 1)).astype(np.float32)
    labels = np.argmax(x.reshape(12, -1) @ weights + bias, axis=1)
    return x, labels


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_linear_model_norm_is_overshoot_times_analytic_distance(norm, linear_model, linear_points):
    """On an affine model one DeepFool step is exact: ||x_adv - x|| = 1.02 |w'^T x + b'| / ||w'||_q."""
    model, weights, bias = linear_model
    x, labels = linear_points
    result = deepfool(model, x, labels, norm=norm, bounds=(-50.0, 50.0))
    expected = 1.02 * _analytic_distance(weights, bias, x, labels, norm)
    np.testing.assert_allclose(result.norms, expected, rtol=1e-4)
    np.testing.assert_array_equal(result.info["iterations"], np.ones(len(x)))
    assert np.all(np.argmax(model(result.x_adv), axis=1) != labels)


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_step_inside_box_lands_on_the_linear_boundary(norm, linear_model):
    """With pixels at the box faces, the step stays inside [0, 1], reaches the nearest linearised boundary exactly
    and is at least as long as the unconstrained distance."""
    model, weights, bias = linear_model
    rng = np.random.default_rng(1)
    x = rng.choice([0.0, 1.0, 0.5], size=(8, 4, 4, 1)).astype(np.float32)
    labels = np.argmax(x.reshape(8, -1) @ weights + bias, axis=1)
    r, fooled = deepfool_step(model, x, labels, norm=norm)
    assert not np.any(fooled.numpy())
    moved = (x + r.numpy()).reshape(8, -1).astype(np.float64)
    assert moved.min() >= -1e-6 and moved.max() <= 1 + 1e-6
    z = moved @ weights + bias
    z_true = z[np.arange(8), labels]
    z_other = np.where(np.eye(10, dtype=bool)[labels], -np.inf, z).max(axis=1)
    # on the boundary (the box may make it unreachable for some: then the gap must have shrunk)
    gap_before = (x.reshape(8, -1) @ weights + bias)[np.arange(8), labels] - np.where(
        np.eye(10, dtype=bool)[labels], -np.inf, x.reshape(8, -1) @ weights + bias).max(axis=1)
    assert np.all(z_true - z_other < gap_before)
    assert np.sum(np.abs(z_true - z_other) < 1e-3) >= 4
    sizes = np.linalg.norm(r.numpy().reshape(8, -1), axis=1) if norm == "l2" else np.abs(r.numpy()).reshape(8, -1).max(1)
    assert np.all(sizes >= _analytic_distance(weights, bias, x, labels, norm) * (1 - 1e-4))


def test_targeted_reaches_target_on_linear_model(linear_model, linear_points):
    model, _, _ = linear_model
    x, labels = linear_points
    target = (labels + 3) % 10
    result = deepfool(model, x, target, targeted=True, bounds=(-50.0, 50.0))
    assert result.success.all()
    np.testing.assert_array_equal(np.argmax(model(result.x_adv), axis=1), target)


def test_breaks_cnn_digits_in_few_steps(trained_cnn, test_batch):
    x, y = test_batch[0][::10], test_batch[1][::10]
    result = deepfool(trained_cnn, x, y, norm="l2", steps=5)
    assert result.success.all()
    assert np.all(np.argmax(trained_cnn(result.x_adv), axis=1)[result.norms > 0] != y[result.norms > 0])
    assert 0.3 < np.median(result.norms) < 3.0  # MNIST CNNs: minimal L2 around 1-2 (FAB/CW find ~1.2 here)


def test_bad_settings_are_refused(linear_model, linear_points):
    model, _, _ = linear_model
    x, labels = linear_points
    with pytest.raises(ValueError, match="overshoot"):
        deepfool(model, x, labels, overshoot=-0.1)
    with pytest.raises(ValueError, match="candidates"):
        deepfool(model, x, labels, candidates=1)
    with pytest.raises(ValueError, match="norm"):
        deepfool_step(model, x, labels, norm="l1")
