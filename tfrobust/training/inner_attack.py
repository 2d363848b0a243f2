"""Graph-safe inner maximisation for adversarial training (runs inside ``train_step``).

Madry et al. (2018), "Towards Deep Learning Models Resistant to Adversarial Attacks": projected
gradient ascent on the loss inside the eps-ball,

    x_{t+1} = clip_[lo, hi]( x + P_eps( x_t + step_size * s(grad_x L(f(x_t), y)) - x ) ),

with s the steepest-ascent direction of the norm (sign for L-inf) and P_eps the projection onto the
ball (the shared step ``tfrobust.attacks.pgd_step.ascent_step``). Fast adversarial training (Wong, Rice & Kolter 2020) is the one-step case with a uniform
random start and step alpha = 1.25 eps.

Unlike ``tfrobust.attacks.pgd`` (the eager, validated evaluation entry point) this function
validates nothing and is meant to be called from inside a ``tf.function`` (a Keras
``train_step``): the caller validates its settings once, eagerly, in its constructor.

Only the input gradient is taken: the tape watches the input alone, so no weight gradient is
computed during the attack. The forward pass is whatever ``forward`` does; training wrappers pass
``model(x, training=False)`` so that BatchNorm moving statistics and the pruning step counter are
not touched by the attack.
"""
from __future__ import annotations

from typing import Callable, Optional, Tuple

import tensorflow as tf

from tfrobust.attacks import norms
from tfrobust.attacks.losses import attack_loss
from tfrobust.attacks.pgd_step import ascent_step

_MAX_UNROLLED_STEPS = 10


def input_gradient(forward: Callable, x, y, loss: str = "ce"):
    """Gradient of the summed per-example attack loss with respect to the input only.

    The sum (not the mean) keeps each example's gradient independent of the batch size, which
    also keeps it away from float16 underflow under mixed precision.

    Args:
        forward: callable from images to logits (any float dtype; cast to float32 here).
        x: float32 images.
        y: int32 sparse labels.
        loss: attack loss name, see ``tfrobust.attacks.losses.attack_loss``.

    Returns:
        float32 tensor shaped like ``x``.
    """
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(x)
        logits = tf.cast(forward(x), tf.float32)
        objective = tf.reduce_sum(attack_loss(loss, logits, y))
    return tape.gradient(objective, x)


def pgd_examples(
    forward: Callable,
    x,
    y,
    *,
    eps: float,
    step_size: float,
    steps: int,
    norm: str = "linf",
    loss: str = "ce",
    random_start: bool = True,
    bounds: Tuple[float, float] = (0.0, 1.0),
    x_init: Optional[tf.Tensor] = None,
):
    """Adversarial examples by ``steps`` projected gradient-ascent steps (Madry et al. 2018).

    Args:
        forward: callable from images to logits; use ``training=False`` inside it.
        x: float32 clean images in ``bounds``.
        y: int32 sparse labels.
        eps: radius of the ball (pixel units).
        step_size: step length per iteration (alpha).
        steps: number of gradient steps (Python int >= 1).
        norm: "linf" or "l2".
        loss: "ce", "margin" or "dlr" (maximised).
        random_start: start from a uniform point of the ball clipped to ``bounds`` (Wong et al.
            2020 clip the random start to the image domain too); otherwise start at ``x``.
        bounds: (lo, hi) image domain.
        x_init: explicit starting point (overrides ``random_start``); used for reproducible
            restarts in callbacks.

    Returns:
        float32 adversarial images with ``||x_adv - x|| <= eps`` and values in ``bounds``, with the
        gradient stopped.
    """
    lo, hi = float(bounds[0]), float(bounds[1])
    x = tf.convert_to_tensor(x, tf.float32)
    if x_init is not None:
        x_adv = tf.convert_to_tensor(x_init, tf.float32)
    elif random_start:
        x_adv = norms.random_start(x, eps, norm, lo, hi)
    else:
        x_adv = x

    def step(x_cur):
        grad = input_gradient(forward, x_cur, y, loss)
        return ascent_step(x, x_cur, grad, step_size=step_size, eps=eps, norm=norm, lo=lo, hi=hi)

    if steps <= _MAX_UNROLLED_STEPS:
        # Training attacks are short: an unrolled loop avoids while-loop overhead per step.
        for _ in range(steps):
            x_adv = step(x_adv)
    else:
        _, x_adv = tf.while_loop(lambda i, _: i < steps, lambda i, x_cur: (i + 1, step(x_cur)),
                                 (tf.constant(0), x_adv), maximum_iterations=steps)
    return tf.stop_gradient(x_adv)
