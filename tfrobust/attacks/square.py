"""Square attack (Andriushchenko, Croce, Flammarion & Hein 2020, "Square Attack: a query-efficient black-box
adversarial attack via random search", ECCV, Algorithms 1-3).

A score-based black-box attack: it only reads the model's outputs, never a gradient, so it also runs on
models without one (``tf.stop_gradient``, ``tf.round``, non-differentiable preprocessing) and is the
gradient-masking check of AutoAttack. It minimises the margin loss

    L(x') = z_y(x') - max_{j != y} z_j(x')        (targeted: max_{j != t} z_j(x') - z_t(x'))

by random search: each iteration proposes a change of one square window (two for L2) of side
s = max(round(sqrt(p h w)), 1) (at most h - 1) at a uniformly random position, queries the model once and
keeps the change only if the loss went down. p follows the paper's piecewise-constant schedule: p_init
(0.8 here and in AutoAttack) halved after 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 iterations of
a 10,000-query budget, the iterations rescaled to ``n_queries``.

- L-inf (Algorithm 2): start from vertical stripes x + eps * (+-1) (one random sign per column and
  channel); a proposal sets the window to x + eps * (+-1), one random sign per channel, then clips to the
  bounds. A proposal equal to the current window (possible with one channel) is negated instead, so no
  query is wasted on an unchanged image.
- L2 (Algorithm 3): start from a grid of tiles (side h // 5) each holding the centred pattern
  eta_{i,j} = sum_{k=0}^{M(i,j)} 1 / (n + 1 - k)^2 (n = floor(side / 2), M = n - ring index of (i, j))
  with a random sign per tile and channel, scaled to norm eps. A proposal picks two windows W1, W2 and,
  per channel, moves the perturbation mass nu_c^2 = ||delta_c on W1 u W2||^2, plus an equal share of the
  unused budget eps^2 - ||delta||^2, into W1 as the meta pattern [eta, -eta] (two halves of opposite
  sign, transposed with probability 1/2) with a random sign, and zeroes the rest of W1 u W2. So
  ||delta|| stays eps before clipping to the bounds; clipping only shrinks it.

Each iteration costs one forward pass of each example still robust; fooled examples stop (checked every
``SQUARE_CHECK_EVERY`` iterations). The random draws of an example depend only on ``seed``, the iteration
and the example's index in x, so neither ``batch_size`` nor early stopping changes the result.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfrobust import config
from tfrobust.attacks import _compiled
from tfrobust.attacks.apgd import call_batch_generic
from tfrobust.attacks._inputs import check_batch_size, check_flag, check_seed, chunks, prepare
from tfrobust.attacks.info import attack_info
from tfrobust.attacks.losses import margin
from tfrobust.attacks.pgd_step import project_to_ball
from tfrobust.attacks.registry import register
from tfrobust.validation import NORMS, check_choice, check_epsilon, check_positive

SQUARE_CHECK_EVERY = 100  # iterations between two gatherings of the examples still robust
SCHEDULE_BOUNDARIES = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)  # on a 10,000-query budget
SCHEDULE_BUDGET = 10000
L2_INIT_TILES = 5  # the L2 start is a grid of about 5 x 5 tiles


def square_fraction(iteration, p_init: float, n_queries: int):
    """The share p of pixels a proposal changes at ``iteration`` (the paper's schedule, rescaled)."""
    scaled = tf.cast(tf.cast(iteration, tf.float32) / float(n_queries) * SCHEDULE_BUDGET, tf.int32)
    halvings = tf.reduce_sum(tf.cast(scaled > tf.constant(SCHEDULE_BOUNDARIES), tf.float32))
    return p_init * tf.pow(0.5, halvings)


def _square_loss(logits, labels, targeted):
    """The margin loss to minimise (negative exactly when the attack succeeded, up to ties)."""
    return -margin(logits, labels, targeted)


def _ring_sums(size: int) -> np.ndarray:
    """Cumulative sums sum_{m=1}^{k} 1 / m^2, k = 0 .. size + 1, for the L2 pattern."""
    return np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, size + 2) ** 2)]).astype(np.float32)


def _pattern(li, lj, rows, cols, sums):
    """eta on a rows x cols rectangle at local coordinates (li, lj); 0 outside the rectangle."""
    n = tf.maximum(rows, cols) // 2
    ring = tf.maximum(tf.abs(li - rows // 2), tf.abs(lj - cols // 2))
    m = tf.maximum(n - ring, 0)
    value = tf.gather(sums, n + 1) - tf.gather(sums, n - m)
    inside = (li >= 0) & (li < rows) & (lj >= 0) & (lj < cols)
    return tf.where(inside, value, 0.0)


def _window(h, w, r, c, s):
    """Per-example boolean masks (N, h, w, 1) of the s x s windows with top-left corners (r, c)."""
    rows = tf.range(h)[None, :, None]
    cols = tf.range(w)[None, None, :]
    r, c = r[:, None, None], c[:, None, None]
    mask = (rows >= r) & (rows < r + s) & (cols >= c) & (cols < c + s)
    return mask[..., None]


def _meta_pattern(h, w, r, c, s, transpose, sums):
    """The L2 proposal [eta, -eta] in the window at (r, c), unit L2 norm per example, shape (N, h, w, 1)."""
    li = tf.range(h)[None, :, None] - r[:, None, None]
    lj = tf.range(w)[None, None, :] - c[:, None, None]
    t = transpose[:, None, None]
    li, lj = tf.where(t, lj, li), tf.where(t, li, lj)
    half = tf.maximum(s // 2, 1)
    pattern = _pattern(li, lj, s, half, sums) - _pattern(li, lj - half, s, s - half, sums)
    norm = tf.sqrt(tf.reduce_sum(tf.square(pattern), axis=[1, 2], keepdims=True))
    return (pattern / (norm + 1e-12))[..., None]


def _draws(seed, iteration, n_total, rows, width):
    """Uniform draws (len(rows), width) that depend only on (seed, iteration, example index)."""
    u = tf.random.stateless_uniform([n_total, width], seed=tf.stack([seed, tf.cast(iteration, tf.int64)]))
    return tf.gather(u, rows)


def _loop_fn(norm: str, targeted: bool):
    def build(logits_model):
        def square_loop(x, labels, x_best, loss_best, fooled, rows, seed, it0, n_iters, n_queries, eps, lo, hi,
                        p_init, n_total):
            h, w, channels = (int(d) for d in x.shape[1:])  # static: one trace per image shape
            sums = tf.constant(_ring_sums(4096))
            for i in tf.range(n_iters):
                it = it0 + i
                p = square_fraction(it, p_init, n_queries)
                side = tf.cast(tf.round(tf.sqrt(p * tf.cast(h * w, tf.float32))), tf.int32)
                side = tf.clip_by_value(side, 1, max(min(h, w) - 1, 1))
                u = _draws(seed, it, n_total, rows, 5 + channels)
                span_r, span_c = tf.cast(h - side + 1, tf.float32), tf.cast(w - side + 1, tf.float32)
                r1 = tf.cast(tf.floor(u[:, 0] * span_r), tf.int32)
                c1 = tf.cast(tf.floor(u[:, 1] * span_c), tf.int32)
                signs = tf.where(u[:, 5:] < 0.5, -1.0, 1.0)[:, None, None, :]
                m1 = _window(h, w, r1, c1, side)
                delta = x_best - x
                if norm == "linf":
                    proposal = tf.clip_by_value(x + eps * signs, lo, hi)
                    same = tf.reduce_all(tf.logical_or(tf.logical_not(m1), tf.abs(proposal - x_best) < 1e-7),
                                         axis=[1, 2, 3])
                    signs = tf.where(same[:, None, None, None], -signs, signs)
                    x_new = tf.where(m1, tf.clip_by_value(x + eps * signs, lo, hi), x_best)
                else:
                    r2 = tf.cast(tf.floor(u[:, 2] * span_r), tf.int32)
                    c2 = tf.cast(tf.floor(u[:, 3] * span_c), tf.int32)
                    union = tf.cast(m1 | _window(h, w, r2, c2, side), tf.float32)
                    nu2 = tf.reduce_sum(tf.square(delta) * union, axis=[1, 2], keepdims=True)
                    spare = tf.maximum(eps ** 2 - tf.reduce_sum(tf.square(delta), axis=[1, 2, 3], keepdims=True),
                                       0.0)
                    mass = tf.sqrt(nu2 + spare / float(channels))
                    pattern = _meta_pattern(h, w, r1, c1, side, u[:, 4] < 0.5, sums)
                    new_delta = delta * (1.0 - union) + pattern * signs * mass
                    x_new = project_to_ball(x, x + new_delta, eps=eps, norm="l2", lo=lo, hi=hi)
                logits = logits_model(x_new)
                loss_new = _square_loss(logits, labels, targeted)
                better = loss_new < loss_best
                x_best = tf.where(better[:, None, None, None], x_new, x_best)
                loss_best = tf.where(better, loss_new, loss_best)
                fooled = tf.where(better, _compiled.attack_succeeded(logits, labels, targeted), fooled)
            return x_best, loss_best, fooled
        return square_loop
    return build


def _initial_delta(x, eps, norm, seed, n_total, rows):
    """The paper's start: vertical stripes (L-inf) or a grid of signed eta tiles scaled to eps (L2)."""
    _, h, w, channels = (int(d) for d in x.shape)
    u = _draws(tf.constant(seed, tf.int64), -1, n_total, rows, w * channels + 64 * channels)
    if norm == "linf":
        signs = tf.where(u[:, :w * channels] < 0.5, -1.0, 1.0)
        return eps * tf.reshape(signs, [-1, 1, w, channels])
    tile = max(h // L2_INIT_TILES, 1)
    sums = tf.constant(_ring_sums(max(h, w)))
    li = tf.range(h)[:, None] % tile
    lj = tf.range(w)[None, :] % tile
    eta = _pattern(li, lj, tile, tile, sums)  # the same centred pattern in every tile
    tile_index = (tf.range(h)[:, None] // tile) * 8 + tf.range(w)[None, :] // tile  # <= 64 tiles
    tile_index = tf.minimum(tile_index, 63)
    signs = tf.where(u[:, w * channels:] < 0.5, -1.0, 1.0)
    signs = tf.gather(tf.reshape(signs, [-1, 64, channels]), tile_index, axis=1)  # (N, h, w, C)
    delta = eta[None, :, :, None] * signs
    norm_now = tf.sqrt(tf.reduce_sum(tf.square(delta), axis=[1, 2, 3], keepdims=True))
    return eps * delta / (norm_now + 1e-12)


def square(model, x, y, *, eps, norm="linf", loss="margin", targeted=False, bounds=(0.0, 1.0), seed=None,
           batch_size=None, return_info=False, n_queries=5000, p_init=0.8, y_true=None):
    """Square attack (Andriushchenko et al. 2020): score-based black box, needs no gradient.

    Args:
        model: callable images -> logits (or probabilities: attacked on log-probabilities); only its
            outputs are read, so models without gradients work.
        x: images (batch, height, width, channels) in ``bounds``.
        y: true labels (untargeted) or targets (targeted), sparse or one-hot.
        eps: radius in pixel units (0 returns x).
        norm: "linf" or "l2".
        loss: "margin", the only loss of this attack (the paper's choice for both goals).
        targeted: y are targets; success means reaching them.
        y_true: targeted only, optional: the true labels; a row whose target equals its true label is refused
            (an exact check; without y_true, targets that are mostly the clean predictions are refused).
        bounds: (low, high) pixel range.
        seed: seed of the random search (None: 0; the attack is deterministic given the seed).
        batch_size: attack in chunks of this many examples (same result).
        return_info: also return the info dict; ``forward_passes`` counts the queries.
        n_queries: query budget per example (5,000 in AutoAttack), including the start.
        p_init: initial share of pixels changed per proposal (0.8).

    Returns:
        x_adv (float32, like x); with ``return_info`` the pair (x_adv, info), info["loss"] the margin
        loss z_y - max_{j != y} z_j (negative where fooled) and info["extra"]["queries"] the queries
        each example used.

    Raises:
        TypeError, ValueError: bad images (not rank 4), labels, eps, norm, loss, n_queries or p_init.
    """
    norm = check_choice(norm, NORMS, "norm")
    check_choice(loss, ("margin",), "loss")
    targeted = check_flag(targeted, "targeted")
    return_info = check_flag(return_info, "return_info")
    eps = check_epsilon(eps, bounds, norm)
    n_queries = int(check_positive(n_queries, "n_queries", integer=True))
    p_init = float(check_positive(p_init, "p_init"))
    if p_init > 1:
        raise ValueError(f"p_init is a share of the pixels, in (0, 1]; got {p_init}.")
    seed = check_seed(seed)
    seed = 0 if seed is None else seed
    batch_size = check_batch_size(batch_size)
    inputs = prepare(model, x, y, bounds, targeted=targeted, true_labels=y_true)
    if inputs.x.shape.rank != 4:
        raise ValueError(f"square needs images shaped (batch, height, width, channels), got {inputs.x.shape}; "
                         f"reshape flat inputs to images first.")
    n_total = int(inputs.x.shape[0])
    loop = _compiled.cached_function(inputs.model, "square_loop", (norm, targeted), _loop_fn(norm, targeted))
    scalars = (tf.constant(n_queries), tf.constant(eps, tf.float32), tf.constant(inputs.lo, tf.float32),
               tf.constant(inputs.hi, tf.float32), tf.constant(p_init, tf.float32), tf.constant(n_total))
    seed_t = tf.constant(seed, tf.int64)
    x_out, loss_out, fooled_out, queries = [], [], [], np.zeros(n_total, np.int64)
    for part in chunks(n_total, batch_size):
        x_part, labels = inputs.x[part], inputs.labels[part]
        logits = inputs.model(x_part)
        queries[part] += 1
        best_loss = _square_loss(logits, labels, targeted)
        fooled = _compiled.attack_succeeded(logits, labels, targeted).numpy()
        x_best = x_part
        offset = part.start
        if eps > 0 and n_queries > 1:
            active = np.flatnonzero(~fooled)
            if active.size:  # the start point (one query)
                rows = tf.constant(offset + active, tf.int32)
                x_sub = tf.gather(x_part, active)
                start = project_to_ball(x_sub, x_sub + _initial_delta(x_sub, eps, norm, seed, n_total, rows),
                                        eps=eps, norm=norm, lo=inputs.lo, hi=inputs.hi)
                start_logits = inputs.model(start)
                queries[offset + active] += 1
                start_loss = _square_loss(start_logits, tf.gather(labels, active), targeted)
                better = (start_loss < tf.gather(best_loss, active)).numpy()
                keep = tf.constant(active[better][:, None])
                x_best = tf.tensor_scatter_nd_update(x_best, keep, tf.boolean_mask(start, better))
                best_loss = tf.tensor_scatter_nd_update(best_loss, keep, tf.boolean_mask(start_loss, better))
                fooled[active] |= _compiled.attack_succeeded(start_logits, tf.gather(labels, active),
                                                             targeted).numpy() & better
            it = 1
            while it < n_queries - 1 and not fooled.all():
                active = np.flatnonzero(~fooled)
                n_iters = min(SQUARE_CHECK_EVERY, n_queries - 1 - it)
                idx = tf.constant(active[:, None])
                sub_best, sub_loss, sub_fooled = call_batch_generic(
                    loop, tf.gather_nd(x_part, idx), tf.gather_nd(labels, idx), tf.gather_nd(x_best, idx),
                    tf.gather_nd(best_loss, idx), tf.zeros([active.size], tf.bool),
                    tf.constant(offset + active, tf.int32), seed_t, tf.constant(it), tf.constant(n_iters), *scalars)
                queries[offset + active] += n_iters
                x_best = tf.tensor_scatter_nd_update(x_best, idx, sub_best)
                best_loss = tf.tensor_scatter_nd_update(best_loss, idx, sub_loss)
                fooled[active] = sub_fooled.numpy()
                it += n_iters
        x_out.append(x_best)
        loss_out.append(best_loss.numpy())
        fooled_out.append(fooled)
    x_adv = tf.concat(x_out, axis=0) if eps > 0 else inputs.x
    if not return_info:
        return x_adv
    return x_adv, attack_info(success=np.concatenate(fooled_out), loss=np.concatenate(loss_out), x=inputs.x,
                              x_adv=x_adv, norm=norm, example_steps=0, forward_passes=int(queries.sum()),
                              extra={"queries": queries})


register("square", square, needs_gradient=False, defaults={"loss": "margin"}, quick_settings={"n_queries": 200},
         label=lambda s: "square" + ("" if s.get("norm", "linf") == "linf" else "-l2"))
