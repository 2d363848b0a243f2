"""How image-like a saliency map is: does its mass sit on the object?

Tsipras, Santurkar, Engstrom, Turner & Madry (2019), "Robustness may be at odds with accuracy", show that the
input gradients of adversarially trained models look like the images (Fig. 2), those of standard models like
noise. Two numbers for that impression, for images whose object is the bright pixels (digits):

- ``saliency_mass_on_object``: sum of |M| over the object mask / sum of |M| (the object: pixels above
  ``threshold``); a map uniform over the image scores the object's area share.
- ``mask_correlation``: Pearson correlation of |M| with the object mask, per image.
"""
from __future__ import annotations

import numpy as np


def _flat(saliency, x, threshold):
    saliency = np.abs(np.asarray(saliency, np.float64)).reshape(len(saliency), -1)
    mask = (np.asarray(x, np.float64) > threshold).reshape(len(x), -1)
    if saliency.shape != mask.shape:
        raise ValueError(f"saliency and images must have the same shape, got {saliency.shape} and {mask.shape}.")
    return saliency, mask


def saliency_mass_on_object(saliency, x, *, threshold: float = 0.5) -> np.ndarray:
    """Per image, the share of the map's absolute mass on the object's pixels (x > threshold).

    Returns:
        float64 (N,) in [0, 1] (NaN for an all-zero map).
    """
    saliency, mask = _flat(saliency, x, threshold)
    total = saliency.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (saliency * mask).sum(axis=1) / total, np.nan)


def mask_correlation(saliency, x, *, threshold: float = 0.5) -> np.ndarray:
    """Per image, the Pearson correlation between |saliency| and the object mask (NaN if either is constant)."""
    saliency, mask = _flat(saliency, x, threshold)
    s = saliency - saliency.mean(axis=1, keepdims=True)
    m = mask - mask.mean(axis=1, keepdims=True)
    denominator = np.sqrt((s ** 2).sum(axis=1) * (m ** 2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (s * m).sum(axis=1) / denominator, np.nan)
