"""Class-stratified train/test splits of small offline datasets (mnist5k, scikit-learn's 8x8 digits)."""
from __future__ import annotations

from typing import Callable, Tuple

import numpy as np


def stratified_split(labels, *, seed: int, head_size: Callable[[int], int],
                     head_is_train: bool) -> Tuple[np.ndarray, np.ndarray]:
    """Splits example indices class by class, the same way for a given seed.

    For each class ``c`` (in order 0..9, one generator ``default_rng(seed)``), its indices are permuted and the
    first ``head_size(n_c)`` of them form the head, the rest the tail.

    Args:
        labels: integer labels, shape (N,).
        seed: the split's fixed seed.
        head_size: number of head examples for a class of ``n_c`` examples.
        head_is_train: whether the head is the train split (else the test split).

    Returns:
        (train indices, test indices), each sorted.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    head, tail = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n = head_size(idx.size)
        head.append(idx[:n])
        tail.append(idx[n:])
    head, tail = np.sort(np.concatenate(head)), np.sort(np.concatenate(tail))
    return (head, tail) if head_is_train else (tail, head)
