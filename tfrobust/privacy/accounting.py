"""PATE's privacy cost: data-independent and data-dependent Renyi DP, converted to (epsilon, delta).

Accounting in Renyi differential privacy (Mironov 2017): a mechanism is (lambda, eps_lambda)-RDP when the
Renyi divergence of order lambda between its outputs on neighbouring datasets is at most eps_lambda; RDP adds
up over the queries at every order, and (eps, delta)-DP follows by a conversion (here dp-accounting's
``compute_epsilon``, the one its ``RdpAccountant`` uses).

Data-independent (``privacy_cost``; Papernot et al. 2017 and 2018):

- LNMax, argmax_j n_j + Lap(1/gamma): one teacher changing its vote moves two counts by one (L1 sensitivity 2),
  so each answer is (2 gamma, 0)-DP; dp-accounting's ``LaplaceDpEvent`` with noise multiplier 1 / (2 gamma).
- GNMax, argmax_j n_j + N(0, sigma^2): L2 sensitivity sqrt(2), so each answer is (lambda, lambda / sigma^2)-RDP;
  dp-accounting's ``GaussianDpEvent`` with noise multiplier sigma / sqrt(2).
- Confident GNMax: every query pays the threshold check max_j n_j + N(0, sigma_1^2) >= T (sensitivity 1:
  lambda / (2 sigma_1^2)), the answered ones also GNMax at sigma_2.

Data-dependent (``data_dependent_privacy_cost``; Papernot, Song, Mironov, Raghunathan, Talwar & Erlingsson
2018, "Scalable private learning with PATE", Section 4 and Appendix B). When the teachers agree, GNMax returns
their plurality i* with probability close to 1 and leaks little:

- Proposition 7: q = Pr[GNMax(n) != i*] <= q~ = sum_{i != i*} 1/2 erfc((n_{i*} - n_i) / (2 sigma)).
- Theorem 6: a mechanism that is (mu_1, eps_1)- and (mu_2, eps_2)-RDP and returns i* except with probability
  q~ is, at this dataset, (lambda, eps)-RDP for lambda <= mu_1 with

      eps <= 1 / (lambda - 1) log((1 - q~) A^(lambda - 1) + q~ B^(lambda - 1)),
      A = (1 - q~) / (1 - (q~ e^eps_2)^((mu_2 - 1) / mu_2)),     B = e^eps_1 / q~^(1 / (mu_1 - 1)),

  valid while the bound grows with q on [0, q~], which holds for
  q~ <= e^((mu_2 - 1) eps_2) / (mu_1 / (mu_1 - 1) * mu_2 / (mu_2 - 1))^mu_2 (and q~ e^eps_2 < 1, so A > 0).
- Proposition 10: for GNMax take mu_2 = sigma sqrt(log(1 / q~)), mu_1 = mu_2 + 1, eps_i = mu_i / sigma^2.

Per query the cost is min(data-independent lambda / sigma^2, Theorem 6), so the data-dependent epsilon is never
above the data-independent one at the same orders. The data-dependent epsilon is itself a function of the
private votes: releasing it privately needs the smooth-sensitivity step of the paper (Section 4.2), which is
not done here; it is the paper's "data-dependent epsilon" as its tables report it. The threshold check of
confident GNMax is charged its data-independent cost (an upper bound of the paper's data-dependent one).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
from scipy import special

from tfrobust.validation import check_positive


def _dp_accounting():
    try:
        import dp_accounting  # noqa: PLC0415  (an optional dependency: only PATE needs it)
    except ImportError:
        raise ImportError("PATE's accounting needs dp-accounting: `pip install dp-accounting` "
                          "(or `pip install tfrobust[privacy]`).") from None
    return dp_accounting


def default_orders() -> np.ndarray:
    """dp-accounting's default Renyi orders (those its ``RdpAccountant`` uses)."""
    from dp_accounting.rdp.rdp_privacy_accountant import DEFAULT_RDP_ORDERS  # noqa: PLC0415

    return np.asarray(DEFAULT_RDP_ORDERS, np.float64)


def _check_delta(delta: float) -> float:
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), e.g. 1e-5, got {delta!r}.")
    return float(delta)


def privacy_cost(*, mechanism: str, queries: int, delta: float, gamma: Optional[float] = None,
                 sigma: Optional[float] = None, sigma1: Optional[float] = None, sigma2: Optional[float] = None,
                 answered: Optional[int] = None) -> float:
    """Data-independent epsilon at ``delta`` of ``queries`` aggregator calls, accounted with dp-accounting (RDP).

    Args:
        mechanism: "lnmax" (needs gamma), "gnmax" (sigma) or "confident_gnmax" (sigma1, sigma2, answered:
            every query pays the threshold check, the ``answered`` ones also GNMax).
        queries: number of queries (all checked ones for confident GNMax).
        delta: target delta in (0, 1).

    Returns:
        epsilon.

    Raises:
        ValueError: an unknown mechanism, a missing or non-positive noise scale, a bad delta.
    """
    dp_accounting = _dp_accounting()
    queries = int(check_positive(queries, "queries", integer=True))
    _check_delta(delta)
    if mechanism == "lnmax":
        # L1 sensitivity 2, scale 1/gamma: a Laplace mechanism of noise multiplier (1/gamma) / 2
        events = [dp_accounting.SelfComposedDpEvent(
            dp_accounting.LaplaceDpEvent(1.0 / (2.0 * float(check_positive(gamma, "gamma")))), queries)]
    elif mechanism == "gnmax":
        # L2 sensitivity sqrt(2): noise multiplier sigma / sqrt(2), RDP lambda / sigma^2
        events = [dp_accounting.SelfComposedDpEvent(
            dp_accounting.GaussianDpEvent(float(check_positive(sigma, "sigma")) / np.sqrt(2.0)), queries)]
    elif mechanism == "confident_gnmax":
        answered = queries if answered is None else int(answered)
        events = [dp_accounting.SelfComposedDpEvent(
            dp_accounting.GaussianDpEvent(float(check_positive(sigma1, "sigma1"))), queries)]
        if answered > 0:
            events.append(dp_accounting.SelfComposedDpEvent(
                dp_accounting.GaussianDpEvent(float(check_positive(sigma2, "sigma2")) / np.sqrt(2.0)), answered))
    else:
        raise ValueError(f"mechanism must be 'lnmax', 'gnmax' or 'confident_gnmax', got {mechanism!r}.")
    accountant = dp_accounting.rdp.RdpAccountant()
    accountant.compose(dp_accounting.ComposedDpEvent(events))
    return float(accountant.get_epsilon(delta))


def gnmax_log_q(histogram, sigma: float) -> np.ndarray:
    """Per query, log q~ of Proposition 7: the log of an upper bound of Pr[GNMax(n) != argmax_j n_j].

    q~ = sum_{i != i*} 1/2 erfc((n_{i*} - n_i) / (2 sigma)), clipped to at most 1 (computed in logs so that
    unanimous votes, q~ ~ 1e-300 and below, keep their exponent).

    Args:
        histogram: (queries, classes) vote counts.
        sigma: GNMax noise standard deviation.

    Returns:
        float64 (queries,), <= 0.
    """
    histogram = np.asarray(histogram, np.float64)
    if histogram.ndim != 2 or histogram.shape[1] < 2 or np.any(histogram < 0):
        raise ValueError(f"histogram must be (queries, classes) non-negative vote counts, got shape {histogram.shape}.")
    sigma = float(check_positive(sigma, "sigma"))
    top = histogram.argmax(axis=1)
    gaps = histogram[np.arange(len(histogram)), top][:, None] - histogram
    # log(1/2 erfc(z)) = log_ndtr(-sqrt(2) z): stable far in the tail; the top class itself is excluded
    log_terms = special.log_ndtr(-gaps / (np.sqrt(2.0) * sigma))
    log_terms[np.arange(len(histogram)), top] = -np.inf
    return np.minimum(special.logsumexp(log_terms, axis=1), 0.0)


def _log1mexp(x: float) -> float:
    """log(1 - e^x) for x < 0, without cancellation."""
    return math.log(-math.expm1(x)) if x > -0.693 else math.log1p(-math.exp(x))


def gnmax_data_dependent_rdp(log_q: float, sigma: float, orders: Sequence[float]) -> np.ndarray:
    """RDP of one GNMax answer at each order, given log q~ (Theorem 6 with Proposition 10's mu_1, mu_2).

    Returns min(lambda / sigma^2, Theorem 6's bound) where the theorem's conditions hold, else lambda / sigma^2.

    Args:
        log_q: log q~ of the query (``gnmax_log_q``), <= 0.
        sigma: GNMax noise standard deviation.
        orders: Renyi orders lambda > 1.

    Returns:
        float64 (orders,).
    """
    orders = np.asarray(orders, np.float64)
    if np.any(orders <= 1):
        raise ValueError(f"Renyi orders must be > 1, got {orders[orders <= 1]}.")
    if log_q > 0:
        raise ValueError(f"log_q must be <= 0 (q is a probability), got {log_q}.")
    variance = float(check_positive(sigma, "sigma")) ** 2
    independent = orders / variance
    if np.isneginf(log_q):  # the answer is certain: no privacy loss
        return np.zeros_like(orders)
    mu2 = math.sqrt(variance * -log_q)
    mu1 = mu2 + 1.0
    eps1, eps2 = mu1 / variance, mu2 / variance
    applies = orders < mu1
    if mu2 <= 1.0 or not applies.any():
        return independent
    # q~ small enough that the bound increases with q up to q~ (so q <= q~ may be used), and q~ e^eps2 < 1
    increasing = log_q <= (mu2 - 1.0) * eps2 - mu2 * (math.log(mu1 / (mu1 - 1.0)) + math.log(mu2 / (mu2 - 1.0)))
    if not (increasing and -log_q > eps2):
        return independent
    log_1mq = _log1mexp(log_q)
    log_a = log_1mq - _log1mexp((log_q + eps2) * (1.0 - 1.0 / mu2))
    log_b = eps1 - log_q / (mu1 - 1.0)
    lam1 = orders - 1.0
    bound = np.logaddexp(log_1mq + lam1 * log_a, log_q + lam1 * log_b) / lam1
    return np.where(applies, np.minimum(independent, bound), independent)


def data_dependent_privacy_cost(histogram, *, delta: float, sigma: Optional[float] = None,
                                sigma1: Optional[float] = None, sigma2: Optional[float] = None, answered=None,
                                orders: Optional[Sequence[float]] = None) -> float:
    """Data-dependent epsilon at ``delta`` of GNMax (or confident GNMax) answers to the queries of ``histogram``.

    Args:
        histogram: (queries, classes) vote counts of the queries asked.
        delta: target delta in (0, 1).
        sigma: GNMax noise (plain GNMax: every query answered).
        sigma1, sigma2, answered: confident GNMax instead: the threshold noise, the answer noise and the boolean
            (queries,) mask of the answered queries; each query pays the threshold check (data-independent,
            lambda / (2 sigma1^2)), each answered one the data-dependent GNMax cost at sigma2.
        orders: Renyi orders (default: dp-accounting's).

    Returns:
        epsilon, converted from the summed RDP by dp-accounting's ``compute_epsilon``; at the same orders it is
        at most ``privacy_cost``'s data-independent epsilon.

    Raises:
        ValueError: neither or both of sigma and (sigma1, sigma2), a mask of the wrong length, a bad delta.
    """
    from dp_accounting.rdp.rdp_privacy_accountant import compute_epsilon  # noqa: PLC0415

    _dp_accounting()
    _check_delta(delta)
    orders = default_orders() if orders is None else np.asarray(orders, np.float64)
    histogram = np.asarray(histogram)
    if (sigma is None) == (sigma2 is None):
        raise ValueError("Give sigma (GNMax) or sigma1, sigma2 and answered (confident GNMax), not both or neither.")
    rdp = np.zeros_like(orders)
    if sigma2 is not None:
        if sigma1 is None or answered is None:
            raise ValueError("Confident GNMax needs sigma1, sigma2 and the answered mask.")
        answered = np.asarray(answered, bool).reshape(-1)
        if answered.shape[0] != histogram.shape[0]:
            raise ValueError(f"answered must have one entry per query ({histogram.shape[0]}), got {answered.shape[0]}.")
        rdp += histogram.shape[0] * orders / (2.0 * float(check_positive(sigma1, "sigma1")) ** 2)
        histogram, sigma = histogram[answered], sigma2
    if len(histogram):
        for log_q in gnmax_log_q(histogram, sigma):
            rdp += gnmax_data_dependent_rdp(float(log_q), sigma, orders)
    return float(compute_epsilon(orders, rdp, delta)[0])
