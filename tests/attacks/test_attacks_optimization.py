"""Szegedy's box-constrained minimal-L2 attack: success, minimality against PGD-L2, the box."""
import numpy as np
import pytest

from tfrobust.attacks import optimization_attack, pgd
from tfrobust.attacks.norms import perturbation_norm


@pytest.fixture(scope="module")
def subset(test_batch):
    x, y = test_batch
    return x[::5], y[::5]  # 40 digits, 4 per class


@pytest.fixture(scope="module")
def untargeted(trained_cnn, subset):
    x, y = subset
    return optimization_attack(trained_cnn, x, y, search_steps=5, steps=60, learning_rate=0.02)


def test_untargeted_succeeds_with_finite_norms_inside_box(trained_cnn, subset, untargeted):
    x, y = subset
    x_adv = np.asarray(untargeted.x_adv)
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    fooled = np.argmax(trained_cnn(x_adv, training=False), axis=1) != y
    np.testing.assert_array_equal(untargeted.success, fooled)
    assert untargeted.success.mean() >= 0.9
    norms = perturbation_norm(x_adv - x, "l2").numpy()
    np.testing.assert_allclose(norms[fooled], untargeted.norms[fooled], rtol=1e-4, atol=1e-4)
    assert np.all(np.isinf(untargeted.norms[~fooled]))
    np.testing.assert_array_equal(x_adv[~fooled], x[~fooled])  # failures come back unchanged


def test_untargeted_norms_smaller_than_pgd_l2_needs(trained_cnn, subset, untargeted):
    """A minimal-norm attack needs less L2 than the perturbations PGD-L2 (eps 3) fools with."""
    x, y = subset
    x_pgd, pgd_info = pgd(trained_cnn, x, y, eps=3.0, step_size=0.3, steps=20, norm="l2", seed=0,
                          return_info=True)
    pgd_norms = perturbation_norm(np.asarray(x_pgd) - x, "l2").numpy()[pgd_info["success"]]
    assert pgd_info["success"].mean() >= 0.9
    assert np.median(untargeted.norms[untargeted.success]) < 0.75 * np.median(pgd_norms)


@pytest.fixture(scope="module")
def targeted(trained_cnn, subset):
    x, y = subset
    target = (y + 1) % 10
    return target, optimization_attack(trained_cnn, x, target, targeted=True, search_steps=4, steps=60,
                                       learning_rate=0.02)


def test_targeted_reaches_target(trained_cnn, targeted):
    target, result = targeted
    reached = np.argmax(trained_cnn(result.x_adv, training=False), axis=1) == target
    np.testing.assert_array_equal(result.success, reached)
    assert reached.mean() >= 0.9
    assert np.all(np.isfinite(result.norms[reached]))


def test_search_over_c_keeps_the_best_and_rescues_failures(trained_cnn, subset, targeted):
    """The first search step is the run at c_init alone; later steps only add successes and never
    return a larger perturbation. With the target's cross entropy, c = 1 is too large for some examples;
    the search lowers c there until the attack succeeds."""
    x, _ = subset
    target, searched = targeted
    single = optimization_attack(trained_cnn, x, target, targeted=True, search_steps=1, steps=60,
                                 learning_rate=0.02)
    assert np.all(searched.success[single.success])
    both = single.success & searched.success
    assert np.all(searched.norms[both] <= single.norms[both] + 1e-5)
    rescued = searched.success & ~single.success
    assert rescued.sum() >= 2 and searched.success.mean() >= 0.9
    assert np.all(searched.info["c"][rescued] < 1.0)
