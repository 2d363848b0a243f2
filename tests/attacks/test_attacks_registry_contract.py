"""The contract every registered attack keeps; registering an attack is enough to be tested here.

Fixed-eps attacks: eps = 0 is the identity, outputs stay inside the ball and the bounds and move the images,
chunking (``batch_size``) with the same seed gives the same images, the info dict has the common keys and its
success and norms agree with the returned images, and bad input is refused with a message. Minimal attacks: the
norms are the returned images' perturbation norms, successes really succeed, failures come back unchanged.
Each attack runs with its registry ``quick_settings`` on 20 digits.
"""
import numpy as np
import pytest

from tfrobust.attacks import INFO_KEYS, Attack, registry
from tfrobust.attacks.norms import perturbation_norm

EPS = {"linf": 0.1, "l2": 1.5}
FIXED = [(entry.name, norm) for entry in registry.entries("fixed_eps") for norm in entry.norms]
MINIMAL = [(entry.name, norm) for entry in registry.entries("minimal") for norm in entry.norms]


@pytest.fixture(scope="module")
def digits(test_batch):
    x, y = test_batch
    return x[::10], y[::10]  # 20 digits, 2 per class


def _spec(name, norm, **extra):
    entry = registry.get(name)
    settings = {**entry.quick_settings, **extra}
    if "norm" in entry.settings:
        settings["norm"] = norm
    return Attack(name, **settings)


def _run(name, norm, model, x, y, eps, **kwargs):
    entry = registry.get(name)
    spec = _spec(name, norm)
    return entry.function(model, x, y, bounds=(0.0, 1.0), **{**spec.resolve(eps), **kwargs})


@pytest.mark.parametrize("name, norm", FIXED)
def test_fixed_eps_contract(name, norm, trained_cnn, digits):
    x, y = digits
    eps = EPS[norm]
    x_adv, info = _run(name, norm, trained_cnn, x, y, eps, return_info=True)
    x_adv = np.asarray(x_adv)
    assert x_adv.shape == x.shape and x_adv.dtype == np.float32
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    sizes = perturbation_norm(x_adv - x, norm).numpy()
    assert sizes.max() <= eps * (1 + 1e-5) + 1e-6
    assert np.mean(sizes > 0) >= 0.5, "the attack should move most images"
    assert tuple(info) == INFO_KEYS
    fooled = np.argmax(np.asarray(trained_cnn(x_adv, training=False)), axis=1) != y
    np.testing.assert_array_equal(info["success"], fooled)
    np.testing.assert_allclose(info["perturbation_norm"], sizes, rtol=1e-4, atol=1e-5)
    assert info["example_steps"] + info["forward_passes"] > 0


@pytest.mark.parametrize("name, norm", FIXED)
def test_fixed_eps_zero_identity_seed_and_chunks(name, norm, trained_cnn, digits):
    """eps = 0 returns x; the same seed gives the same images; chunks of 7 give a valid attack on the same rows
    (random draws may differ per chunk, so chunked images are checked against their own rows, not equality)."""
    x, y = digits
    eps = EPS[norm]
    np.testing.assert_array_equal(np.asarray(_run(name, norm, trained_cnn, x, y, 0.0)), x)
    np.testing.assert_array_equal(np.asarray(_spec(name, norm)(trained_cnn, x, y, eps=0.0)), x)
    whole = np.asarray(_run(name, norm, trained_cnn, x, y, eps, seed=3))
    np.testing.assert_allclose(np.asarray(_run(name, norm, trained_cnn, x, y, eps, seed=3)), whole, atol=1e-6)
    chunked, info = _run(name, norm, trained_cnn, x, y, eps, seed=3, batch_size=7, return_info=True)
    chunked = np.asarray(chunked)
    sizes = perturbation_norm(chunked - x, norm).numpy()
    assert sizes.max() <= eps * (1 + 1e-5) + 1e-6 and np.mean(sizes > 0) >= 0.5
    logits = np.asarray(trained_cnn(chunked, training=False))
    # The attack judged success on chunks of 7, this check on one batch of 20. The kernels (oneDNN) may round a
    # logit differently with the batch size, and FAB stops right on the decision boundary, so the check is on the
    # margin (true logit minus the best other) within float error: a success has margin <= tol, a failure >= -tol.
    true_logit = logits[np.arange(len(y)), y]
    others = np.where(np.eye(logits.shape[1], dtype=bool)[y], -np.inf, logits).max(axis=1)
    margin = true_logit - others
    tol = 1e-4 * np.maximum(1.0, np.abs(logits).max(axis=1))
    success = np.asarray(info["success"])
    assert np.all(margin[success] <= tol[success]), margin[success]
    assert np.all(margin[~success] >= -tol[~success]), margin[~success]


@pytest.mark.parametrize("name, norm", FIXED + MINIMAL)
def test_bad_input_is_refused_with_a_message(name, norm, trained_cnn, digits):
    x, y = digits
    function = registry.get(name).function
    eps = {"eps": EPS[norm]} if registry.get(name).kind == "fixed_eps" else {}
    with pytest.raises(ValueError, match="bounds|range|outside"):
        function(trained_cnn, x * 255.0, y, norm=norm, **eps)
    with pytest.raises(ValueError, match="(?i)label"):
        function(trained_cnn, x, np.full(len(y), 99), norm=norm, **eps)
    with pytest.raises(ValueError, match="norm"):
        function(trained_cnn, x, y, norm="l7", **eps)
    if eps:
        with pytest.raises(ValueError, match="eps"):
            function(trained_cnn, x, y, eps=-0.1, norm=norm)


@pytest.mark.parametrize("name, norm", MINIMAL)
def test_minimal_contract(name, norm, trained_cnn, digits):
    x, y = digits
    result = _run(name, norm, trained_cnn, x, y, None)
    x_adv = np.asarray(result.x_adv)
    assert x_adv.shape == x.shape and x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    assert result.norms.shape == (len(y),) and result.success.mean() >= 0.5
    np.testing.assert_array_equal(result.success, np.isfinite(result.norms))
    sizes = perturbation_norm(x_adv - x, result.norm).numpy()
    np.testing.assert_allclose(sizes[result.success], result.norms[result.success], rtol=1e-4, atol=1e-5)
    fooled = np.argmax(np.asarray(trained_cnn(x_adv, training=False)), axis=1) != y
    assert np.all(fooled[result.success])
    np.testing.assert_array_equal(x_adv[~result.success], x[~result.success])
    chunked = _run(name, norm, trained_cnn, x, y, None, batch_size=7)
    np.testing.assert_allclose(chunked.norms, result.norms, rtol=1e-5, atol=1e-6)
