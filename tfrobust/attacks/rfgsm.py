"""R+FGSM: a random step, then a gradient step (Tramèr et al. 2018, "Ensemble adversarial training").

A single-step attack that escapes the sharp curvature a one-step adversarially trained model puts
right at the data point (gradient masking, seed 003):

    x' = clip(x + alpha * sign(N(0, I)), low, high)
    x_adv = clip(x' + (eps - alpha) * sign(grad_x' J(x', y)), low, high)

so ||x_adv - x||_inf <= eps. The L2 variant uses alpha * n / ||n||_2 and (eps - alpha) * g / ||g||_2.
"""
from __future__ import annotations

import tensorflow as tf

from tfrobust.attacks import _compiled
from tfrobust.attacks._inputs import check_flag, check_seed, make_generator, prepare
from tfrobust.attacks.norms import project, steepest_direction
from tfrobust.validation import NORMS, check_choice, check_epsilon


def rfgsm(model, x, y, *, eps, alpha, norm="linf", bounds=(0, 1), targeted=False, seed=None) -> tf.Tensor:
    """R+FGSM (Tramèr et al. 2018): random step of size alpha, then a gradient step of size eps - alpha.

    Args:
        model: callable from images to logits (see ``fgsm``).
        x: float images in ``bounds``.
        y: true labels (untargeted) or target labels (targeted), sparse or one-hot.
        eps: total perturbation budget (eps == 0 returns x unchanged).
        alpha: size of the random step, 0 < alpha < eps (Tramèr et al. use eps / 2).
        norm: "linf" or "l2".
        bounds: (low, high) pixel range.
        targeted: descend the target's cross entropy instead of ascending the true label's.
        seed: integer for a reproducible random step.

    Returns:
        float32 tensor of adversarial examples inside the eps-ball and the bounds.

    Raises:
        TypeError, ValueError: bad images, labels, eps, alpha (not in (0, eps)), norm or seed.
    """
    norm = check_choice(norm, NORMS, "norm")
    targeted = check_flag(targeted, "targeted")
    eps = check_epsilon(eps, bounds, norm)
    alpha = check_epsilon(alpha, bounds, norm, name="alpha")
    seed = check_seed(seed)
    inputs = prepare(model, x, y, bounds)
    if eps == 0:
        return inputs.x
    if not 0 < alpha < eps:
        raise ValueError(f"alpha must satisfy 0 < alpha < eps for R+FGSM, got alpha={alpha}, eps={eps}; "
                         f"Tramèr et al. use alpha = eps / 2.")
    noise = make_generator(seed).normal(tf.shape(inputs.x))
    x_random = tf.clip_by_value(inputs.x + alpha * steepest_direction(noise, norm), inputs.lo, inputs.hi)
    _, grad, _ = _compiled.loss_gradient(inputs.model, "ce", targeted)(x_random, inputs.labels, inputs.labels)
    x_adv = x_random + (eps - alpha) * steepest_direction(grad, norm)
    # The triangle inequality keeps x_adv in the ball; projecting again only removes rounding error.
    return tf.clip_by_value(inputs.x + project(x_adv - inputs.x, eps, norm), inputs.lo, inputs.hi)
