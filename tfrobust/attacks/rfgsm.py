"""R+FGSM: a random step, then a gradient step (Tramèr et al. 2018, "Ensemble adversarial training").

A single-step attack that escapes the sharp curvature a one-step adversarially trained model puts
right at the data point (gradient masking, seed 003):

    x' = clip(x + alpha * sign(N(0, I)), low, high)
    x_adv = clip(x' + (eps - alpha) * sign(grad_x' J(x', y)), low, high)

so ||x_adv - x||_inf <= eps. The L2 variant uses alpha * n / ||n||_2 and (eps - alpha) * g / ||g||_2.
Tramèr et al. use alpha = eps / 2, the default here and in specs. The random step is drawn for the
whole input at once, so chunking (``batch_size``) changes nothing.
"""
from __future__ import annotations

import tensorflow as tf

from tfrobust.attacks import _compiled
from tfrobust.attacks._inputs import (check_batch_size, check_flag, check_loss_classes, check_seed, chunks,
                                      make_generator, prepare)
from tfrobust.attacks.info import attack_info, measure_outcome
from tfrobust.attacks.norms import steepest_direction
from tfrobust.attacks.pgd_step import project_to_ball
from tfrobust.attacks.registry import register
from tfrobust.validation import LOSSES, NORMS, check_choice, check_epsilon


def rfgsm(model, x, y, *, eps, norm="linf", loss="ce", targeted=False, bounds=(0.0, 1.0), seed=None,
          batch_size=None, return_info=False, alpha=None, y_true=None):
    """R+FGSM (Tramèr et al. 2018): random step of size alpha, then a gradient step of size eps - alpha.

    Args:
        model: callable from images to logits (see ``fgsm``).
        x: float images in ``bounds``.
        y: true labels (untargeted) or target labels (targeted), sparse or one-hot.
        eps: total perturbation budget (eps == 0 returns x unchanged).
        norm: "linf" or "l2".
        loss: attack loss of the gradient step, "ce", "margin" or "dlr".
        targeted: descend the target's loss instead of ascending the true label's.
        y_true: targeted only, optional: the true labels; a row whose target equals its true label is refused
            (an exact check; without y_true, targets that are mostly the clean predictions are refused).
        bounds: (low, high) pixel range.
        seed: integer for a reproducible random step.
        batch_size: if given, take the gradient step in chunks of this many examples.
        return_info: also return ``tfrobust.attacks.info.attack_info``'s dict.
        alpha: size of the random step, 0 < alpha < eps; ``None`` gives eps / 2 (Tramèr et al.).

    Returns:
        float32 tensor of adversarial examples inside the eps-ball and the bounds; with ``return_info``
        the pair (x_adv, info).

    Raises:
        TypeError, ValueError: bad images, labels, eps, alpha (not in (0, eps)), norm, loss or seed.
    """
    norm = check_choice(norm, NORMS, "norm")
    loss = check_choice(loss, LOSSES, "loss")
    targeted = check_flag(targeted, "targeted")
    return_info = check_flag(return_info, "return_info")
    eps = check_epsilon(eps, bounds, norm)
    alpha = eps / 2.0 if alpha is None else check_epsilon(alpha, bounds, norm, name="alpha")
    seed = check_seed(seed)
    batch_size = check_batch_size(batch_size)
    inputs = prepare(model, x, y, bounds, targeted=targeted, true_labels=y_true)
    check_loss_classes(loss, inputs.model.num_classes, targeted)
    n = int(inputs.x.shape[0])
    if eps == 0:
        x_adv = inputs.x
    else:
        if not 0 < alpha < eps:
            raise ValueError(f"alpha must satisfy 0 < alpha < eps for R+FGSM, got alpha={alpha}, eps={eps}; "
                             f"Tramèr et al. use alpha = eps / 2.")
        noise = make_generator(seed).normal(tf.shape(inputs.x))
        x_random = tf.clip_by_value(inputs.x + alpha * steepest_direction(noise, norm), inputs.lo, inputs.hi)
        grad_fn = _compiled.loss_gradient(inputs.model, loss, targeted)
        pieces = []
        for part in chunks(n, batch_size):
            labels = inputs.labels[part]
            source = _compiled.source_labels(inputs.model, inputs.x[part], labels, loss, targeted)
            _, grad, _ = grad_fn(x_random[part], labels, source)
            # The triangle inequality keeps the step in the ball; projecting again only removes rounding error.
            pieces.append(project_to_ball(inputs.x[part], x_random[part] + (eps - alpha) * steepest_direction(grad, norm),
                                          eps=eps, norm=norm, lo=inputs.lo, hi=inputs.hi))
        x_adv = tf.concat(pieces, axis=0)
    if not return_info:
        return x_adv
    losses, success = measure_outcome(inputs, x_adv, loss=loss, targeted=targeted, batch_size=batch_size)
    return x_adv, attack_info(success=success, loss=losses, x=inputs.x, x_adv=x_adv, norm=norm,
                              example_steps=0 if eps == 0 else n, forward_passes=n)


register("rfgsm", rfgsm, eps_defaults=lambda eps, settings: {"alpha": eps / 2.0},
         label=lambda s: "rfgsm" + ("" if s["norm"] == "linf" else f"-{s['norm']}"))
