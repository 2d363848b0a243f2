"""MI-FGSM (Dong et al. 2018); the substitute-model transfer attack is tested in test_attacks_transfer.py."""
import numpy as np
import pytest

from tfrobust.attacks import Attack, fgsm, mifgsm, parse_attack


def _numpy_mifgsm(weights, bias, x, y, eps, steps, decay):
    """Algorithm 1 of Dong et al. on a linear softmax model, gradients in closed form."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    adv, momentum = flat.copy(), np.zeros_like(flat)
    alpha = eps / steps
    for _ in range(steps):
        logits = adv @ weights + bias
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        grad = (p - np.eye(weights.shape[1])[y]) @ weights.T  # d CE / d x
        momentum = decay * momentum + grad / np.abs(grad).sum(1, keepdims=True)
        adv = np.clip(np.clip(adv + alpha * np.sign(momentum), flat - eps, flat + eps), 0.0, 1.0)
    return adv.reshape(x.shape)


def test_mifgsm_matches_the_papers_update_on_a_linear_model(linear_model):
    model, weights, bias = linear_model
    rng = np.random.default_rng(0)
    x = rng.uniform(0.2, 0.8, size=(8, 4, 4, 1)).astype(np.float32)
    y = rng.integers(0, 10, size=8)
    got = np.asarray(mifgsm(model, x, y, eps=0.1, steps=5, decay=1.0))
    np.testing.assert_allclose(got, _numpy_mifgsm(weights, bias, x, y, 0.1, 5, 1.0), atol=1e-5)
    # mu = 0 and one step of size eps is FGSM
    np.testing.assert_allclose(np.asarray(mifgsm(model, x, y, eps=0.1, steps=1, decay=0.0)),
                               np.asarray(fgsm(model, x, y, eps=0.1)), atol=1e-6)


def test_mifgsm_breaks_the_cnn_and_is_registered(trained_cnn, small_batch, accuracy):
    x, y = small_batch
    assert accuracy(trained_cnn, x, y) >= 0.9
    x_adv, info = Attack("mifgsm")(trained_cnn, x, y, eps=0.2, return_info=True)
    assert np.abs(np.asarray(x_adv) - x).max() <= 0.2 + 1e-6
    assert accuracy(trained_cnn, np.asarray(x_adv), y) <= 0.15
    assert info["example_steps"] == 10 * len(x)
    assert parse_attack("mi-fgsm:steps=20,decay=0.5").label == "mifgsm-20-mu0.5"


def test_random_start_is_seeded_and_stays_in_the_ball(linear_model):
    model, _, _ = linear_model
    x = np.full((6, 4, 4, 1), 0.5, np.float32)
    y = np.arange(6)
    first, again, other = (np.asarray(mifgsm(model, x, y, eps=0.1, steps=3, decay=0.0, random_start=True, seed=s))
                           for s in (1, 1, 2))
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 0 and np.abs(first - x).max() <= 0.1 + 1e-6
    start = np.asarray(mifgsm(model, x, y, eps=0.1, steps=1, decay=0.0, step_size=1e-9, random_start=True, seed=1))
    assert np.abs(start - x).max() > 0.05  # a tiny step leaves the random start visible: it is drawn in the ball
    assert parse_attack("mifgsm:decay=0,random_start=true").label == "mifgsm-10-mu0-rs"


def test_mifgsm_refuses_a_negative_decay(trained_cnn, small_batch):
    x, y = small_batch
    with pytest.raises(ValueError, match="decay must be"):
        mifgsm(trained_cnn, x, y, eps=0.1, decay=-1.0)
