"""scikit-learn's 8 x 8 handwritten digits, upsampled to MNIST's 28 x 28 layout (offline).

``sklearn.datasets.load_digits`` holds 1,797 digits of 8 x 8 pixels with 17 grey levels (0..16), written by 43
people (UCI "Optical Recognition of Handwritten Digits", Alpaydin & Kaynak 1998). MNIST digits fill a 20 x 20
box centred in 28 x 28, so each digit is scaled to [0, 1], resized bilinearly to 20 x 20 and padded by 4 pixels:
the same frame as MNIST, a different writer population, sampling and stroke style (a second real domain).

Split: fixed, stratified and seeded: about 80% train (1,438) and 20% test (359).
"""
from __future__ import annotations

import functools

import numpy as np

from tfrobust.data.splits import stratified_split

SPLIT_SEED = 0
TEST_SHARE = 0.2
DIGIT_BOX = 20
IMAGE_SIZE = 28


def _bilinear_matrix(source: int, target: int) -> np.ndarray:
    """(target, source) matrix of bilinear interpolation with aligned pixel centres."""
    positions = (np.arange(target) + 0.5) * source / target - 0.5
    positions = np.clip(positions, 0, source - 1)
    low = np.floor(positions).astype(int)
    high = np.minimum(low + 1, source - 1)
    frac = positions - low
    matrix = np.zeros((target, source))
    matrix[np.arange(target), low] += 1 - frac
    matrix[np.arange(target), high] += frac
    return matrix


def upsample(digits: np.ndarray) -> np.ndarray:
    """(N, 8, 8) digits in [0, 1] -> (N, 28, 28, 1): bilinear to 20 x 20, centred with 4 pixels of padding."""
    m = _bilinear_matrix(digits.shape[1], DIGIT_BOX)
    boxes = np.einsum("ij,njk,lk->nil", m, digits, m)
    pad = (IMAGE_SIZE - DIGIT_BOX) // 2
    out = np.zeros((len(digits), IMAGE_SIZE, IMAGE_SIZE, 1), np.float32)
    out[:, pad:pad + DIGIT_BOX, pad:pad + DIGIT_BOX, 0] = np.clip(boxes, 0.0, 1.0)
    return out


@functools.lru_cache(maxsize=1)
def _all_digits():
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:  # pragma: no cover - scikit-learn is an install requirement
        raise ImportError("sklearn digits need scikit-learn: pip install scikit-learn") from err
    bunch = load_digits()
    return upsample(bunch.images / 16.0), bunch.target.astype(np.int64)


@functools.lru_cache(maxsize=1)
def _split_indices():
    _, labels = _all_digits()
    return stratified_split(labels, seed=SPLIT_SEED, head_size=lambda n: int(round(TEST_SHARE * n)),
                            head_is_train=False)


def load_sklearn_digits(split: str = "train"):
    """(images float32 (N, 28, 28, 1) in [0, 1], labels int64) for split "train" (1,438) or "test" (359).

    Raises:
        ValueError: another split.
    """
    images, labels = _all_digits()
    train, test = _split_indices()
    if split not in ("train", "test"):
        raise ValueError(f"sklearn_digits has splits 'train' (1,438) and 'test' (359), got {split!r}.")
    idx = train if split == "train" else test
    return images[idx], labels[idx]
