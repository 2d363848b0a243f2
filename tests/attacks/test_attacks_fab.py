"""FAB: the projection onto a hyperplane inside the box, convergence to the exact distance of an affine model,
the fixed-eps form, targets."""
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.attacks import fab, fab_minimal
from tfrobust.attacks.boundary import project_onto_hyperplane_in_box


def _project_by_bisection(z, w, r, lo, hi, norm):
    """The same minimisation solved independently: bisection on the multiplier t in float64."""
    u = w * np.sign(r)
    room = np.where(u > 0, hi - z, z - lo)
    scale = np.ones_like(u) if norm == "linf" else np.abs(u)

    def delta(t):
        return np.sign(u) * np.minimum(t * scale, room)

    if np.dot(u, delta(1e9)) <= abs(r):
        return delta(1e9)
    low, high = 0.0, 1e9
    for _ in range(200):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if np.dot(u, delta(mid)) < abs(r) else (low, mid)
    return delta(high)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_projection_matches_bisection_and_is_minimal(norm):
    rng = np.random.default_rng(0)
    z = rng.uniform(0, 1, size=(16, 7)).astype(np.float32)
    w = rng.normal(size=(16, 7)).astype(np.float32)
    r = rng.normal(scale=3.0, size=16).astype(np.float32)  # some hyperplanes miss the box
    delta = project_onto_hyperplane_in_box(tf.constant(z), tf.constant(w), tf.constant(r), 0.0, 1.0, norm).numpy()
    expected = np.stack([_project_by_bisection(z[i].astype(np.float64), w[i].astype(np.float64), float(r[i]), 0.0,
                                               1.0, norm) for i in range(16)])
    np.testing.assert_allclose(delta, expected, atol=2e-5)
    assert (z + delta).min() >= -1e-6 and (z + delta).max() <= 1 + 1e-6
    reached = np.einsum("ij,ij->i", w, delta)
    feasible = np.abs(reached - r) < 1e-4
    assert 4 <= feasible.sum() < 16  # both cases occur
    size = np.abs(delta).max(1) if norm == "linf" else np.linalg.norm(delta, axis=1)
    for i in np.flatnonzero(feasible):  # no feasible point nearby is shorter: moves inside the hyperplane
        for _ in range(50):
            d = rng.normal(size=7)
            d -= np.dot(d, w[i]) / np.dot(w[i], w[i]) * w[i]
            other = delta[i] + 1e-3 * d
            if (z[i] + other).min() < 0 or (z[i] + other).max() > 1:
                continue
            other_size = np.abs(other).max() if norm == "linf" else np.linalg.norm(other)
            assert other_size >= size[i] - 1e-6


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_converges_to_exact_distance_on_affine_model(norm, linear_model):
    """On an affine model the minimal perturbation is |w'^T x + b'| / ||w'||_q; FAB reaches it from above."""
    model, weights, bias = linear_model
    x = np.random.default_rng(3).uniform(0.3, 0.7, size=(10, 4, 4, 1)).astype(np.float32)
    logits = x.reshape(10, -1).astype(np.float64) @ weights + bias
    labels = np.argmax(logits, axis=1)
    exact = np.full(10, np.inf)
    for i, k0 in enumerate(labels):
        for k in range(10):
            if k != k0:
                w = weights[:, k] - weights[:, k0]
                dual = np.abs(w).sum() if norm == "linf" else np.linalg.norm(w)
                exact[i] = min(exact[i], abs(logits[i, k] - logits[i, k0]) / dual)
    result = fab_minimal(model, x, labels, norm=norm, bounds=(-50.0, 50.0), steps=30)
    assert result.success.all()
    assert np.all(result.norms >= exact * (1 - 1e-4))
    np.testing.assert_allclose(result.norms, exact, rtol=0.01)


def test_fixed_eps_keeps_only_examples_within_eps(trained_cnn, test_batch):
    x, y = test_batch[0][::10], test_batch[1][::10]
    eps = 0.08
    x_adv, info = fab(trained_cnn, x, y, eps=eps, norm="linf", steps=20, n_target_classes=2, return_info=True)
    minimal = info["extra"]["minimal_norms"]
    assert 0.2 <= np.mean(minimal <= eps) <= 0.9  # eps near the median minimal norm (0.082 on this CNN)
    np.testing.assert_array_equal(info["success"], minimal <= eps)
    assert np.all(info["perturbation_norm"] <= eps + 1e-6)
    np.testing.assert_array_equal(np.asarray(x_adv)[minimal > eps], x[minimal > eps])
    attacked = (minimal <= eps) & (minimal > 0)  # 0: already misclassified, no run needed
    assert set(np.unique(info["extra"]["broken_by_target"][attacked])) <= {1, 2}


def test_targeted_reaches_the_targets(trained_cnn, test_batch):
    x, y = test_batch[0][::20], test_batch[1][::20]
    target = (y + 1) % 10
    result = fab_minimal(trained_cnn, x, target, targeted=True, norm="l2", steps=20)
    assert result.success.mean() >= 0.9
    np.testing.assert_array_equal(np.argmax(trained_cnn(result.x_adv), axis=1)[result.success], target[result.success])


def test_bad_settings_are_refused(trained_cnn, test_batch):
    x, y = test_batch[0][:4], test_batch[1][:4]
    with pytest.raises(ValueError, match="n_target_classes"):
        fab(trained_cnn, x, y, eps=0.1, n_target_classes=10)
    with pytest.raises(ValueError, match="loss"):
        fab(trained_cnn, x, y, eps=0.1, loss="dlr")
    with pytest.raises(ValueError, match="restart_radius"):
        fab_minimal(trained_cnn, x, y, restart_radius=-1.0)
