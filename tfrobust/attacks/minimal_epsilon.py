"""Minimal FGSM epsilon per example on a grid (seed 004).

Seed 004 measures robustness as the smallest eps for which the FGSM image
x + eps * sign(grad_x CE(x, y)) (Goodfellow et al. 2015), clipped to the bounds, is misclassified.
The gradient direction does not depend on eps, so it is computed once and only the forward pass is
repeated for each grid value. The L2 variant steps eps * g / ||g||_2; the targeted variant descends the
target's cross entropy and succeeds when the target is reached.

This is a minimal-perturbation attack: it returns a ``MinimalPerturbation`` whose ``norms`` are the norms of
the returned FGSM images' perturbations (clipping to the bounds can make them smaller than the step, mostly for
L2), and whose ``info["epsilon"]`` is seed 004's number, the per-example minimal grid eps (0 where x is already
misclassified, inf where no grid value flips it).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfrobust.attacks import _compiled
from tfrobust.attacks._inputs import check_batch_size, check_flag, check_seed, chunks, prepare
from tfrobust.attacks.info import MinimalPerturbation
from tfrobust.attacks.norms import perturbation_norm, steepest_direction
from tfrobust.attacks.registry import register
from tfrobust.validation import NORMS, check_bounds, check_choice, check_epsilon

DEFAULT_GRID_POINTS = 51


def _check_epsilons(epsilons, bounds, norm, dim: int) -> np.ndarray:
    if epsilons is None:  # up to half the range per pixel (L-inf), or a quarter of the diagonal (L2)
        lo, hi = bounds
        top = 0.5 * (hi - lo) if norm == "linf" else 0.25 * np.sqrt(dim) * (hi - lo)
        return np.linspace(0.0, top, DEFAULT_GRID_POINTS)
    try:
        grid = np.asarray(epsilons, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(f"epsilons must be a list of numbers, got {epsilons!r}.") from None
    if grid.size == 0:
        raise ValueError("epsilons is empty; pass a grid of at least one epsilon, e.g. np.linspace(0, 0.3, 16).")
    for eps in grid:
        check_epsilon(float(eps), bounds, norm, name="every value of epsilons")
    return np.sort(grid)


def minimal_epsilon(model, x, y, epsilons=None, *, norm="linf", targeted=False, bounds=(0.0, 1.0), seed=None,
                    batch_size=None) -> MinimalPerturbation:
    """Per example, the smallest eps of the grid at which FGSM misclassifies it (seed 004).

    Args:
        model: callable from images to logits (see ``fgsm``).
        x: float images in ``bounds``.
        y: true labels (target labels when ``targeted``), sparse or one-hot.
        epsilons: the grid of eps values (any order; finite, >= 0, at most the bounds range); ``None``
            gives 51 values from 0 to half the bounds range (L-inf) or a quarter of the image diagonal (L2).
        norm: "linf" (sign step) or "l2" (normalised-gradient step).
        targeted: descend the target's cross entropy; success means reaching y.
        bounds: (low, high) pixel range; FGSM images are clipped to it.
        seed: accepted for the minimal-attack contract; the search is deterministic.
        batch_size: compute the gradients in chunks of this many examples.

    Returns:
        A ``MinimalPerturbation``: ``info["epsilon"]`` is the minimal grid eps (float64 (N,)), 0.0 where x
        itself is misclassified (or already the target), ``np.inf`` where no grid value succeeds; ``x_adv``
        the FGSM image at that eps (x where none); ``norms`` its perturbation norm (inf where none);
        ``info["grid"]`` the sorted grid.

    Raises:
        TypeError, ValueError: bad images, labels, bounds, norm or epsilons (empty, NaN, negative, too large).
    """
    bounds = check_bounds(bounds)
    norm = check_choice(norm, NORMS, "norm")
    targeted = check_flag(targeted, "targeted")
    check_seed(seed)
    batch_size = check_batch_size(batch_size)
    if epsilons is not None:
        _check_epsilons(epsilons, bounds, norm, 1)  # a bad grid fails before the model is touched
    inputs = prepare(model, x, y, bounds, targeted=targeted)
    grid = _check_epsilons(epsilons, bounds, norm, int(np.prod(inputs.x.shape[1:])))
    grad_fn = _compiled.loss_gradient(inputs.model, "ce", targeted)
    predict = _compiled.evaluate(inputs.model, "ce", targeted)
    results, images = [], []
    for part in chunks(int(inputs.x.shape[0]), batch_size):
        x_part, labels = inputs.x[part], inputs.labels[part]
        _, grad, clean_logits = grad_fn(x_part, labels, labels)
        direction = steepest_direction(grad, norm)
        result = np.where(_compiled.attack_succeeded(clean_logits, labels, targeted).numpy(), 0.0, np.inf)
        best = x_part.numpy()
        for eps in grid:
            pending = np.isinf(result)
            if not pending.any():
                break
            x_eps = tf.clip_by_value(x_part + float(eps) * direction, inputs.lo, inputs.hi)
            _, logits = predict(x_eps, labels, labels)
            flipped = pending & _compiled.attack_succeeded(logits, labels, targeted).numpy()
            result = np.where(flipped, eps, result)
            best[flipped] = x_eps.numpy()[flipped]
        results.append(result)
        images.append(best)
    epsilon = np.concatenate(results)
    x_adv = tf.constant(np.concatenate(images))
    norms = np.where(np.isfinite(epsilon), perturbation_norm(x_adv - inputs.x, norm).numpy().astype(np.float64),
                     np.inf)
    return MinimalPerturbation(x_adv=x_adv, norms=norms, success=np.isfinite(epsilon), norm=norm,
                               info={"epsilon": epsilon, "grid": grid})


register("minimal_epsilon", minimal_epsilon, kind="minimal", aliases=("minimal-fgsm",),
         label=lambda s: "minimal-fgsm" + ("" if s["norm"] == "linf" else f"-{s['norm']}"))
