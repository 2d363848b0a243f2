"""Calibration of predicted confidences: ECE, reliability diagrams, temperature scaling (Guo et al. 2017).

Guo, Pleiss, Sun & Weinberger (2017), "On calibration of modern neural networks":

- Confidence of an example: p_hat = max_k softmax(z)_k; prediction y_hat = argmax_k z_k.
- M equal-width bins B_m = ((m-1)/M, m/M], m = 1..M (M = 15 in the paper).
- acc(B_m) = share of correct predictions in B_m, conf(B_m) = mean confidence in B_m.
- ECE = sum_m |B_m| / n * |acc(B_m) - conf(B_m)|. ``confidence_reliability`` bins any confidence score the
  same way (e.g. a Deep k-NN's credibility, Papernot & McDaniel 2018), ``reliability_diagram`` the softmax's.
- Temperature scaling: one scalar T > 0 fitted on a validation split by minimising the negative
  log-likelihood NLL(T) = mean_i [logsumexp(z_i / T) - z_{i, y_i} / T]. NLL is convex in
  beta = 1/T (a log-sum-exp of functions linear in beta), so a safeguarded Newton iteration on beta
  finds the global minimum; dNLL/dbeta = mean(E_p[z] - z_y), d2NLL/dbeta2 = mean(Var_p[z]) >= 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict

import numpy as np

from tfrobust.io import to_jsonable
from tfrobust.logits import looks_like_probabilities
from tfrobust.validation import check_labels, check_positive

MIN_TEMPERATURE = 1e-3
MAX_TEMPERATURE = 1e3


def _as_2d(values, name: str) -> np.ndarray:
    arr = np.asarray(values.numpy() if hasattr(values, "numpy") else values, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < 2 or arr.shape[0] == 0:
        raise ValueError(f"{name} must have shape (n, classes) with n >= 1 and classes >= 2, got {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contain NaN or infinite values.")
    return arr


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def to_probabilities(probs_or_logits, from_logits: bool | None = None) -> np.ndarray:
    """Softmax of logits, or the probabilities themselves; ``from_logits=None`` detects which.

    Raises:
        ValueError: bad shape, non-finite values, or ``from_logits=False`` with rows that are not
            probability vectors.
    """
    arr = _as_2d(probs_or_logits, "probs_or_logits")
    if from_logits is None:
        from_logits = not looks_like_probabilities(arr)
    if from_logits:
        return _softmax(arr)
    if not looks_like_probabilities(arr):
        raise ValueError("from_logits=False but the rows are not probability vectors (non-negative, summing to 1).")
    return arr


@dataclass
class ReliabilityDiagram:
    """Per-bin data of a reliability diagram (Guo et al. 2017, Fig. 1).

    Attributes:
        bin_edges: M + 1 edges, 0 to 1.
        accuracy: accuracy per bin (NaN for an empty bin).
        confidence: mean confidence per bin (NaN for an empty bin).
        count: examples per bin.
        ece: expected calibration error.
        accuracy_overall: overall accuracy.
        confidence_overall: mean confidence.
    """

    bin_edges: np.ndarray
    accuracy: np.ndarray
    confidence: np.ndarray
    count: np.ndarray
    ece: float
    accuracy_overall: float
    confidence_overall: float

    @property
    def n_bins(self) -> int:
        return int(self.count.size)

    def to_dict(self) -> Dict[str, Any]:
        return to_jsonable({"bin_edges": self.bin_edges, "accuracy": self.accuracy, "confidence": self.confidence,
                            "count": self.count, "ece": self.ece, "accuracy_overall": self.accuracy_overall,
                            "confidence_overall": self.confidence_overall})


def reliability_diagram(probs_or_logits, labels, n_bins: int = 15, from_logits: bool | None = None) -> ReliabilityDiagram:
    """Bins predictions by confidence into ``n_bins`` equal-width bins ((m-1)/M, m/M] (Guo et al. 2017).

    Args:
        probs_or_logits: shape (n, classes); logits or probability rows (detected unless ``from_logits``).
        labels: sparse or one-hot labels.
        n_bins: number of equal-width bins M.
        from_logits: force the interpretation of ``probs_or_logits``.

    Returns:
        A ``ReliabilityDiagram`` whose ``ece`` is the expected calibration error.

    Raises:
        ValueError: bad shapes, labels or ``n_bins``.
    """
    n_bins = int(check_positive(n_bins, "n_bins", integer=True))
    probs = to_probabilities(probs_or_logits, from_logits)
    y = check_labels(labels, probs.shape[1], probs.shape[0]).numpy()
    return confidence_reliability(probs.max(axis=1), probs.argmax(axis=1) == y, n_bins=n_bins)


def confidence_reliability(confidence, correct, n_bins: int = 15) -> ReliabilityDiagram:
    """The reliability diagram of any confidence score in [0, 1] (a softmax maximum, a Deep k-NN credibility).

    Args:
        confidence: (n,) the score of each prediction.
        correct: (n,) whether each prediction was right.
        n_bins: number of equal-width bins M.

    Returns:
        A ``ReliabilityDiagram`` (bins ((m-1)/M, m/M]; a confidence of 0 falls in the first bin).

    Raises:
        ValueError: scores outside [0, 1] or not finite, lengths that differ, no example, a bad ``n_bins``.
    """
    n_bins = int(check_positive(n_bins, "n_bins", integer=True))
    confidence = np.asarray(confidence, np.float64).reshape(-1)
    correct = np.asarray(correct).reshape(-1).astype(np.float64)
    if confidence.size == 0 or confidence.shape != correct.shape:
        raise ValueError(f"confidence and correct must be non-empty and of one length, got {confidence.size} and "
                         f"{correct.size}.")
    if not np.all(np.isfinite(confidence)) or confidence.min() < 0 or confidence.max() > 1:
        raise ValueError("confidence scores must be finite and in [0, 1].")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Bin m holds (edges[m], edges[m+1]]; a confidence of exactly 0 goes to the first bin.
    bins = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.bincount(bins, weights=correct, minlength=n_bins) / count
        conf = np.bincount(bins, weights=confidence, minlength=n_bins) / count
    nonempty = count > 0
    ece = float(np.sum(count[nonempty] / confidence.size * np.abs(acc[nonempty] - conf[nonempty])))
    return ReliabilityDiagram(bin_edges=edges, accuracy=acc, confidence=conf, count=count, ece=ece,
                              accuracy_overall=float(correct.mean()), confidence_overall=float(confidence.mean()))


def expected_calibration_error(probs_or_logits, labels, n_bins: int = 15, from_logits: bool | None = None) -> float:
    """Expected calibration error with ``n_bins`` equal-width confidence bins (Guo et al. 2017, Eq. 3).

    ECE = sum_m |B_m| / n * |acc(B_m) - conf(B_m)|.

    Args:
        probs_or_logits: shape (n, classes); logits or probability rows (detected unless ``from_logits``).
        labels: sparse or one-hot labels.
        n_bins: number of bins M (15 as in Guo et al.).
        from_logits: force the interpretation of ``probs_or_logits``.

    Returns:
        The ECE, in [0, 1].

    Raises:
        ValueError: bad shapes, labels or ``n_bins``.
    """
    return reliability_diagram(probs_or_logits, labels, n_bins=n_bins, from_logits=from_logits).ece


def negative_log_likelihood(logits, labels, temperature: float = 1.0) -> float:
    """Mean NLL of ``softmax(logits / temperature)`` at the labels.

    Raises:
        ValueError: bad shapes, labels or temperature.
    """
    z = _as_2d(logits, "logits")
    t = check_positive(temperature, "temperature")
    y = check_labels(labels, z.shape[1], z.shape[0]).numpy()
    scaled = z / t
    shifted = scaled - scaled.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1))
    return float(np.mean(log_norm - shifted[np.arange(z.shape[0]), y]))


def _nll_derivatives(beta: float, z: np.ndarray, z_true: np.ndarray):
    p = _softmax(beta * z)
    mean_z = (p * z).sum(axis=1)
    var_z = (p * z * z).sum(axis=1) - mean_z ** 2
    return float(np.mean(mean_z - z_true)), float(np.mean(np.maximum(var_z, 0.0)))


def fit_temperature(logits, labels, *, max_iterations: int = 100, tolerance: float = 1e-10) -> float:
    """Fits the temperature T of temperature scaling by minimising the validation NLL (Guo et al. 2017).

    Use logits of a held-out validation split, not the training split. The NLL is convex in
    beta = 1/T; a Newton step on beta is taken when it stays inside the current bracket of the
    minimum, else the bracket is bisected.

    Args:
        logits: validation logits, shape (n, classes).
        labels: validation labels, sparse or one-hot.
        max_iterations: Newton/bisection iterations.
        tolerance: stop when the derivative's magnitude falls below this.

    Returns:
        T in [1e-3, 1e3]; divide logits by it before the softmax. A bound is returned when the NLL
        keeps falling towards it (e.g. perfectly separable logits give the smallest T).

    Raises:
        ValueError: bad shapes or labels.
    """
    z = _as_2d(logits, "logits")
    y = check_labels(labels, z.shape[1], z.shape[0]).numpy()
    z_true = z[np.arange(z.shape[0]), y]
    lo, hi = 1.0 / MAX_TEMPERATURE, 1.0 / MIN_TEMPERATURE  # bracket on beta
    if _nll_derivatives(lo, z, z_true)[0] >= 0:
        return MAX_TEMPERATURE
    if _nll_derivatives(hi, z, z_true)[0] <= 0:
        return MIN_TEMPERATURE
    beta = 1.0
    for _ in range(max_iterations):
        grad, curvature = _nll_derivatives(beta, z, z_true)
        if abs(grad) < tolerance:
            break
        if grad > 0:
            hi = beta
        else:
            lo = beta
        newton = beta - grad / curvature if curvature > 0 else np.nan
        beta = newton if lo < newton < hi else 0.5 * (lo + hi)
    return float(1.0 / beta)


def calibration_summary(logits, labels, temperature: float | None = None, n_bins: int = 15) -> Dict[str, float]:
    """ECE and NLL before and after dividing ``logits`` by ``temperature`` (fitted when None).

    Fit the temperature on a validation split and pass it here for the test split.
    """
    z = _as_2d(logits, "logits")
    t = fit_temperature(z, labels) if temperature is None else check_positive(temperature, "temperature")
    return {"temperature": float(t),
            "ece": expected_calibration_error(z, labels, n_bins, from_logits=True),
            "ece_scaled": expected_calibration_error(z / t, labels, n_bins, from_logits=True),
            "nll": negative_log_likelihood(z, labels), "nll_scaled": negative_log_likelihood(z, labels, t)}

