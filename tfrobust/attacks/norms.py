"""Geometry of the threat models: steepest-ascent steps, projections and random starts.

For L-inf the steepest step is sign(g) and projection clips each coordinate to [-eps, eps];
for L2 the step is g / ||g||_2 and projection rescales delta to norm at most eps (Madry et al. 2017).
All functions work per example on batches of any rank >= 2.
"""
from __future__ import annotations

import tensorflow as tf

_TINY = 1e-12


def _per_example_l2(t):
    axes = tf.range(1, tf.rank(t))
    return tf.sqrt(tf.reduce_sum(tf.square(t), axis=axes, keepdims=True))


def steepest_direction(grad, norm: str):
    """Unit-norm steepest-ascent direction for the given norm."""
    if norm == "linf":
        return tf.sign(grad)
    return grad / (_per_example_l2(grad) + _TINY)


def project(delta, eps, norm: str):
    """Projects perturbations onto the eps-ball of the norm."""
    if norm == "linf":
        return tf.clip_by_value(delta, -eps, eps)
    norms = _per_example_l2(delta)
    return delta * tf.minimum(1.0, eps / (norms + _TINY))


def random_start(x, eps, norm: str, lo, hi, seed=None, generator=None):
    """A uniform random point of the eps-ball around x, clipped to [lo, hi].

    L-inf: delta ~ U(-eps, eps) per coordinate. L2: uniform in the ball (Gaussian direction,
    radius eps * u^(1/d)). Pass a ``tf.random.Generator`` as ``generator`` for draws that are
    reproducible across calls (an op-level ``seed`` is not, in eager mode).
    """
    rng = generator if generator is not None else tf.random
    kwargs = {} if generator is not None else {"seed": seed}
    if norm == "linf":
        delta = rng.uniform(tf.shape(x), -1.0, 1.0, dtype=x.dtype, **kwargs) * eps
    else:
        direction = rng.normal(tf.shape(x), dtype=x.dtype, **kwargs)
        direction = direction / (_per_example_l2(direction) + _TINY)
        dim = tf.cast(tf.reduce_prod(tf.shape(x)[1:]), x.dtype)
        batch_shape = tf.concat([tf.shape(x)[:1], tf.ones([tf.rank(x) - 1], tf.int32)], 0)
        radius = tf.pow(rng.uniform(batch_shape, dtype=x.dtype, **kwargs), 1.0 / dim)
        delta = direction * radius * eps
    return tf.clip_by_value(x + delta, lo, hi)


def perturbation_norm(delta, norm: str):
    """Per-example norm of perturbations, shape (batch,)."""
    flat = tf.reshape(delta, [tf.shape(delta)[0], -1])
    if norm == "linf":
        return tf.reduce_max(tf.abs(flat), axis=1)
    return tf.norm(flat, axis=1)
