"""Linearised decision boundaries and the minimal-norm step onto one inside the image box.

DeepFool (Moosavi-Dezfooli et al. 2016) and FAB (Croce & Hein 2020) both linearise the classifier at the
current point x: for the class c to leave and another class s,

    f_s(x') ~ f_s(x) + <w_s, x' - x>,   f_s = z_s - z_c,   w_s = grad_x (z_s - z_c),

so the boundary between c and s becomes the hyperplane {x' : f_s(x) + <w_s, x' - x> = 0}.
``linearised_boundaries`` gives f_s and w_s for several classes in one batched Jacobian.

``project_onto_hyperplane_in_box`` solves FAB's projection (Croce & Hein 2020, Sec. 3.1)

    min ||delta||_p  subject to  <w, delta> = r,  low <= z + delta <= high

for p = inf or 2. By the KKT conditions every coordinate is delta_j = sign(u_j) min(t g_j, room_j) for one
scalar t >= 0, with u = sign(r) w, g_j = 1 (L-inf) or |u_j| (L2) and room_j the distance from z_j to the
box face in direction sign(u_j). Then <u, delta> = sum_j c_j min(t, tau_j) (L-inf: c_j = |u_j|,
tau_j = room_j; L2: c_j = u_j^2, tau_j = room_j / |u_j|) is piecewise linear and nondecreasing in t, so
sorting the breakpoints tau_j gives t exactly (the paper's sorting-based solver). Where the hyperplane
misses the box (|r| > sum_j c_j tau_j), t = inf: the box corner closest to the hyperplane.
Without active box faces the solution is DeepFool's step: r w / ||w||_2^2 (L2), r sign(w) / ||w||_1 (L-inf).
"""
from __future__ import annotations

import tensorflow as tf

_TINY = 1e-12


def linearised_boundaries(logits_model, x, reference, classes):
    """Logit differences to a reference class and their input gradients, for several classes at once.

    Args:
        logits_model: a ``tfrobust.logits.LogitsModel``.
        x: images (batch, ...).
        reference: int32 (batch,) the class k0 of each example (the class to leave).
        classes: int32 (batch, C) the classes k whose boundary with k0 is linearised.

    Returns:
        (logits, f, w): the logits at x (batch, classes), f'_k = z_k - z_k0 (batch, C) and
        w'_k = grad_x f'_k flattened to (batch, C, prod(x.shape[1:])).

    Raises:
        ValueError: the model's output does not depend on its input.
    """
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(x)
        logits = logits_model(x)
        f = tf.gather(logits, classes, batch_dims=1) - tf.gather(logits, reference[:, None], batch_dims=1)
    batch = tf.shape(x)[0]
    if classes.shape[1] == 1:  # one boundary: one backward pass instead of a Jacobian
        grad = tape.gradient(f, x)
        if grad is None:
            raise ValueError("The model's output does not depend on its input; there is no gradient to attack.")
        return logits, f, tf.reshape(grad, [batch, 1, -1])
    jacobian = tape.batch_jacobian(f, x)
    if jacobian is None:
        raise ValueError("The model's output does not depend on its input; there is no gradient to attack.")
    return logits, f, tf.reshape(jacobian, [batch, tf.shape(f)[1], -1])



def project_onto_hyperplane_in_box(z, w, r, lo, hi, norm: str):
    """Minimal-norm delta with <w, delta> = r and lo <= z + delta <= hi (closest point where infeasible).

    Args:
        z: (batch, d) points.
        w: (batch, d) hyperplane normals.
        r: (batch,) required change of <w, .>.
        lo, hi: the box.
        norm: "linf" or "l2", the norm of delta that is minimised.

    Returns:
        delta (batch, d).
    """
    u = w * tf.sign(r)[:, None]  # <u, delta> = |r| with u pointing the way delta must go
    target = tf.abs(r)
    magnitude = tf.abs(u)
    room = tf.maximum(tf.where(u > 0, hi - z, z - lo), 0.0)
    if norm == "linf":  # delta_j = sign(u_j) min(t, room_j): <u, delta> = sum |u_j| min(t, room_j)
        weight, knot = magnitude, tf.where(magnitude > 0, room, 0.0)
    else:  # delta_j = u_j min(t, room_j / |u_j|): <u, delta> = sum u_j^2 min(t, room_j / |u_j|)
        weight = tf.square(u)
        knot = tf.where(magnitude > 0, room / tf.maximum(magnitude, _TINY), 0.0)
    order = tf.argsort(knot, axis=1)
    knot_sorted = tf.gather(knot, order, batch_dims=1)
    weight_sorted = tf.gather(weight, order, batch_dims=1)
    below = tf.cumsum(weight_sorted * knot_sorted, axis=1, exclusive=True)  # saturated coordinates' share
    above = tf.cumsum(weight_sorted, axis=1, reverse=True)  # slope of the unsaturated coordinates
    reached = below + knot_sorted * above  # <u, delta> at t = knot_k, nondecreasing in k
    k = tf.reduce_sum(tf.cast(reached < target[:, None], tf.int32), axis=1)
    d = tf.shape(z)[1]
    k_clipped = tf.minimum(k, d - 1)[:, None]
    t = (target - tf.gather(below, k_clipped, batch_dims=1)[:, 0]) / tf.maximum(
        tf.gather(above, k_clipped, batch_dims=1)[:, 0], _TINY)
    t = tf.where(k < d, t, tf.reduce_max(knot, axis=1))[:, None]  # infeasible: every coordinate saturated
    if norm == "linf":
        return tf.sign(u) * tf.minimum(t, knot)
    return u * tf.minimum(t, knot)
