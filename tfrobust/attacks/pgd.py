"""Projected gradient descent (Madry et al. 2018, "Towards deep learning models resistant to adversarial attacks").

From a uniform random point of the eps-ball (or x itself), repeat ``steps`` times

    x_{t+1} = clip(x + P_eps(x_t + step_size * d(grad_x J(x_t, y)) - x), low, high)

with d = sign for L-inf and g / ||g||_2 for L2, and P_eps the projection onto the eps-ball.

What is returned, per example, is the best iterate over all steps of all restarts (the clean input
counts as iterate zero): the first iterate that fools the model (untargeted: prediction != y;
targeted: prediction == y), otherwise the iterate with the highest attack loss. The forward pass that
computes a step's gradient also gives that iterate's logits and loss, so the bookkeeping costs no
extra model call; only the last iterate of a run needs one forward pass of its own.

Per-example early stop (``early_stop=True``, as in AutoAttack, Croce & Hein 2020): examples already
fooled leave the batch. The first restart attacks only the examples the model still classifies
correctly, and every ``EARLY_STOP_EVERY`` steps the still-unfooled examples are gathered into a smaller
batch. A fooled example stays fooled and the random starts are drawn for the full batch either way,
so the result equals the one without early stop; only the compute shrinks (``info["example_steps"]``).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfrobust import config
from tfrobust.attacks import _compiled
from tfrobust.attacks._inputs import (check_batch_size, check_flag, check_loss_classes, check_seed, chunk_tensor,
                                      chunks, make_generator, prepare)
from tfrobust.attacks.info import attack_info
from tfrobust.attacks.losses import attack_loss
from tfrobust.attacks.norms import random_start as draw_random_start
from tfrobust.attacks.pgd_step import ascent_step
from tfrobust.attacks.registry import register
from tfrobust.validation import LOSSES, NORMS, check_choice, check_epsilon, check_positive

EARLY_STOP_EVERY = 5  # steps between two checks for fooled examples when early_stop=True
DEFAULT_STEPS = 40
MADRY_STEP_FACTOR = 2.5


def madry_step_size(eps: float, steps: int) -> float:
    """The step of Madry et al. (2017), ``2.5 * eps / steps``: ``steps`` steps travel 2.5 times the radius,
    enough to reach any point of the ball from a random start."""
    return MADRY_STEP_FACTOR * float(eps) / int(steps)


def keep_best(x_adv, losses, fooled, best_adv, best_loss, best_fooled):
    """Per example keeps the first fooling iterate, else the highest-loss iterate."""
    improve = tf.logical_and(tf.logical_not(best_fooled), tf.logical_or(fooled, losses > best_loss))
    mask = tf.reshape(improve, tf.concat([[-1], tf.ones([tf.rank(x_adv) - 1], tf.int32)], 0))
    return (tf.where(mask, x_adv, best_adv), tf.where(improve, losses, best_loss),
            tf.logical_or(best_fooled, fooled))


def _steps_fn(norm: str, loss: str, targeted: bool):
    def build(logits_model):
        def pgd_steps(x, labels, source, x_adv, best_adv, best_loss, best_fooled, eps, step_size, lo, hi, n_steps):
            for _ in tf.range(n_steps):
                losses, grad, logits = _compiled.input_gradient(logits_model, x_adv, labels, source, loss, targeted)
                fooled = _compiled.attack_succeeded(logits, labels, targeted)
                best_adv, best_loss, best_fooled = keep_best(x_adv, losses, fooled, best_adv, best_loss, best_fooled)
                x_adv = ascent_step(x, x_adv, grad, step_size=step_size, eps=eps, norm=norm, lo=lo, hi=hi)
            return x_adv, best_adv, best_loss, best_fooled
        return pgd_steps
    return build


def _finish_fn(loss: str, targeted: bool):
    def build(logits_model):
        def pgd_finish(labels, source, x_adv, best_adv, best_loss, best_fooled):
            logits = logits_model(x_adv)
            losses = attack_loss(loss, logits, labels, targeted, source)
            fooled = _compiled.attack_succeeded(logits, labels, targeted)
            return keep_best(x_adv, losses, fooled, best_adv, best_loss, best_fooled)
        return pgd_finish
    return build


def _bucket(active: int, full: int) -> int:
    """Batch size to run ``active`` examples at: exact without XLA, else the next power of two.

    XLA compiles once per shape, so a batch shrinking by one example at a time would recompile at
    every check; powers of two bound that to log2(batch) compilations at most 2x padding.
    """
    if not config.use_xla():
        return active
    return min(full, 1 << (active - 1).bit_length())


class _PGDRun:
    """The PGD loop over restarts (and over active sub-batches when early stopping) for one batch."""

    def __init__(self, inputs, *, norm, loss, targeted, eps, step_size, steps):
        self.inputs, self.norm, self.steps = inputs, norm, steps
        model = inputs.model
        self.steps_fn = _compiled.cached_function(model, "pgd_steps", (norm, loss, targeted),
                                                  _steps_fn(norm, loss, targeted))
        self.finish_fn = _compiled.cached_function(model, "pgd_finish", (loss, targeted), _finish_fn(loss, targeted))
        self.evaluate_fn = _compiled.evaluate(model, loss, targeted)
        self.loss, self.targeted = loss, targeted
        self.eps = tf.constant(eps, tf.float32)
        self.scalars = (self.eps, tf.constant(step_size, tf.float32), tf.constant(inputs.lo, tf.float32),
                        tf.constant(inputs.hi, tf.float32))
        self.example_steps = 0
        self.forward_passes = 0

    def __call__(self, x, labels, *, restarts, random_start, early_stop, generator):
        source = _compiled.source_labels(self.inputs.model, x, labels, self.loss, self.targeted)
        clean_loss, clean_logits = self.evaluate_fn(x, labels, source)
        self.forward_passes += int(x.shape[0])
        best = (x, clean_loss, _compiled.attack_succeeded(clean_logits, labels, self.targeted))
        if float(self.eps) == 0:
            return best
        for _ in range(restarts):
            start = (draw_random_start(x, self.eps, self.norm, self.inputs.lo, self.inputs.hi, generator=generator)
                     if random_start else x)
            if early_stop:
                best = self._run_early_stopped(x, labels, source, start, best)
            else:
                x_end, *best = self.steps_fn(x, labels, source, start, *best, *self.scalars, tf.constant(self.steps))
                best = self.finish_fn(labels, source, x_end, *best)
                self.example_steps += int(x.shape[0]) * self.steps
                self.forward_passes += int(x.shape[0])
        return best

    def _run_early_stopped(self, x, labels, source, x_adv, best):
        full = int(x.shape[0])
        active = np.flatnonzero(~best[2].numpy())
        remaining = self.steps
        while remaining > 0 and active.size:
            n_steps = min(EARLY_STOP_EVERY, remaining)
            remaining -= n_steps
            padded = np.concatenate([active, np.full(_bucket(active.size, full) - active.size, active[0])])
            rows = tf.constant(padded[:, None])
            sub = [tf.gather_nd(t, rows) for t in (x, labels, source, x_adv, *best)]
            x_sub, *best_sub = self.steps_fn(*sub, *self.scalars, tf.constant(n_steps))
            self.example_steps += padded.size * n_steps
            if remaining == 0:
                best_sub = self.finish_fn(sub[1], sub[2], x_sub, *best_sub)
                self.forward_passes += padded.size
            keep_rows = tf.constant(active[:, None])
            x_adv = tf.tensor_scatter_nd_update(x_adv, keep_rows, x_sub[:active.size])
            best = tuple(tf.tensor_scatter_nd_update(full_t, keep_rows, sub_t[:active.size])
                         for full_t, sub_t in zip(best, best_sub))
            active = active[~best_sub[2].numpy()[:active.size]]
        return best


def pgd(model, x, y, *, eps, norm="linf", loss="ce", targeted=False, bounds=(0.0, 1.0), seed=None, batch_size=None,
        return_info=False, steps=DEFAULT_STEPS, step_size=None, restarts=1, random_start=True, early_stop=False,
        y_true=None):
    """Projected gradient descent with restarts (Madry et al. 2018), optionally early-stopped per example.

    Args:
        model: callable from images to logits (tf_keras, Keras 3, SavedModel function); a softmax
            output is detected and attacked on log-probabilities. Called with ``training=False``.
        x: float images in ``bounds``, shape (batch, ...).
        y: true labels (untargeted) or target labels (targeted), sparse (batch,) or one-hot.
        eps: radius of the threat model in pixel units (eps == 0 returns x unchanged).
        norm: "linf" or "l2".
        loss: "ce", "margin" (Carlini & Wagner) or "dlr" (Croce & Hein); targeted DLR moves away from
            the model's clean prediction.
        targeted: y are target labels; success means reaching them.
        y_true: targeted only, optional: the true labels; a row whose target equals its true label is refused
            (an exact check; without y_true, targets that are mostly the clean predictions are refused).
        bounds: (low, high) pixel range.
        seed: integer for reproducible random starts.
        batch_size: if given, attack x in chunks of this many examples.
        return_info: also return ``tfrobust.attacks.info.attack_info``'s dict.
        steps: number of gradient steps per restart, integer > 0 (default 40).
        step_size: size of each step (L-inf: per coordinate; L2: Euclidean), > 0; ``None`` gives
            Madry et al.'s ``2.5 * eps / steps``.
        restarts: number of runs from independent random starts, integer >= 1 (with
            ``random_start=False`` every run would be identical, so one is run).
        random_start: start at a uniform random point of the eps-ball, clipped to the bounds.
        early_stop: attack only examples not yet fooled (same result, less compute).

    Returns:
        x_adv, float32 like x: a numpy array for a float32 numpy x (written chunk by chunk into one preallocated
        array, so peak memory is x, x_adv and one chunk's working set whatever N), else a tensor; with
        ``return_info`` the pair (x_adv, info) with the keys of
        ``attack_info``: "success", "loss" (attack loss of the returned example), "perturbation_norm",
        "example_steps" (forward+backward passes computed, summed over examples), "forward_passes"
        (forward-only example evaluations) and "extra" (empty).

    Raises:
        TypeError, ValueError: bad images, labels, eps, step_size, steps, restarts, norm, loss, bounds, seed.
    """
    norm = check_choice(norm, NORMS, "norm")
    loss = check_choice(loss, LOSSES, "loss")
    targeted = check_flag(targeted, "targeted")
    random_start = check_flag(random_start, "random_start")
    early_stop = check_flag(early_stop, "early_stop")
    return_info = check_flag(return_info, "return_info")
    eps = check_epsilon(eps, bounds, norm)
    steps = check_positive(steps, "steps", integer=True)
    if step_size is None:
        step_size = madry_step_size(eps, steps) if eps > 0 else 1.0
    step_size = check_positive(step_size, "step_size")
    restarts = check_positive(restarts, "restarts", integer=True)
    seed = check_seed(seed)
    batch_size = check_batch_size(batch_size)
    inputs = prepare(model, x, y, bounds, targeted=targeted, true_labels=y_true, keep_numpy=True)
    check_loss_classes(loss, inputs.model.num_classes, targeted)

    run = _PGDRun(inputs, norm=norm, loss=loss, targeted=targeted, eps=eps, step_size=step_size, steps=steps)
    generator = make_generator(seed)
    numpy_in = isinstance(inputs.x, np.ndarray)
    # numpy in, numpy out: the chunks are written into one preallocated array (no list of chunks + concat copy)
    x_out = np.empty_like(inputs.x) if numpy_in and eps > 0 else None
    x_parts, losses, fooled = [], [], []
    for part in chunks(int(inputs.x.shape[0]), batch_size):
        x_part, loss_part, fooled_part = run(chunk_tensor(inputs.x, part), inputs.labels[part],
                                             restarts=restarts if random_start else 1, random_start=random_start,
                                             early_stop=early_stop, generator=generator)
        if x_out is not None:
            x_out[part] = x_part.numpy()
        else:
            x_parts.append(x_part)
        losses.append(loss_part)
        fooled.append(fooled_part)
    best_loss, success = tf.concat(losses, axis=0), tf.concat(fooled, axis=0)
    if eps == 0:
        x_adv = inputs.x.copy() if numpy_in else inputs.x
    else:
        x_adv = x_out if x_out is not None else tf.concat(x_parts, axis=0)
    if not return_info:
        return x_adv
    return x_adv, attack_info(success=success.numpy(), loss=best_loss.numpy(), x=inputs.x, x_adv=x_adv, norm=norm,
                              example_steps=run.example_steps, forward_passes=run.forward_passes)


def _pgd_label(settings) -> str:
    text = f"pgd-{settings['steps']}x{settings['restarts']}-{settings['loss']}"
    return text if settings["norm"] == "linf" else f"{text}-{settings['norm']}"


register("pgd", pgd, quick_settings={"steps": 5}, eps_defaults=lambda eps, settings: {"step_size": madry_step_size(eps, settings["steps"])},
         label=_pgd_label)
