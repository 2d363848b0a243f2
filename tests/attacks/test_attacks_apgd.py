"""APGD: the paper's checkpoints, at least PGD's strength at the same budget, targeted runs reach their targets."""
import numpy as np
import pytest

from tfrobust.attacks.apgd import apgd, apgd_targeted, checkpoints, target_classes
from tfrobust.attacks.pgd import pgd


def test_checkpoints_follow_the_paper():
    # p = 0, 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 (p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06))
    assert checkpoints(100) == [0, 22, 41, 57, 70, 80, 87, 93, 99, 100]
    assert checkpoints(10)[0] == 0 and checkpoints(10)[-1] == 10


def test_apgd_ce_at_least_as_strong_as_pgd_same_budget(trained_cnn, small_batch, accuracy):
    """At eps 0.1 about 40% of the CNN's test digits survive PGD-100: a regime where the attack matters."""
    x, y = small_batch
    x, y = x[::2], y[::2]
    eps = 0.1
    x_pgd = pgd(trained_cnn, x, y, eps=eps, step_size=2.5 * eps / 100, steps=100, seed=0)
    x_apgd, info = apgd(trained_cnn, x, y, eps=eps, steps=100, seed=0, return_info=True)
    acc_pgd, acc_apgd = accuracy(trained_cnn, x_pgd, y), accuracy(trained_cnn, x_apgd, y)
    assert 0.15 < acc_pgd < 0.8
    assert acc_apgd <= acc_pgd
    fooled = np.argmax(trained_cnn(x_apgd, training=False), axis=1) != y
    np.testing.assert_array_equal(info["success"], fooled)
    assert info["perturbation_norm"].max() <= eps + 1e-6
    assert float(np.min(x_apgd)) >= 0.0 and float(np.max(x_apgd)) <= 1.0
    # early stop: examples leave once fooled, so far fewer than N * (steps + 1) gradients were spent
    assert info["example_steps"] < 0.8 * len(y) * 101


@pytest.mark.parametrize("loss", ["ce", "dlr"])
def test_targeted_apgd_reaches_the_target(trained_cnn, small_batch, loss):
    x, y = small_batch
    x, y = x[:50], y[:50]
    target = (y + 1) % 10
    x_adv, info = apgd(trained_cnn, x, target, eps=0.3, targeted=True, loss=loss, steps=50, seed=0,
                       return_info=True)
    reached = np.argmax(trained_cnn(x_adv, training=False), axis=1) == target
    assert reached.mean() >= (0.9 if loss == "ce" else 0.5)
    np.testing.assert_array_equal(info["success"], reached)


def test_apgd_t_breaks_undefended_model_through_its_targets(trained_cnn, small_batch, accuracy):
    x, y = small_batch
    x, y = x[:50], y[:50]
    x_adv, info = apgd_targeted(trained_cnn, x, y, eps=0.2, n_target_classes=3, steps=30, seed=0, return_info=True)
    assert accuracy(trained_cnn, x_adv, y) <= 0.05
    ranks = info["extra"]["broken_by_target"]
    assert set(np.unique(ranks)) <= {0, 1, 2, 3} and (ranks > 0).sum() >= 0.9 * len(y)


def test_target_classes_are_the_next_most_likely():
    logits = np.array([[0.0, 5.0, 1.0, 3.0, 2.0], [4.0, 0.0, 1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(target_classes(logits, np.array([1, 0]), 3), [[3, 4, 2], [4, 3, 2]])


def test_l2_ball_and_batching_give_the_same_result(trained_cnn, small_batch):
    x, y = small_batch
    x, y = x[:40], y[:40]
    whole = apgd(trained_cnn, x, y, eps=1.0, norm="l2", steps=20, seed=3).numpy()
    chunked = apgd(trained_cnn, x, y, eps=1.0, norm="l2", steps=20, seed=3, batch_size=15).numpy()
    np.testing.assert_allclose(whole, chunked, atol=1e-6)
    norms = np.sqrt(((whole - x) ** 2).reshape(len(x), -1).sum(axis=1))
    assert norms.max() <= 1.0 + 1e-4


def test_bad_settings_are_refused(trained_cnn, small_batch):
    x, y = small_batch
    with pytest.raises(ValueError, match="momentum"):
        apgd(trained_cnn, x[:2], y[:2], eps=0.1, momentum=1.5)
    with pytest.raises(ValueError, match="n_target_classes"):
        apgd_targeted(trained_cnn, x[:2], y[:2], eps=0.1, n_target_classes=10)
    with pytest.raises(ValueError, match="norm"):
        apgd(trained_cnn, x[:2], y[:2], eps=0.1, norm="l1")
