"""Properties every fixed-eps attack must have: eps=0 is the identity, outputs stay in the ball and the
bounds, one-hot and sparse labels agree, softmax and logit outputs of the same model agree."""
import numpy as np
import pytest

from tfrobust.attacks import fgsm, pgd, rfgsm
from tfrobust.attacks.norms import perturbation_norm

ATTACKS = {
    "fgsm": lambda m, x, y, eps, norm: fgsm(m, x, y, eps=eps, norm=norm),
    "rfgsm": lambda m, x, y, eps, norm: rfgsm(m, x, y, eps=eps, alpha=eps / 2, norm=norm, seed=3),
    "pgd": lambda m, x, y, eps, norm: pgd(m, x, y, eps=eps, step_size=max(eps / 4, 0.01), steps=10, norm=norm,
                                          seed=3),
    "pgd_early_stop": lambda m, x, y, eps, norm: pgd(m, x, y, eps=eps, step_size=max(eps / 4, 0.01), steps=10,
                                                     norm=norm, seed=3, early_stop=True),
}


@pytest.mark.parametrize("name", ATTACKS)
def test_zero_eps_returns_input_unchanged(name, trained_cnn, small_batch):
    x, y = small_batch
    x_adv = ATTACKS[name](trained_cnn, x, y, 0.0, "linf")
    assert np.array_equal(np.asarray(x_adv), x)


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 1.5)])
@pytest.mark.parametrize("name", ATTACKS)
def test_output_inside_ball_and_bounds(name, norm, eps, trained_cnn, small_batch):
    x, y = small_batch
    x_adv = np.asarray(ATTACKS[name](trained_cnn, x, y, eps, norm))
    assert x_adv.shape == x.shape and x_adv.dtype == np.float32
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    norms = perturbation_norm(x_adv - x, norm).numpy()
    assert norms.max() <= eps + 1e-5
    # The attack moved the images: at least half the examples use most of the budget.
    assert np.median(norms) > 0.5 * eps


@pytest.mark.parametrize("name", ATTACKS)
def test_one_hot_and_sparse_labels_agree(name, trained_cnn, small_batch):
    x, y = small_batch
    sparse = np.asarray(ATTACKS[name](trained_cnn, x, y, 0.1, "linf"))
    one_hot = np.asarray(ATTACKS[name](trained_cnn, x, np.eye(10, dtype=np.float32)[y], 0.1, "linf"))
    np.testing.assert_array_equal(sparse, one_hot)


@pytest.mark.parametrize("name", ["fgsm", "pgd"])
def test_softmax_and_logit_models_give_same_robust_accuracy(name, trained_cnn, trained_cnn_softmax,
                                                            small_batch, accuracy):
    x, y = small_batch
    acc_logits = accuracy(trained_cnn, ATTACKS[name](trained_cnn, x, y, 0.1, "linf"), y)
    acc_softmax = accuracy(trained_cnn, ATTACKS[name](trained_cnn_softmax, x, y, 0.1, "linf"), y)
    assert acc_logits < 0.8  # the attack did something
    assert abs(acc_logits - acc_softmax) <= 1 / len(y) + 1e-9


def test_batch_size_chunks_give_the_same_result(trained_cnn, small_batch):
    x, y = small_batch
    np.testing.assert_array_equal(np.asarray(fgsm(trained_cnn, x, y, eps=0.1)),
                                  np.asarray(fgsm(trained_cnn, x, y, eps=0.1, batch_size=32)))
    whole = pgd(trained_cnn, x, y, eps=0.1, step_size=0.02, steps=5, random_start=False)
    chunked = pgd(trained_cnn, x, y, eps=0.1, step_size=0.02, steps=5, random_start=False, batch_size=32)
    np.testing.assert_allclose(np.asarray(whole), np.asarray(chunked), atol=1e-6)
