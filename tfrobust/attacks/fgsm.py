"""Fast gradient sign method (Goodfellow, Shlens & Szegedy 2015, "Explaining and harnessing adversarial examples").

One step of size eps along the steepest-ascent direction of the attack loss J at x:

    L-inf: x_adv = clip(x + eps * sign(grad_x J(x, y)), low, high)
    L2:    x_adv = clip(x + eps * g / ||g||_2, low, high),  g = grad_x J(x, y)

Targeted (seed 001): y holds the target labels and the step descends the target's cross entropy,
x_adv = x - eps * sign(grad_x CE(x, t)).
"""
from __future__ import annotations

import tensorflow as tf

from tfrobust.attacks import _compiled
from tfrobust.attacks._inputs import check_batch_size, check_flag, check_loss_classes, check_seed, chunks, prepare
from tfrobust.attacks.info import attack_info, measure_outcome
from tfrobust.attacks.norms import steepest_direction
from tfrobust.attacks.registry import register
from tfrobust.validation import LOSSES, NORMS, check_choice, check_epsilon


def fgsm(model, x, y, *, eps, norm="linf", loss="ce", targeted=False, bounds=(0.0, 1.0), seed=None, batch_size=None,
         return_info=False, y_true=None):
    """Fast gradient sign method (Goodfellow et al. 2015); the L2 variant steps eps * g / ||g||_2.

    Args:
        model: callable from images to logits (tf_keras, Keras 3, SavedModel function); a softmax
            output is detected and attacked on log-probabilities. Called with ``training=False``.
        x: float images in ``bounds``, shape (batch, ...).
        y: true labels (untargeted) or target labels (targeted), sparse (batch,) or one-hot.
        eps: perturbation size in pixel units (>= 0; eps == 0 returns x unchanged).
        norm: "linf" (sign step) or "l2" (normalised-gradient step).
        targeted: move towards y instead of away from it.
        y_true: targeted only, optional: the true labels; a row whose target equals its true label is refused
            (an exact check; without y_true, targets that are mostly the clean predictions are refused).
        bounds: (low, high) pixel range; the result is clipped to it.
        loss: attack loss to ascend, "ce", "margin" or "dlr" (see ``tfrobust.attacks.losses``).
        seed: accepted for the common attack contract; FGSM is deterministic.
        batch_size: if given, attack x in chunks of this many examples.
        return_info: also return ``tfrobust.attacks.info.attack_info``'s dict (one more forward pass).

    Returns:
        float32 tensor of adversarial examples, same shape as x, with ||x_adv - x|| <= eps; with
        ``return_info`` the pair (x_adv, info).

    Raises:
        TypeError, ValueError: bad images, labels, eps, norm, loss or bounds.
    """
    norm = check_choice(norm, NORMS, "norm")
    loss = check_choice(loss, LOSSES, "loss")
    targeted = check_flag(targeted, "targeted")
    return_info = check_flag(return_info, "return_info")
    eps = check_epsilon(eps, bounds, norm)
    check_seed(seed)
    batch_size = check_batch_size(batch_size)
    inputs = prepare(model, x, y, bounds, targeted=targeted, true_labels=y_true)
    check_loss_classes(loss, inputs.model.num_classes, targeted)
    n = int(inputs.x.shape[0])
    grad_fn = _compiled.loss_gradient(inputs.model, loss, targeted)
    eps_t = tf.constant(eps, tf.float32)
    pieces = []
    for part in chunks(n, batch_size):
        x_part, labels = inputs.x[part], inputs.labels[part]
        if eps == 0:
            pieces.append(x_part)
        else:
            source = _compiled.source_labels(inputs.model, x_part, labels, loss, targeted)
            _, grad, _ = grad_fn(x_part, labels, source)
            pieces.append(tf.clip_by_value(x_part + eps_t * steepest_direction(grad, norm), inputs.lo, inputs.hi))
    x_adv = pieces[0] if len(pieces) == 1 else tf.concat(pieces, axis=0)
    if not return_info:
        return x_adv
    losses, success = measure_outcome(inputs, x_adv, loss=loss, targeted=targeted, batch_size=batch_size)
    return x_adv, attack_info(success=success, loss=losses, x=inputs.x, x_adv=x_adv, norm=norm,
                              example_steps=0 if eps == 0 else n, forward_passes=n)


register("fgsm", fgsm, label=lambda s: "fgsm" + ("" if s["loss"] == "ce" else f"-{s['loss']}")
         + ("" if s["norm"] == "linf" else f"-{s['norm']}"))
