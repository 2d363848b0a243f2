"""Input checks shared by attacks, evaluation and training.

Every public entry point validates eagerly (before any ``tf.function``) so that bad input fails
with a message that says what was wrong and what to do, instead of a silently wrong number.
"""
from __future__ import annotations

import math
from numbers import Real
from typing import Sequence, Tuple

import numpy as np
import tensorflow as tf

NORMS = ("linf", "l2")
LOSSES = ("ce", "margin", "dlr")


def _to_numpy(value) -> np.ndarray:
    if isinstance(value, (tf.Tensor, tf.Variable)):
        return value.numpy()
    return np.asarray(value)


def check_bounds(bounds: Sequence[float]) -> Tuple[float, float]:
    """Checks that ``bounds`` is a finite pair (low, high) with low < high."""
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be a pair (low, high) of numbers, got {bounds!r}.") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise ValueError(f"bounds must be finite with low < high, got ({lo}, {hi}).")
    return lo, hi


def check_images(x, bounds: Sequence[float] = (0.0, 1.0)) -> tf.Tensor:
    """Returns ``x`` as a float32 tensor after checking dtype, finiteness and range.

    Raises:
        TypeError: integer (e.g. uint8) or non-numeric images.
        ValueError: NaN/inf values, values outside ``bounds``, rank < 2 or an empty batch.
    """
    lo, hi = check_bounds(bounds)
    arr = x.dtype if isinstance(x, (tf.Tensor, tf.Variable)) else np.asarray(x).dtype
    dtype = tf.as_dtype(arr) if not isinstance(arr, tf.DType) else arr
    if dtype.is_integer or dtype == tf.bool:
        raise TypeError(
            f"Images have integer dtype {dtype.name}; tfrobust expects floating images in "
            f"[{lo}, {hi}] (epsilon is in pixel units). Convert first, e.g. x = x.astype('float32') / 255."
        )
    if not dtype.is_floating:
        raise TypeError(f"Images must be a floating tensor, got dtype {dtype.name}.")
    x = tf.convert_to_tensor(x, dtype=tf.float32) if dtype != tf.float32 else tf.convert_to_tensor(x)
    if x.shape.rank is None or x.shape.rank < 2:
        raise ValueError(f"Images must be a batch with rank >= 2 (batch first), got shape {x.shape}.")
    if x.shape[0] == 0:
        raise ValueError("Images are an empty batch (0 examples).")
    if not bool(tf.reduce_all(tf.math.is_finite(x))):
        raise ValueError("Images contain NaN or infinite values; clean the input before attacking.")
    xmin, xmax = float(tf.reduce_min(x)), float(tf.reduce_max(x))
    tol = 1e-6 * (hi - lo)
    if xmin < lo - tol or xmax > hi + tol:
        raise ValueError(
            f"Images lie in [{xmin:.4g}, {xmax:.4g}], outside bounds [{lo}, {hi}]. Scale images to the "
            f"bounds (tfrobust models take [0, 1] inputs and normalise inside), or pass bounds=(low, high)."
        )
    return x


def check_epsilon(eps, bounds: Sequence[float] = (0.0, 1.0), norm: str = "linf", name: str = "eps") -> float:
    """Checks that ``eps`` is a finite non-negative number that fits the bounds."""
    lo, hi = check_bounds(bounds)
    if isinstance(eps, bool) or not isinstance(eps, (Real, np.floating, np.integer)):
        if isinstance(eps, (tf.Tensor, np.ndarray)) and np.ndim(eps) == 0:
            eps = float(eps)
        else:
            raise TypeError(f"{name} must be a number, got {type(eps).__name__} {eps!r}.")
    eps = float(eps)
    if math.isnan(eps) or math.isinf(eps):
        raise ValueError(f"{name} must be finite, got {eps}.")
    if eps < 0:
        raise ValueError(f"{name} must be >= 0, got {eps}.")
    if norm == "linf" and eps > hi - lo:
        raise ValueError(
            f"{name}={eps} is larger than the whole bounds range {hi - lo} (bounds {bounds}); epsilon is in "
            f"pixel units of the [low, high] image range, e.g. 8/255 for CIFAR-10 or 0.3 for MNIST."
        )
    return eps


def check_positive(value, name: str, integer: bool = False) -> float:
    """Checks a strictly positive finite number (an int when ``integer``)."""
    if integer:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, got {value!r}.")
        if value <= 0:
            raise ValueError(f"{name} must be > 0, got {value}.")
        return int(value)
    if isinstance(value, bool) or not isinstance(value, (Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number, got {value!r}.")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}.")
    return value


def check_choice(value: str, choices: Sequence[str], name: str) -> str:
    """Checks that ``value`` is one of ``choices`` (case-insensitive)."""
    if not isinstance(value, str) or value.lower() not in choices:
        raise ValueError(f"Unknown {name} {value!r}; choose one of {', '.join(choices)}.")
    return value.lower()


def check_labels(y, num_classes: int, batch_size: int | None = None) -> tf.Tensor:
    """Returns sparse int32 labels, accepting sparse labels or exact one-hot rows.

    One-hot is recognised only when ``y`` has shape (batch, num_classes) and every row has a single 1
    and zeros elsewhere; soft labels raise instead of being silently argmax-ed.

    Raises:
        ValueError: wrong shape, batch mismatch, out-of-range or non-integer labels, soft labels.
    """
    arr = _to_numpy(y)
    if arr.dtype == bool:
        raise TypeError("Labels must be integers (sparse) or one-hot rows, got booleans.")
    if batch_size is not None and (arr.ndim == 0 or arr.shape[0] != batch_size):
        raise ValueError(
            f"Batch mismatch: {batch_size} images but labels of shape {arr.shape}; pass one label per image."
        )
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim == 2:
        if arr.shape[1] != num_classes:
            raise ValueError(
                f"Labels of shape {arr.shape} are neither sparse (batch,) nor one-hot (batch, {num_classes})."
            )
        is_binary = np.all((arr == 0) | (arr == 1))
        if not (is_binary and np.all(arr.sum(axis=1) == 1)):
            raise ValueError(
                "Labels look like soft or multi-hot rows (not exactly one 1 per row). Pass sparse class "
                "indices, or exact one-hot rows; for soft targets take argmax yourself if that is meant."
            )
        arr = arr.argmax(axis=1)
    if arr.ndim != 1:
        raise ValueError(f"Labels must have shape (batch,) or (batch, {num_classes}), got {arr.shape}.")
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError("Labels must be integer class indices; got non-integer values.")
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        raise ValueError(
            f"Labels must lie in [0, {num_classes - 1}] for a model with {num_classes} outputs, "
            f"got values in [{arr.min()}, {arr.max()}]."
        )
    return tf.constant(arr.astype(np.int32))
