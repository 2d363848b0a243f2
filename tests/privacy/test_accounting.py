"""PATE's data-dependent privacy (Papernot et al. 2018): Proposition 7's q bound, Theorem 6, never above the
data-independent cost, and the same as dp-accounting's value when the votes carry no consensus."""
import math

import numpy as np
import pytest

from tfrobust.privacy import data_dependent_privacy_cost, gnmax_data_dependent_rdp, gnmax_log_q, privacy_cost

pytest.importorskip("dp_accounting")


def test_proposition_7_bounds_the_simulated_disagreement():
    histogram = np.array([[12, 6, 2, 0, 0], [20, 1, 0, 0, 0]], np.float64)
    sigma = 4.0
    noisy = histogram[:, None] + np.random.default_rng(0).normal(scale=sigma, size=(2, 40000, 5))
    simulated = (noisy.argmax(axis=2) != 0).mean(axis=1)  # measured 0.176, 0.0011
    bound = np.exp(gnmax_log_q(histogram, sigma))
    # by hand: sum over the other classes of 1/2 erfc(gap / (2 sigma))
    want = [sum(0.5 * math.erfc(g / 8.0) for g in (6, 10, 12, 12)), sum(0.5 * math.erfc(g / 8.0) for g in (19, 20, 20, 20))]
    np.testing.assert_allclose(bound, want, rtol=1e-9)
    # an upper bound up to the simulation's error (3 standard errors), and not a loose one
    assert np.all(simulated <= bound + 3 * np.sqrt(bound / 40000)) and bound[0] < 1.3 * simulated[0]


def test_theorem_6_by_hand_and_its_conditions():
    sigma, log_q, order = 10.0, math.log(1e-6), 5.0
    mu2 = sigma * math.sqrt(-log_q)
    mu1, eps1, eps2, q = mu2 + 1, (mu2 + 1) / sigma ** 2, mu2 / sigma ** 2, 1e-6
    a = (1 - q) / (1 - (q * math.exp(eps2)) ** ((mu2 - 1) / mu2))
    b = math.exp(eps1) / q ** (1 / (mu1 - 1))
    want = math.log((1 - q) * a ** (order - 1) + q * b ** (order - 1)) / (order - 1)
    got = gnmax_data_dependent_rdp(log_q, sigma, [order, 1000.0])
    assert got[0] == pytest.approx(want, rel=1e-9) and want < order / sigma ** 2 / 10  # 0.0018 vs 0.05
    assert got[1] == 1000.0 / sigma ** 2  # an order above mu_1 = 38.2: only the data-independent bound holds
    # q~ near 1 (no consensus): the theorem does not apply, the data-independent bound is returned
    np.testing.assert_allclose(gnmax_data_dependent_rdp(math.log(0.5), sigma, [2.0, 8.0]), [0.02, 0.08])


def test_data_dependent_epsilon_is_at_most_the_data_independent_one():
    rng = np.random.default_rng(0)
    top = rng.integers(0, 10, 300)
    agree = rng.integers(150, 251, 300)
    histogram = np.zeros((300, 10))
    histogram[np.arange(300), top] = agree
    histogram[np.arange(300), (top + 1) % 10] = 250 - agree  # 250 teachers, 60-100% agreement
    independent = privacy_cost(mechanism="gnmax", queries=300, sigma=20.0, delta=1e-5)
    dependent = data_dependent_privacy_cost(histogram, sigma=20.0, delta=1e-5)
    assert dependent < 0.5 * independent  # measured 0.83 vs 5.2
    # no consensus (every class 25 votes): Theorem 6 gives nothing, and the epsilon is dp-accounting's
    uniform = np.full((300, 10), 25.0)
    assert data_dependent_privacy_cost(uniform, sigma=20.0, delta=1e-5) == pytest.approx(independent, rel=1e-9)
    # confident GNMax answering nothing pays only the threshold checks, as in the data-independent accounting
    none = data_dependent_privacy_cost(uniform, sigma1=50.0, sigma2=20.0, answered=np.zeros(300, bool), delta=1e-5)
    assert none == pytest.approx(privacy_cost(mechanism="confident_gnmax", queries=300, answered=0, sigma1=50.0,
                                              sigma2=20.0, delta=1e-5), rel=1e-9)
    with pytest.raises(ValueError, match="sigma"):
        data_dependent_privacy_cost(uniform, delta=1e-5)
