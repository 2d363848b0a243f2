"""MNIST-M-style digits: mnist5k digits blended over patches of real colour photographs (offline).

Ganin & Lempitsky (2015, "Unsupervised domain adaptation by backpropagation", Sec. 4.1) built MNIST-M by
blending MNIST digits over patches randomly extracted from the colour photos of BSDS500, with the difference
blend

    out_{ijc} = | patch_{ijc} - digit_{ij} |          (pixel values in [0, 1], c = R, G, B).

BSDS500 needs a download; scikit-learn ships two real photographs (``sklearn.datasets.load_sample_images``:
a Chinese temple and a flower, 427 x 640 RGB), so the patches here come from those. Each digit gets its own
28 x 28 patch at a random position of a randomly chosen photograph, rescaled by a random factor in [0.25, 1]
first (more texture variety from two photos). The digits are mnist5k's (``tfrobust.data.mnist5k``), so the
target domain has the same labels as the source: the train split blends the 4,000 training digits, the test
split the 1,000 test digits, with different seeds for the patches.

This differs from the paper's MNIST-M in the photos (2 vs 500) and the digit count (5,000 vs 70,000).
"""
from __future__ import annotations

import functools

import numpy as np

from tfrobust.data.mnist5k import load_mnist5k

PATCH_SEEDS = {"train": 1, "test": 2}
MIN_SCALE = 0.25


@functools.lru_cache(maxsize=1)
def _photographs():
    try:
        from sklearn.datasets import load_sample_images
    except ImportError as err:  # pragma: no cover - scikit-learn is an install requirement
        raise ImportError("MNIST-M-style digits need scikit-learn's sample photographs: pip install scikit-learn"
                          ) from err
    return tuple(np.asarray(image, np.float32) / 255.0 for image in load_sample_images().images)


def _rescaled(photo: np.ndarray, scale: float) -> np.ndarray:
    """``photo`` shrunk by ``scale`` (nearest neighbour, enough for texture patches)."""
    h, w = photo.shape[:2]
    rows = np.minimum((np.arange(max(28, int(h * scale))) / scale).astype(int), h - 1)
    cols = np.minimum((np.arange(max(28, int(w * scale))) / scale).astype(int), w - 1)
    return photo[rows][:, cols]


def random_patches(count: int, seed: int, size: int = 28) -> np.ndarray:
    """``count`` random ``size`` x ``size`` RGB patches of scikit-learn's sample photographs, float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    photos = _photographs()
    scales = np.linspace(MIN_SCALE, 1.0, 8)
    pyramid = [[_rescaled(p, s) for s in scales] for p in photos]
    out = np.empty((count, size, size, 3), np.float32)
    for i in range(count):
        image = pyramid[rng.integers(len(photos))][rng.integers(len(scales))]
        top = rng.integers(image.shape[0] - size + 1)
        left = rng.integers(image.shape[1] - size + 1)
        out[i] = image[top:top + size, left:left + size]
    return out


def blend(digits: np.ndarray, patches: np.ndarray) -> np.ndarray:
    """Ganin & Lempitsky's difference blend ``|patch - digit|`` of (N, 28, 28, 1) digits and (N, 28, 28, 3) patches."""
    return np.abs(patches - digits).astype(np.float32)


def load_mnist_m(split: str = "train"):
    """MNIST-M-style digits: (images float32 (N, 28, 28, 3) in [0, 1], labels int64).

    Args:
        split: "train" (4,000, from mnist5k's training digits) or "test" (1,000, from its test digits).

    Raises:
        ValueError: another split.
    """
    if split not in PATCH_SEEDS:
        raise ValueError(f"MNIST-M-style digits have splits 'train' (4,000) and 'test' (1,000), got {split!r}.")
    digits, labels = load_mnist5k(split)
    return blend(digits, random_patches(len(digits), PATCH_SEEDS[split])), labels


def as_rgb(images: np.ndarray) -> np.ndarray:
    """Grey (N, H, W, 1) images repeated to 3 channels (the source domain of MNIST -> MNIST-M)."""
    return np.repeat(np.asarray(images, np.float32), 3, axis=-1)
