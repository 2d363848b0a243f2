"""Random sign noise of size eps: the baseline every real attack must beat.

Carlini et al. (2019, "On evaluating adversarial robustness", Sec. 5) list "random noise is as effective
as the attack" among the signs that an evaluation is broken (e.g. by gradient masking): a gradient attack
that follows a useful gradient is far stronger than a random corner of the L-inf ball. Each draw is

    x' = clip(x + eps * s, low, high),   s uniform in {-1, +1}^d,

and with ``restarts > 1`` each example keeps the first draw that fools the model (else the last draw).
The noise is drawn with numpy for the whole input at once, so chunking (``batch_size``) changes nothing.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfrobust.attacks import _compiled
from tfrobust.attacks._inputs import check_batch_size, check_flag, check_seed, chunks, prepare
from tfrobust.attacks.info import attack_info, measure_outcome
from tfrobust.attacks.registry import register
from tfrobust.validation import LOSSES, check_choice, check_epsilon, check_positive


def noise(model, x, y, *, eps, norm="linf", loss="ce", targeted=False, bounds=(0.0, 1.0), seed=None,
          batch_size=None, return_info=False, restarts=1):
    """Uniform random sign noise of L-inf size ``eps`` (the Carlini et al. 2019 baseline).

    Args:
        model: callable from images to logits (used to keep, per example, the first fooling draw).
        x: float images in ``bounds``.
        y: true labels (untargeted) or target labels (targeted), sparse or one-hot.
        eps: L-inf size of the noise in pixel units (eps == 0 returns x unchanged).
        norm: "linf" only (sign noise is an L-inf perturbation).
        loss: the loss reported in the info dict ("ce", "margin" or "dlr").
        targeted: a draw succeeds when it reaches y instead of leaving it.
        bounds: (low, high) pixel range.
        seed: numpy seed for reproducible noise; ``None`` for fresh randomness.
        batch_size: evaluate the draws in chunks of this many examples.
        return_info: also return ``tfrobust.attacks.info.attack_info``'s dict.
        restarts: number of noise draws per example.

    Returns:
        float32 tensor of noisy images like x; with ``return_info`` the pair (x_adv, info).

    Raises:
        TypeError, ValueError: bad images, labels, eps, norm (not "linf"), restarts or seed.
    """
    if norm != "linf":
        raise ValueError(f"Random sign noise is an L-inf (linf) perturbation; use norm='linf', got {norm!r}.")
    loss = check_choice(loss, LOSSES, "loss")
    targeted = check_flag(targeted, "targeted")
    return_info = check_flag(return_info, "return_info")
    eps = check_epsilon(eps, bounds, norm)
    restarts = int(check_positive(restarts, "restarts", integer=True))
    seed = check_seed(seed)
    batch_size = check_batch_size(batch_size)
    inputs = prepare(model, x, y, bounds, targeted=targeted)
    n = int(inputs.x.shape[0])
    if eps == 0:
        best = inputs.x.numpy()
        draws_done = 0
    else:
        rng = np.random.default_rng(seed)
        x_np = inputs.x.numpy()
        best, fooled = None, np.zeros(n, dtype=bool)
        draws_done = 0
        for _ in range(restarts):
            signs = rng.integers(0, 2, size=x_np.shape).astype(np.float32) * 2.0 - 1.0
            noisy = np.clip(x_np + eps * signs, inputs.lo, inputs.hi).astype(np.float32)
            if best is None:
                best = noisy
            else:
                best[~fooled] = noisy[~fooled]
            draws_done += 1
            if restarts > 1:
                fooled |= _succeeded(inputs, best, targeted, batch_size)
                if fooled.all():
                    break
    x_adv = tf.constant(best)
    if not return_info:
        return x_adv
    losses, success = measure_outcome(inputs, x_adv, loss=loss, targeted=targeted, batch_size=batch_size)
    return x_adv, attack_info(success=success, loss=losses, x=inputs.x, x_adv=x_adv, norm=norm,
                              forward_passes=n * (draws_done + 1))


def _succeeded(inputs, images: np.ndarray, targeted: bool, batch_size) -> np.ndarray:
    parts = []
    for part in chunks(int(images.shape[0]), batch_size):
        logits = inputs.model(tf.constant(images[part]))
        parts.append(_compiled.attack_succeeded(logits, inputs.labels[part], targeted).numpy())
    return np.concatenate(parts)


register("noise", noise, norms=("linf",), needs_gradient=False)
