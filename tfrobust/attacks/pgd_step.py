"""The one projected-gradient step every PGD-like loop in tfrobust uses.

Madry et al. (2018), "Towards deep learning models resistant to adversarial attacks":

    x_{t+1} = clip_[lo, hi]( x + P_eps( x_t + step_size * s(grad) - x ) )

with s the steepest-ascent direction of the norm (sign for L-inf, g / ||g||_2 for L2) and P_eps the
projection onto the eps-ball around the clean point x. For L-inf the ball and the box [lo, hi]
intersect in a box, so projection and clipping are one clip to [max(x - eps, lo), min(x + eps, hi)].

``tfrobust.attacks.pgd`` (evaluation), ``tfrobust.training.inner_attack`` (adversarial training),
``tfrobust.hypernet.robustness`` (the generator's robustness meter) and the APGD family all step
through these functions, so a change to the geometry is made once.
"""
from __future__ import annotations

import tensorflow as tf

from tfrobust.attacks.norms import project, steepest_direction


def project_to_ball(x, x_candidate, *, eps, norm: str, lo, hi):
    """Projects ``x_candidate`` onto the eps-ball around ``x`` intersected with the box [lo, hi]."""
    if norm == "linf":
        return tf.clip_by_value(x_candidate, tf.maximum(x - eps, lo), tf.minimum(x + eps, hi))
    return tf.clip_by_value(x + project(x_candidate - x, eps, norm), lo, hi)


def ascent_step(x, x_adv, grad, *, step_size, eps, norm: str, lo, hi):
    """One PGD step from ``x_adv`` along ``grad`` (to be maximised), projected back to ball and box.

    Args:
        x: clean images (the centre of the ball).
        x_adv: current iterate.
        grad: gradient of the attack loss at ``x_adv``.
        step_size: step length (per coordinate for L-inf, Euclidean for L2).
        eps: radius of the ball.
        norm: "linf" or "l2".
        lo, hi: the image domain.

    Returns:
        The next iterate, inside the ball and the box.
    """
    return project_to_ball(x, x_adv + step_size * steepest_direction(grad, norm), eps=eps, norm=norm, lo=lo, hi=hi)
