"""Random sign noise of size eps: the baseline every real attack must beat.

Carlini et al. (2019, "On evaluating adversarial robustness", Sec. 5) list "random noise is as
effective as the attack" among the signs that an evaluation is broken (e.g. by gradient masking):
a gradient attack that follows a useful gradient is far stronger than a random corner of the
L-inf ball. The noise is x' = clip(x + eps * s, low, high) with s uniform in {-1, +1}^d.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from tfrobust.validation import check_bounds, check_epsilon, check_images, check_positive


def random_sign_noise(model: Callable | None, x, y=None, *, eps: float, bounds: Sequence[float] = (0.0, 1.0),
                      draws: int = 1, seed: int | None = 0) -> tf.Tensor:
    """Adds uniform random sign noise of L-inf size ``eps`` (Carlini et al. 2019 baseline).

    With ``draws > 1`` (needs ``model`` and ``y``), several noise draws are tried and each example
    keeps the first draw that the model misclassifies (else the last draw).

    Args:
        model: callable images -> logits; only used when ``draws > 1``.
        x: images in ``bounds``, shape (batch, ...).
        y: sparse int labels, shape (batch,); only used when ``draws > 1``.
        eps: L-inf size of the noise, in pixel units.
        bounds: (low, high) of valid pixel values.
        draws: number of noise draws per example.
        seed: numpy seed for reproducible noise; ``None`` for fresh randomness.

    Returns:
        Noisy images, a float32 tensor of the shape of ``x``.

    Raises:
        ValueError: bad images, eps or draws, or ``draws > 1`` without model and labels.
    """
    lo, hi = check_bounds(bounds)
    x = check_images(x, bounds)
    eps = check_epsilon(eps, bounds)
    draws = int(check_positive(draws, "draws", integer=True))
    if draws > 1 and (model is None or y is None):
        raise ValueError("random_sign_noise with draws > 1 needs the model and the labels to pick fooling draws.")
    rng = np.random.default_rng(seed)
    x_np = x.numpy()
    best = None
    fooled = np.zeros(x_np.shape[0], dtype=bool)
    for _ in range(draws):
        signs = rng.integers(0, 2, size=x_np.shape).astype(np.float32) * 2.0 - 1.0
        noisy = np.clip(x_np + eps * signs, lo, hi).astype(np.float32)
        if best is None:
            best = noisy
        else:
            best[~fooled] = noisy[~fooled]
        if draws > 1:
            pred = np.argmax(np.asarray(model(tf.constant(best))), axis=1)
            fooled |= pred != np.asarray(y)
            if fooled.all():
                break
    return tf.constant(best)
