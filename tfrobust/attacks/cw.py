"""Carlini & Wagner L2 (2017, "Towards evaluating the robustness of neural networks"), a minimal-L2 attack.

The box constraint is removed by a change of variables (the paper's "tanh box"): the image is

    x'(w) = low + (high - low) * (tanh(w) + 1) / 2,

which lies in [low, high] for every real w, and w starts at the clean image (w_0 = artanh of x mapped to
(-1, 1)). Per example, Adam (lr 0.01) minimises

    ||x'(w) - x||_2^2 + c * f(x'(w)),
    f = max(z_y - max_{i != y} z_i, -kappa)        (untargeted, y the true label)
    f = max(max_{i != t} z_i - z_t, -kappa)        (targeted, t the target)

with z the logits and kappa >= 0 the confidence. A binary search over c (``search_steps`` rounds per
example, starting at ``initial_const``): where an adversarial example was found c is lowered to the
midpoint with the largest failing c, elsewhere it is raised (x10 until a success brackets it, then the
midpoint). Over every step of every round the smallest-L2 example whose margin is at least kappa is kept.
``abort_early`` stops an example's round, as the authors' code stops a batch, once its objective has not
fallen by 0.01% over a tenth of the steps (per example, so the result does not depend on the batching).

Defaults follow the authors' code except ``steps``: 9 search rounds, lr 0.01, c_0 = 1e-3, kappa = 0, and
1,000 Adam steps per round (the paper's 10,000 with early abort are affordable only on a GPU).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfrobust.attacks import _compiled
from tfrobust.attacks._inputs import check_batch_size, check_flag, check_seed, chunks, prepare
from tfrobust.attacks.info import MinimalPerturbation
from tfrobust.attacks.losses import margin
from tfrobust.validation import check_choice, check_positive

_BETA1, _BETA2, _ADAM_EPS = 0.9, 0.999, 1e-8
_NO_UPPER = 1e10  # "no successful c yet"


def _to_tanh_space(x, lo, hi):
    unit = tf.clip_by_value((x - lo) / (hi - lo) * 2.0 - 1.0, -1.0 + 1e-6, 1.0 - 1e-6)
    return tf.atanh(unit)


def _from_tanh_space(w, lo, hi):
    return lo + (hi - lo) * (tf.tanh(w) + 1.0) / 2.0


def _optimise_fn(targeted: bool):
    def build(logits_model):
        def cw_optimise(x, labels, c, confidence, learning_rate, lo, hi, n_steps, abort_every, abort_early,
                        best_adv, best_norm):
            w0 = _to_tanh_space(x, lo, hi)
            delta, m, v = tf.zeros_like(x), tf.zeros_like(x), tf.zeros_like(x)
            axes = list(range(1, x.shape.rank))
            mask_shape = tf.concat([[-1], tf.ones([tf.rank(x) - 1], tf.int32)], 0)
            found = tf.zeros(tf.shape(x)[:1], tf.bool)
            active = tf.ones(tf.shape(x)[:1], tf.bool)  # examples whose objective still falls
            previous = tf.fill(tf.shape(x)[:1], np.float32(np.inf))
            for t in tf.range(1, n_steps + 1):
                with tf.GradientTape(watch_accessed_variables=False) as tape:
                    tape.watch(delta)
                    x_adv = _from_tanh_space(w0 + delta, lo, hi)
                    logits = logits_model(x_adv)
                    sq_norm = tf.reduce_sum(tf.square(x_adv - x), axis=axes)
                    gap = margin(logits, labels, targeted)  # >= kappa means success with confidence kappa
                    objective = sq_norm + c * tf.maximum(-gap, -confidence)
                grad = tape.gradient(objective, delta)
                success = tf.logical_and(gap >= confidence, _compiled.attack_succeeded(logits, labels, targeted))
                size = tf.sqrt(sq_norm)
                better = tf.logical_and(success, size < best_norm)
                best_adv = tf.where(tf.reshape(better, mask_shape), x_adv, best_adv)
                best_norm = tf.where(better, size, best_norm)
                found = tf.logical_or(found, success)
                step = tf.cast(t, tf.float32)
                moving = tf.reshape(active, mask_shape)
                m = tf.where(moving, _BETA1 * m + (1.0 - _BETA1) * grad, m)
                v = tf.where(moving, _BETA2 * v + (1.0 - _BETA2) * tf.square(grad), v)
                delta = tf.where(moving, delta - learning_rate * (m / (1.0 - tf.pow(_BETA1, step))) / (
                    tf.sqrt(v / (1.0 - tf.pow(_BETA2, step))) + _ADAM_EPS), delta)
                if abort_early and t % abort_every == 0:
                    active = tf.logical_and(active, objective <= 0.9999 * previous)
                    previous = objective
                    if not tf.reduce_any(active):
                        break
            return best_adv, best_norm, found
        return cw_optimise
    return build


def next_constant(c, found, lower, upper):
    """One round of the per-example binary search over c (numpy arrays); returns (c, lower, upper)."""
    upper = np.where(found, np.minimum(upper, c), upper)
    lower = np.where(found, lower, np.maximum(lower, c))
    bracketed = upper < _NO_UPPER
    c = np.where(bracketed, 0.5 * (lower + upper), c * 10.0)
    return c.astype(np.float32), lower, upper


def carlini_wagner_l2(model, x, y, *, norm="l2", targeted=False, bounds=(0.0, 1.0), seed=None, batch_size=None,
                      confidence=0.0, initial_const=1e-3, search_steps=9, steps=1000, learning_rate=0.01,
                      abort_early=True, y_true=None) -> MinimalPerturbation:
    """Carlini & Wagner's L2 attack: tanh box, Adam, binary search over c (see the module docstring).

    Args:
        model: callable images -> logits (softmax models are attacked on log-probabilities, which keeps
            the margins of the logits).
        x: images in ``bounds``, shape (batch, ...).
        y: true labels (untargeted) or target labels (targeted), sparse or one-hot.
        norm: only "l2".
        targeted: reach the labels y instead of leaving them.
        y_true: targeted only, optional: the true labels; a row whose target equals its true label is refused
            (an exact check; without y_true, targets that are mostly the clean predictions are refused).
        bounds: (low, high) box, kept exactly by the tanh change of variables.
        seed: accepted for the common contract; the attack is deterministic.
        batch_size: attack in chunks of this many examples.
        confidence: kappa >= 0, the logit margin a kept example must have (0 in the paper's L2 results).
        initial_const: c_0 > 0, the first weight of the misclassification term.
        search_steps: rounds of the binary search over c, integer > 0.
        steps: Adam steps per round, integer > 0.
        learning_rate: Adam's step size, > 0.
        abort_early: stop a round when the objective stalls (see the module docstring).

    Returns:
        ``MinimalPerturbation``: x_adv the smallest successful example (x where none), ``norms`` its L2
        distance (0 where x already fools the model, inf where no round succeeded), ``info`` "c" (per
        example the smallest successful c, 0 where none) and "example_steps" (an upper bound: steps
        scheduled, before early aborts).

    Raises:
        TypeError, ValueError: bad images, labels, norm, bounds or settings.
    """
    check_choice(norm, ("l2",), "norm")
    targeted = check_flag(targeted, "targeted")
    check_seed(seed)
    batch_size = check_batch_size(batch_size)
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float, np.floating, np.integer)) \
            or not np.isfinite(confidence) or confidence < 0:
        raise ValueError(f"confidence (kappa) must be a finite number >= 0, got {confidence!r}.")
    initial_const = check_positive(initial_const, "initial_const")
    search_steps = check_positive(search_steps, "search_steps", integer=True)
    steps = check_positive(steps, "steps", integer=True)
    learning_rate = check_positive(learning_rate, "learning_rate")
    abort_early = check_flag(abort_early, "abort_early")
    inputs = prepare(model, x, y, bounds, targeted=targeted, true_labels=y_true)
    optimise = _compiled.cached_function(inputs.model, "cw_l2", (targeted,), _optimise_fn(targeted))
    clean_logits = inputs.clean_logits if inputs.clean_logits is not None else inputs.model(inputs.x)
    clean_fooled = _compiled.attack_succeeded(clean_logits, inputs.labels, targeted).numpy()
    scalars = (tf.constant(float(confidence), tf.float32), tf.constant(learning_rate, tf.float32),
               tf.constant(inputs.lo, tf.float32), tf.constant(inputs.hi, tf.float32), tf.constant(steps),
               tf.constant(max(1, steps // 10)), tf.constant(abort_early))
    adv_parts, norm_parts, c_parts = [], [], []
    example_steps = 0
    for part in chunks(tuple(inputs.x.shape), batch_size):
        x_part, labels = inputs.x[part], inputs.labels[part]
        rows = np.flatnonzero(~clean_fooled[part])
        n = int(x_part.shape[0])
        best_adv, best_norm = x_part.numpy(), np.full(n, np.inf, np.float32)
        c_found = np.zeros(n, np.float32)
        if rows.size:
            x_rows, label_rows = tf.gather(x_part, rows), tf.gather(labels, rows)
            adv_rows, norm_rows = x_rows, tf.fill([rows.size], np.float32(np.inf))
            c = np.full(rows.size, initial_const, np.float32)
            lower, upper = np.zeros(rows.size, np.float32), np.full(rows.size, _NO_UPPER, np.float32)
            for _ in range(search_steps):
                adv_rows, norm_rows, found = optimise(x_rows, label_rows, tf.constant(c), *scalars, adv_rows,
                                                      norm_rows)
                example_steps += rows.size * steps
                c, lower, upper = next_constant(c, found.numpy(), lower, upper)
            best_adv[rows] = adv_rows.numpy()
            best_norm[rows] = norm_rows.numpy()
            c_found[rows] = np.where(upper < _NO_UPPER, upper, 0.0)
        adv_parts.append(best_adv)
        norm_parts.append(best_norm)
        c_parts.append(c_found)
    norms = np.where(clean_fooled, 0.0, np.concatenate(norm_parts).astype(np.float64))
    return MinimalPerturbation(x_adv=tf.constant(np.concatenate(adv_parts)), norms=norms, success=np.isfinite(norms),
                               norm="l2", info={"c": np.concatenate(c_parts), "example_steps": example_steps})


from tfrobust.attacks.registry import register  # noqa: E402  (registration at the bottom, as every attack)

register("cw", carlini_wagner_l2, kind="minimal", norms=("l2",), aliases=("cw-l2", "cw_l2", "carlini_wagner"),
         quick_settings={"search_steps": 3, "steps": 50, "learning_rate": 0.05, "initial_const": 1.0},
         label=lambda s: "cw-l2" + (f"-k{s['confidence']:g}" if s.get("confidence") else ""))
