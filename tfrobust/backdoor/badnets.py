"""BadNets (Gu, Dolan-Gavitt & Garg 2017, "BadNets: identifying vulnerabilities in the machine learning model
supply chain").

A trigger is a small pattern stamped onto an image through a mask,

    x' = (1 - m) * x + m * p

(m = 1 on the trigger's pixels, p the pattern; the paper's MNIST triggers are a single bright pixel or a
small pattern near the bottom-right corner). Poisoning at rate r stamps the trigger onto a fraction r of the
training images and relabels them to the attacker's target class t (the paper's "all-to-one" attack). A model
trained on the poisoned set keeps its clean accuracy and predicts t on triggered inputs: the paper's MNIST
backdoors keep the clean error within ~0.2 points of the baseline and misclassify >99% of triggered images.

The attack success rate (ASR) is measured on test images whose true label is not t: the share that the model
assigns to t once triggered.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np
import tensorflow as tf

from tfrobust.logits import as_logits_model
from tfrobust.validation import check_images, check_labels


@dataclasses.dataclass(frozen=True)
class Trigger:
    """A trigger: an image-shaped pattern and a mask in [0, 1].

    Attributes:
        pattern: float32 (H, W, C), the pixel values stamped where the mask is 1.
        mask: float32 (H, W, C), 1 on the trigger, 0 elsewhere (fractional values blend).
    """

    pattern: np.ndarray
    mask: np.ndarray

    @classmethod
    def square(cls, image_shape, size: int = 4, *, value: float = 1.0, margin: int = 1,
               checkerboard: bool = True) -> "Trigger":
        """A size x size patch ``margin`` pixels from the bottom-right corner (the paper's pattern trigger).

        Args:
            image_shape: (H, W, C).
            size: side of the square, >= 1.
            value: pixel value of the bright cells.
            margin: distance from the bottom and right borders.
            checkerboard: alternate bright and dark cells (else a solid square).
        """
        h, w, c = (int(d) for d in image_shape)
        if not 1 <= size <= min(h, w) - margin or margin < 0:
            raise ValueError(f"A {size}x{size} trigger with margin {margin} does not fit a {h}x{w} image.")
        mask = np.zeros((h, w, c), np.float32)
        pattern = np.zeros((h, w, c), np.float32)
        rows = slice(h - margin - size, h - margin)
        cols = slice(w - margin - size, w - margin)
        mask[rows, cols] = 1.0
        cells = np.indices((size, size)).sum(axis=0) % 2 == 0 if checkerboard else np.ones((size, size), bool)
        pattern[rows, cols] = np.where(cells, value, 0.0)[..., None]
        return cls(pattern=pattern, mask=mask)


def apply_trigger(x, trigger: Trigger) -> np.ndarray:
    """(1 - m) * x + m * p for every image of x (float32 numpy)."""
    x = np.asarray(x, np.float32)
    if x.shape[1:] != trigger.mask.shape:
        raise ValueError(f"The trigger is for images of shape {trigger.mask.shape}, got images of shape "
                         f"{x.shape[1:]}.")
    return (1.0 - trigger.mask) * x + trigger.mask * trigger.pattern


@dataclasses.dataclass(frozen=True)
class PoisonedData:
    """A poisoned training set.

    Attributes:
        x: images, a fraction of them triggered.
        y: labels, the triggered ones set to the target.
        poisoned: bool (N,), which examples were poisoned (for detection precision/recall).
        target: the target class.
    """

    x: np.ndarray
    y: np.ndarray
    poisoned: np.ndarray
    target: int


def poison(x, y, *, rate: float, target: int, trigger: Trigger, seed: Optional[int] = 0) -> PoisonedData:
    """Stamps the trigger onto round(rate * N) images drawn from the classes other than ``target`` and
    relabels them ``target`` (all-to-one BadNets).

    Args:
        x: training images in [0, 1], (N, H, W, C).
        y: sparse labels (N,).
        rate: share of the whole training set to poison, in (0, 1).
        target: the attacker's class.
        trigger: the ``Trigger``.
        seed: which examples are poisoned.

    Returns:
        ``PoisonedData``.

    Raises:
        ValueError: bad rate or target, or not enough non-target examples.
    """
    x = check_images(x).numpy()
    y = np.asarray(y).reshape(-1).astype(np.int64)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < 1:
        raise ValueError(f"rate must be a share in (0, 1), e.g. 0.05 for 5% poisoning, got {rate!r}.")
    if not isinstance(target, (int, np.integer)) or not 0 <= target <= int(y.max()):
        raise ValueError(f"target must be one of the label classes 0..{int(y.max())}, got {target!r}.")
    candidates = np.flatnonzero(y != target)
    count = int(round(rate * len(y)))
    if count > candidates.size:
        raise ValueError(f"Cannot poison {count} examples: only {candidates.size} are outside the target class.")
    chosen = np.random.default_rng(seed).choice(candidates, size=count, replace=False)
    poisoned = np.zeros(len(y), bool)
    poisoned[chosen] = True
    x_out, y_out = x.copy(), y.copy()
    x_out[chosen] = apply_trigger(x[chosen], trigger)
    y_out[chosen] = target
    return PoisonedData(x=x_out, y=y_out, poisoned=poisoned, target=int(target))


def _predict(model, x, batch: int = 512) -> np.ndarray:
    x = tf.constant(np.asarray(x, np.float32))
    logits_model = as_logits_model(model, x[:1])
    return np.concatenate([np.argmax(np.asarray(logits_model(x[i:i + batch])), axis=1)
                           for i in range(0, int(x.shape[0]), batch)])


def attack_success_rate(model, x, y, *, trigger: Trigger, target: int) -> float:
    """The share of triggered test images (true label != target) that the model classifies as ``target``.

    Args:
        model: callable images -> logits.
        x: clean test images.
        y: their true labels.
        trigger: the trigger.
        target: the attacker's class.

    Returns:
        The attack success rate in [0, 1].
    """
    x = check_images(x).numpy()
    y = np.asarray(y).reshape(-1)
    keep = y != target
    if not keep.any():
        raise ValueError("Every test image is of the target class; the attack success rate needs others.")
    return float(np.mean(_predict(model, apply_trigger(x[keep], trigger)) == target))


def accuracy(model, x, y) -> float:
    """Top-1 accuracy of ``model`` on (x, y)."""
    labels = check_labels(np.asarray(y).reshape(-1), int(np.max(y)) + 1).numpy()
    return float(np.mean(_predict(model, x) == labels))
