"""A synthetic image-classification dataset for tests: deterministic, learnable, no files.

Each class c has a fixed random template T_c in [0, 1]^(H, W, C) drawn from ``data_seed``; an example of
class c is ``0.6 * T_c + 0.4 * U`` with U uniform noise in [0, 1], so images stay in [0, 1] and a small
model can learn the classes. Labels cycle through the classes (balanced) in a seeded random order.
Train and test share the templates and draw different noise.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

DEFAULT_SIZES = {"train": 1000, "test": 200}
TEMPLATE_WEIGHT = 0.6
_SPLIT_STREAM = {"train": 1, "test": 2}


def check_synthetic_options(input_shape: Sequence[int], num_classes: int, num_examples) -> Tuple[int, ...]:
    """Validates the options of ``make_synthetic`` and returns ``input_shape`` as a tuple."""
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}.") from None
    if len(shape) != 3 or min(shape) <= 0:
        raise ValueError(f"input_shape must be three positive sizes (height, width, channels), got {input_shape!r}.")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}.")
    if num_examples is not None and (isinstance(num_examples, bool) or not isinstance(num_examples, (int, np.integer))
                                     or num_examples <= 0):
        raise ValueError(f"num_examples must be a positive integer or None, got {num_examples!r}.")
    return shape


def make_synthetic(split: str = "train", *, num_examples: int | None = None,
                   input_shape: Sequence[int] = (28, 28, 1), num_classes: int = 10, data_seed: int = 0):
    """Generates the synthetic split.

    Args:
        split: "train" or "test".
        num_examples: examples in the split (default 1,000 train, 200 test).
        input_shape: (height, width, channels).
        num_classes: number of classes (>= 2).
        data_seed: seed of templates, noise and labels; the same arguments give the same arrays.

    Returns:
        (images float32 (N, H, W, C) in [0, 1], labels int64 (N,)).

    Raises:
        ValueError: unknown split or bad options.
    """
    if split not in DEFAULT_SIZES:
        raise ValueError(f"synthetic has splits {sorted(DEFAULT_SIZES)}, got {split!r}.")
    shape = check_synthetic_options(input_shape, num_classes, num_examples)
    n = DEFAULT_SIZES[split] if num_examples is None else int(num_examples)
    templates = np.random.default_rng([data_seed, 0]).random((num_classes,) + shape, dtype=np.float32)
    rng = np.random.default_rng([data_seed, _SPLIT_STREAM[split]])
    labels = rng.permutation(np.arange(n) % num_classes).astype(np.int64)
    noise = rng.random((n,) + shape, dtype=np.float32)
    images = TEMPLATE_WEIGHT * templates[labels] + (1.0 - TEMPLATE_WEIGHT) * noise
    return np.clip(images, 0.0, 1.0).astype(np.float32), labels
