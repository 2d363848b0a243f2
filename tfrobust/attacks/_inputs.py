"""Eager checks and preparation shared by every attack entry point.

Each attack validates its arguments here before any ``tf.function`` runs, so bad input fails with a
message that names the argument, instead of a silently wrong number or a graph-time stack trace.
"""
from __future__ import annotations

from typing import List, NamedTuple, Optional

import numpy as np
import tensorflow as tf

from tfrobust.logits import LogitsModel, as_logits_model
from tfrobust.validation import check_bounds, check_images, check_labels


class AttackInputs(NamedTuple):
    """Validated inputs: the logits model, images (float32), sparse int32 labels and the bounds."""
    model: LogitsModel
    x: tf.Tensor
    labels: tf.Tensor
    lo: float
    hi: float


def prepare(model, x, y, bounds) -> AttackInputs:
    """Checks images, bounds and labels and wraps ``model`` so that it returns logits.

    Raises:
        TypeError / ValueError: from ``tfrobust.validation`` (bad images, bounds, labels, batch mismatch).
    """
    lo, hi = check_bounds(bounds)
    x = check_images(x, (lo, hi))
    logits_model = as_logits_model(model, x)
    labels = check_labels(y, logits_model.num_classes, batch_size=int(x.shape[0]))
    return AttackInputs(logits_model, x, labels, lo, hi)


def check_flag(value, name: str) -> bool:
    """Checks a boolean option (numpy booleans allowed)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}.")
    return bool(value)


def check_seed(seed) -> Optional[int]:
    """Checks that ``seed`` is None or a non-negative integer."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be None or a non-negative integer, got {seed!r}.")
    return int(seed)


def make_generator(seed: Optional[int]) -> tf.random.Generator:
    """A random generator: reproducible across calls when ``seed`` is given."""
    if seed is None:
        return tf.random.Generator.from_non_deterministic_state()
    return tf.random.Generator.from_seed(seed)


def check_batch_size(batch_size) -> Optional[int]:
    """Checks the optional chunk size for large inputs."""
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"batch_size must be None or a positive integer, got {batch_size!r}.")
    return int(batch_size)


def chunks(n: int, batch_size: Optional[int]) -> List[slice]:
    """Slices that split ``n`` examples into chunks of at most ``batch_size`` (one chunk when None)."""
    size = n if batch_size is None else batch_size
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def check_loss_classes(loss: str, num_classes: int, targeted: bool) -> None:
    """DLR sorts the logits and needs at least 3 classes (4 when targeted)."""
    needed = 4 if targeted else 3
    if loss == "dlr" and num_classes < needed:
        raise ValueError(
            f"loss='dlr' needs at least {needed} classes, the model has {num_classes}; use loss='ce' or 'margin'.")
