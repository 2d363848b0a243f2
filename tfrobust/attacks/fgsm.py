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
from tfrobust.attacks._inputs import check_batch_size, check_flag, check_loss_classes, chunks, prepare
from tfrobust.attacks.norms import steepest_direction
from tfrobust.validation import LOSSES, NORMS, check_choice, check_epsilon


def fgsm(model, x, y, *, eps, norm="linf", targeted=False, bounds=(0, 1), loss="ce", batch_size=None) -> tf.Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015); the L2 variant steps eps * g / ||g||_2.

    Args:
        model: callable from images to logits (tf_keras, Keras 3, SavedModel function); a softmax
            output is detected and attacked on log-probabilities. Called with ``training=False``.
        x: float images in ``bounds``, shape (batch, ...).
        y: true labels (untargeted) or target labels (targeted), sparse (batch,) or one-hot.
        eps: perturbation size in pixel units (>= 0; eps == 0 returns x unchanged).
        norm: "linf" (sign step) or "l2" (normalised-gradient step).
        targeted: move towards y instead of away from it.
        bounds: (low, high) pixel range; the result is clipped to it.
        loss: attack loss to ascend, "ce", "margin" or "dlr" (see ``tfrobust.attacks.losses``).
        batch_size: if given, attack x in chunks of this many examples.

    Returns:
        float32 tensor of adversarial examples, same shape as x, with ||x_adv - x|| <= eps.

    Raises:
        TypeError, ValueError: bad images, labels, eps, norm, loss or bounds.
    """
    norm = check_choice(norm, NORMS, "norm")
    loss = check_choice(loss, LOSSES, "loss")
    targeted = check_flag(targeted, "targeted")
    eps = check_epsilon(eps, bounds, norm)
    batch_size = check_batch_size(batch_size)
    inputs = prepare(model, x, y, bounds)
    check_loss_classes(loss, inputs.model.num_classes, targeted)
    if eps == 0:
        return inputs.x
    grad_fn = _compiled.loss_gradient(inputs.model, loss, targeted)
    eps_t = tf.constant(eps, tf.float32)
    pieces = []
    for part in chunks(int(inputs.x.shape[0]), batch_size):
        x_part, labels = inputs.x[part], inputs.labels[part]
        source = _compiled.source_labels(inputs.model, x_part, labels, loss, targeted)
        _, grad, _ = grad_fn(x_part, labels, source)
        pieces.append(tf.clip_by_value(x_part + eps_t * steepest_direction(grad, norm), inputs.lo, inputs.hi))
    return pieces[0] if len(pieces) == 1 else tf.concat(pieces, axis=0)
