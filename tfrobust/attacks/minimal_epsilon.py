"""Minimal FGSM epsilon per example on a grid (seed 004).

Seed 004 measures robustness as the smallest eps for which the FGSM image
x + eps * sign(grad_x CE(x, y)) (Goodfellow et al. 2015), clipped to the bounds, is misclassified.
The gradient direction does not depend on eps, so it is computed once and only the forward pass is
repeated for each grid value.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfrobust.attacks import _compiled
from tfrobust.attacks._inputs import prepare
from tfrobust.validation import check_bounds, check_epsilon


def _check_epsilons(epsilons, bounds) -> np.ndarray:
    try:
        grid = np.asarray(epsilons, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(f"epsilons must be a list of numbers, got {epsilons!r}.") from None
    if grid.size == 0:
        raise ValueError("epsilons is empty; pass a grid of at least one epsilon, e.g. np.linspace(0, 0.3, 16).")
    for eps in grid:
        check_epsilon(float(eps), bounds, "linf", name="every value of epsilons")
    return np.sort(grid)


def minimal_epsilon(model, x, y, epsilons, *, bounds=(0, 1)) -> np.ndarray:
    """Per example, the smallest eps of the grid at which L-inf FGSM misclassifies it (seed 004).

    Args:
        model: callable from images to logits (see ``fgsm``).
        x: float images in ``bounds``.
        y: true labels, sparse or one-hot.
        epsilons: the grid of eps values (any order; finite, >= 0, at most the bounds range).
        bounds: (low, high) pixel range; FGSM images are clipped to it.

    Returns:
        float64 array of shape (batch,): the minimal grid eps; 0.0 where x itself is misclassified;
        ``np.inf`` where no grid value flips the prediction.

    Raises:
        TypeError, ValueError: bad images, labels, bounds or epsilons (empty, NaN, negative, too large).
    """
    check_bounds(bounds)
    grid = _check_epsilons(epsilons, bounds)
    inputs = prepare(model, x, y, bounds)
    _, grad, clean_logits = _compiled.loss_gradient(inputs.model, "ce", False)(inputs.x, inputs.labels, inputs.labels)
    direction = tf.sign(grad)
    predict = _compiled.evaluate(inputs.model, "ce", False)
    result = np.where(_compiled.attack_succeeded(clean_logits, inputs.labels, False).numpy(), 0.0, np.inf)
    for eps in grid:
        pending = np.isinf(result)
        if not pending.any():
            break
        x_eps = tf.clip_by_value(inputs.x + float(eps) * direction, inputs.lo, inputs.hi)
        _, logits = predict(x_eps, inputs.labels, inputs.labels)
        flipped = _compiled.attack_succeeded(logits, inputs.labels, False).numpy()
        result = np.where(pending & flipped, eps, result)
    return result
