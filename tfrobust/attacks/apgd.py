"""Auto-PGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", ICML, Algorithm 1).

APGD is PGD with momentum whose step size adapts itself, so it has no step size to tune. For the attack
loss f (to be maximised), P the projection onto the eps-ball around x intersected with the image box and
s the steepest-ascent direction of the norm (sign for L-inf, g / ||g||_2 for L2):

    x^(0) = a random point of the ball,   eta^(0) = 2 eps,   alpha = 0.75
    x^(1) = P(x^(0) + eta^(0) s(grad f(x^(0))))
    for k = 1 .. N - 1:
        z^(k+1) = P(x^(k) + eta^(k) s(grad f(x^(k))))
        x^(k+1) = P(x^(k) + alpha (z^(k+1) - x^(k)) + (1 - alpha) (x^(k) - x^(k-1)))
        x_max, f_max = the point with the highest loss so far
        if k + 1 is a checkpoint w_j:
            halve eta (per example) if
              (1) sum_{i = w_{j-1}}^{w_j - 1} 1[f(x^(i+1)) > f(x^(i))] < rho (w_j - w_{j-1}),  rho = 0.75, or
              (2) eta^(w_{j-1}) == eta^(w_j) and f_max^(w_{j-1}) == f_max^(w_j)
            and when halved, continue from x^(w_j) = x_max.

Checkpoints are w_j = ceil(p_j N) with p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06).
After a halving the run continues from x_max without momentum (x^(k-1) := x_max): the momentum of the
abandoned point does not point anywhere useful from x_max (our choice; the paper leaves it open).

Variants:

- ``apgd``: untargeted (loss "ce", "dlr" or "margin"; APGD-CE and APGD-DLR of AutoAttack) or, with
  ``targeted=True``, towards given target labels (DLR then moves away from the clean prediction).
- ``apgd_targeted`` (APGD-T): untargeted in goal, but run as targeted attacks with the targeted DLR loss
  -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2) against each of the ``n_target_classes`` classes with the
  highest clean logits other than the prediction (k = 9 by default), one full run per target, each on the
  examples not yet fooled.
- ``eot_samples > 1`` averages loss and gradient over that many forward passes (expectation over
  transformation, Athalye et al. 2018) for randomised models; AutoAttack's "rand" version uses 20.

Returned per example: the first iterate that fools the model, else the highest-loss iterate of all runs.
Examples already fooled leave the batch at every checkpoint (per-example early stop, as in AutoAttack);
the random starts are drawn for the whole input at once, so the result does not depend on ``batch_size``.
"""
from __future__ import annotations

import math
from typing import List

import numpy as np
import tensorflow as tf

from tfrobust import config
from tfrobust.attacks import _compiled
from tfrobust.attacks._inputs import (check_batch_size, check_flag, check_loss_classes, check_seed, chunks,
                                      make_generator, prepare)
from tfrobust.attacks.info import attack_info
from tfrobust.attacks.losses import attack_loss
from tfrobust.attacks.norms import random_start as draw_random_start
from tfrobust.attacks.pgd_step import ascent_step, project_to_ball
from tfrobust.attacks.registry import register
from tfrobust.validation import LOSSES, NORMS, check_choice, check_epsilon, check_positive

FIRST_CHECKPOINT = 0.22   # p_1
CHECKPOINT_SHRINK = 0.03  # p_{j+1} - p_j = max(p_j - p_{j-1} - 0.03, 0.06)
CHECKPOINT_MIN_GAP = 0.06
INITIAL_STEP_FACTOR = 2.0  # eta^(0) = 2 eps


def checkpoints(steps: int) -> List[int]:
    """The iterations w_0 = 0 < w_1 < ... < steps at which APGD may halve its step (Croce & Hein 2020).

    Args:
        steps: the number of iterations N.

    Returns:
        Sorted distinct iterations ceil(p_j N), starting with 0 and ending with ``steps``.
    """
    p = [0.0, FIRST_CHECKPOINT]
    while p[-1] < 1.0:
        p.append(p[-1] + max(p[-1] - p[-2] - CHECKPOINT_SHRINK, CHECKPOINT_MIN_GAP))
    points = {min(steps, int(math.ceil(round(q * steps, 6)))) for q in p}
    return sorted(points | {0, steps})


def _per_example(t, like):
    """Reshapes a (batch,) tensor so that it broadcasts against images ``like``."""
    return tf.reshape(t, tf.concat([[-1], tf.ones([tf.rank(like) - 1], tf.int32)], 0))


def _where(mask, a, b):
    return tf.where(_per_example(mask, a), a, b)


def _loss_grad_logits(logits_model, x, loss_labels, source, loss, loss_targeted, eot_samples):
    """Attack loss, its input gradient and the logits; averaged over ``eot_samples`` forward passes."""
    if eot_samples == 1:
        return _compiled.input_gradient(logits_model, x, loss_labels, source, loss, loss_targeted)
    total = _compiled.input_gradient(logits_model, x, loss_labels, source, loss, loss_targeted)
    for _ in tf.range(eot_samples - 1):
        sample = _compiled.input_gradient(logits_model, x, loss_labels, source, loss, loss_targeted)
        total = tuple(a + b for a, b in zip(total, sample))
    return tuple(t / float(eot_samples) for t in total)


def _keep_best(x_new, f_new, fooled_now, best_adv, best_loss, fooled):
    """Per example keeps the first fooling iterate, else the highest-loss one."""
    improve = tf.logical_and(tf.logical_not(fooled), tf.logical_or(fooled_now, f_new > best_loss))
    return _where(improve, x_new, best_adv), tf.where(improve, f_new, best_loss), tf.logical_or(fooled, fooled_now)


def _start_fn(norm, loss, loss_targeted, goal_targeted, eot_samples):
    def build(logits_model):
        def apgd_start(x, loss_labels, source, goal_labels, x0, best_adv, best_loss, fooled):
            f0, g0, logits = _loss_grad_logits(logits_model, x0, loss_labels, source, loss, loss_targeted,
                                               eot_samples)
            best_adv, best_loss, fooled = _keep_best(
                x0, f0, _compiled.attack_succeeded(logits, goal_labels, goal_targeted), best_adv, best_loss, fooled)
            return best_adv, best_loss, fooled, f0, g0
        return apgd_start
    return build


def _segment_fn(norm, loss, loss_targeted, goal_targeted, eot_samples):
    """Compiled run of APGD from one checkpoint to the next, with the step-size rule at its end."""
    def build(logits_model):
        def apgd_segment(x, loss_labels, source, goal_labels, x_cur, x_prev, grad, f_cur, step, x_max, f_max,
                         g_max, counter, f_check, reduced, best_adv, best_loss, fooled,
                         eps, lo, hi, momentum, rho, n_steps, first, checkpoint):
            for i in tf.range(n_steps):
                a = tf.where(tf.logical_and(first, tf.equal(i, 0)), 1.0, momentum)
                z = ascent_step(x, x_cur, grad, step_size=_per_example(step, x), eps=eps, norm=norm, lo=lo, hi=hi)
                x_new = project_to_ball(x, x_cur + a * (z - x_cur) + (1.0 - a) * (x_cur - x_prev),
                                        eps=eps, norm=norm, lo=lo, hi=hi)
                f_new, g_new, logits = _loss_grad_logits(logits_model, x_new, loss_labels, source, loss,
                                                         loss_targeted, eot_samples)
                best_adv, best_loss, fooled = _keep_best(
                    x_new, f_new, _compiled.attack_succeeded(logits, goal_labels, goal_targeted),
                    best_adv, best_loss, fooled)
                counter = counter + tf.cast(f_new > f_cur, tf.float32)
                up = f_new > f_max
                x_max, g_max, f_max = _where(up, x_new, x_max), _where(up, g_new, g_max), tf.where(up, f_new, f_max)
                x_prev, x_cur, grad, f_cur = x_cur, x_new, g_new, f_new
            # The step-size rule at checkpoint w_j (conditions (1) and (2) of the module docstring).
            few_increases = counter < rho * tf.cast(n_steps, tf.float32)
            stalled = tf.logical_and(tf.logical_not(reduced), f_check >= f_max)
            halve = tf.logical_and(checkpoint, tf.logical_or(few_increases, stalled))
            step = tf.where(halve, 0.5 * step, step)
            x_cur, x_prev = _where(halve, x_max, x_cur), _where(halve, x_max, x_prev)
            grad, f_cur = _where(halve, g_max, grad), tf.where(halve, f_max, f_cur)
            counter = tf.where(checkpoint, tf.zeros_like(counter), counter)
            f_check = tf.where(checkpoint, f_max, f_check)
            reduced = tf.where(checkpoint, halve, reduced)
            return (x_cur, x_prev, grad, f_cur, step, x_max, f_max, g_max, counter, f_check, reduced,
                    best_adv, best_loss, fooled)
        return apgd_segment
    return build


def call_batch_generic(fn, *args):
    """Calls the compiled ``fn`` after tracing it once for any batch size (rank >= 1 arguments get a None
    batch dimension): early stop shrinks the batch at every check, and without this the first two sizes
    would each cost a trace (seconds for an attack loop), the later ones none."""
    specs = [tf.TensorSpec([None] + a.shape[1:].as_list() if a.shape.rank else [], a.dtype) for a in args]
    fn.get_concrete_function(*specs)  # traced on the first call only; cached by tf.function afterwards
    return fn(*args)


def _bucket(active: int, full: int) -> int:
    """Rows to run ``active`` examples at: exact without XLA, else the next power of two (one compile per size)."""
    if not config.use_xla():
        return active
    return min(full, 1 << (active - 1).bit_length())


class _APGDRun:
    """APGD runs (restarts, targets) on one chunk, keeping per example the best result so far."""

    def __init__(self, inputs, *, norm, loss, loss_targeted, goal_targeted, eps, steps, momentum, rho,
                 eot_samples):
        self.inputs, self.norm, self.steps = inputs, norm, steps
        self.loss, self.loss_targeted, self.goal_targeted = loss, loss_targeted, goal_targeted
        options = (norm, loss, loss_targeted, goal_targeted, eot_samples)
        self.start_fn = _compiled.cached_function(inputs.model, "apgd_start", options, _start_fn(*options))
        self.segment_fn = _compiled.cached_function(inputs.model, "apgd_segment", options, _segment_fn(*options))
        self.eval_fn = _compiled.evaluate(inputs.model, loss, loss_targeted)
        self.eps = eps
        self.scalars = (tf.constant(eps, tf.float32), tf.constant(inputs.lo, tf.float32),
                        tf.constant(inputs.hi, tf.float32), tf.constant(momentum, tf.float32),
                        tf.constant(rho, tf.float32))
        self.points = checkpoints(steps)
        self.eot_samples = eot_samples
        self.example_steps = 0
        self.forward_passes = 0

    def clean(self, x, loss_labels, source, goal_labels):
        """The clean point as iterate zero: (best_adv, best_loss, fooled)."""
        losses, logits = self.eval_fn(x, loss_labels, source)
        self.forward_passes += int(x.shape[0])
        return x, losses, _compiled.attack_succeeded(logits, goal_labels, self.goal_targeted)

    def run(self, x, loss_labels, source, goal_labels, x0, best):
        """One APGD run of ``steps`` iterations from ``x0`` on the examples of ``best`` not yet fooled."""
        full = int(x.shape[0])
        active = np.flatnonzero(~best[2].numpy())
        if active.size == 0 or self.eps == 0:
            return best
        state = None
        for index, (w_prev, w_next) in enumerate(zip(self.points[:-1], self.points[1:])):
            if active.size == 0:
                break
            padded = np.concatenate([active, np.full(_bucket(active.size, full) - active.size, active[0])])
            rows = tf.constant(padded[:, None])
            fixed = [tf.gather_nd(t, rows) for t in (x, loss_labels, source, goal_labels)]
            if state is None:  # the start point of this run
                x_start = tf.gather_nd(x0, rows)
                best_sub = [tf.gather_nd(t, rows) for t in best]
                best_adv, best_loss, fooled, f0, g0 = call_batch_generic(self.start_fn, *fixed, x_start, *best_sub)
                self.example_steps += padded.size * self.eot_samples
                n = padded.size
                step = tf.fill([n], INITIAL_STEP_FACTOR * self.eps)
                sub = (x_start, x_start, g0, f0, step, x_start, f0, g0, tf.zeros([n]), f0, tf.zeros([n], tf.bool),
                       best_adv, best_loss, fooled)
            else:
                sub = [tf.gather_nd(t, rows) for t in state]
            sub = call_batch_generic(self.segment_fn, *fixed, *sub, *self.scalars, tf.constant(w_next - w_prev),
                                     tf.constant(index == 0), tf.constant(w_next < self.steps))
            self.example_steps += padded.size * (w_next - w_prev) * self.eot_samples
            keep = tf.constant(active[:, None])
            if state is None:  # rows of examples that never run stay zero and are never read
                state = [tf.scatter_nd(keep, t[:active.size],
                                       tf.concat([[full], tf.shape(t, out_type=tf.int64)[1:]], 0)) for t in sub]
            else:
                state = [tf.tensor_scatter_nd_update(full_t, keep, t[:active.size]) for full_t, t in zip(state, sub)]
            best = tuple(tf.tensor_scatter_nd_update(full_t, keep, t[:active.size])
                         for full_t, t in zip(best, sub[-3:]))
            active = active[~sub[-1].numpy()[:active.size]]
        return best


def _validate(model, x, y, *, eps, norm, loss, targeted, bounds, seed, batch_size, return_info, steps, restarts,
              momentum, rho, eot_samples, y_true=None):
    norm = check_choice(norm, NORMS, "norm")
    loss = check_choice(loss, LOSSES, "loss")
    targeted = check_flag(targeted, "targeted")
    return_info = check_flag(return_info, "return_info")
    eps = check_epsilon(eps, bounds, norm)
    steps = int(check_positive(steps, "steps", integer=True))
    restarts = int(check_positive(restarts, "restarts", integer=True))
    eot_samples = int(check_positive(eot_samples, "eot_samples", integer=True))
    momentum = float(momentum)
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must be in [0, 1) (the paper's alpha is 0.75), got {momentum}.")
    rho = float(rho)
    if not 0.0 < rho <= 1.0:
        raise ValueError(f"rho must be in (0, 1] (the paper uses 0.75), got {rho}.")
    seed = check_seed(seed)
    batch_size = check_batch_size(batch_size)
    inputs = prepare(model, x, y, bounds, targeted=targeted, true_labels=y_true)
    return inputs, dict(norm=norm, loss=loss, targeted=targeted, eps=eps, steps=steps, restarts=restarts,
                        momentum=momentum, rho=rho, eot_samples=eot_samples, seed=seed, batch_size=batch_size,
                        return_info=return_info)


def _random_starts(inputs, eps, norm, restarts, seed):
    """One random start per restart for the whole input (so chunking does not change the draws)."""
    generator = make_generator(seed)
    return [draw_random_start(inputs.x, eps, norm, inputs.lo, inputs.hi, generator=generator)
            for _ in range(restarts)]


def _finish(inputs, run, results, settings, extra):
    x_adv, best_loss, success = (tf.concat(parts, axis=0) for parts in zip(*results))
    if settings["eps"] == 0:
        x_adv = inputs.x
    if not settings["return_info"]:
        return x_adv
    return x_adv, attack_info(success=success.numpy(), loss=best_loss.numpy(), x=inputs.x, x_adv=x_adv,
                              norm=settings["norm"], example_steps=run.example_steps,
                              forward_passes=run.forward_passes, extra=extra)


def apgd(model, x, y, *, eps, norm="linf", loss="ce", targeted=False, bounds=(0.0, 1.0), seed=None,
         batch_size=None, return_info=False, steps=100, restarts=1, momentum=0.75, rho=0.75, eot_samples=1,
         y_true=None):
    """Auto-PGD (Croce & Hein 2020), untargeted or towards given targets; see the module docstring.

    Args:
        model: callable images -> logits (softmax models are attacked on log-probabilities).
        x: images in ``bounds``, shape (batch, ...).
        y: true labels (untargeted) or target labels (targeted), sparse or one-hot.
        eps: radius of the ball in pixel units (0 returns x).
        norm: "linf" or "l2".
        loss: "ce" (APGD-CE), "dlr" (APGD-DLR; >= 3 classes, >= 4 targeted) or "margin".
        targeted: y are targets; success means reaching them.
        y_true: targeted only, optional: the true labels; a row whose target equals its true label is refused
            (an exact check; without y_true, targets that are mostly the clean predictions are refused).
        bounds: (low, high) pixel range.
        seed: seed of the random starts (None: fresh randomness).
        batch_size: attack in chunks of this many examples (same result as one chunk).
        return_info: also return the info dict (``tfrobust.attacks.info.attack_info``).
        steps: iterations N per run (100 in AutoAttack).
        restarts: runs from independent random starts, each on the examples not yet fooled.
        momentum: alpha of the momentum step (0.75).
        rho: share of increasing steps below which the step is halved (0.75).
        eot_samples: forward passes averaged per gradient (1: none; 20 for randomised models).

    Returns:
        x_adv (float32, like x); with ``return_info`` the pair (x_adv, info); info["extra"] has
        "checkpoints" (the iterations w_j).

    Raises:
        TypeError, ValueError: bad images, labels, eps, norm, loss, settings, or too few classes for DLR.
    """
    inputs, s = _validate(model, x, y, eps=eps, norm=norm, loss=loss, targeted=targeted, bounds=bounds, seed=seed,
                          batch_size=batch_size, return_info=return_info, steps=steps, restarts=restarts,
                          momentum=momentum, rho=rho, eot_samples=eot_samples, y_true=y_true)
    check_loss_classes(s["loss"], inputs.model.num_classes, s["targeted"])
    run = _APGDRun(inputs, norm=s["norm"], loss=s["loss"], loss_targeted=s["targeted"], goal_targeted=s["targeted"],
                   eps=s["eps"], steps=s["steps"], momentum=s["momentum"], rho=s["rho"],
                   eot_samples=s["eot_samples"])
    starts = _random_starts(inputs, s["eps"], s["norm"], s["restarts"], s["seed"]) if s["eps"] > 0 else []
    results = []
    for part in chunks(int(inputs.x.shape[0]), s["batch_size"]):
        x_part, labels = inputs.x[part], inputs.labels[part]
        source = _compiled.source_labels(inputs.model, x_part, labels, s["loss"], s["targeted"])
        best = run.clean(x_part, labels, source, labels)
        for x0 in starts:
            best = run.run(x_part, labels, source, labels, x0[part], best)
        results.append(best)
    return _finish(inputs, run, results, s, {"checkpoints": run.points})


def target_classes(logits, labels, n_target_classes: int) -> np.ndarray:
    """Per example, the ``n_target_classes`` classes with the highest logits other than the top one.

    AutoAttack's APGD-T and FAB-T attack these in turn: the 2nd, 3rd, ... most likely classes at x.

    Args:
        logits: (batch, classes) clean logits.
        labels: (batch,) true labels (only used for their count).
        n_target_classes: how many targets.

    Returns:
        int32 array (batch, n_target_classes), column k the (k+2)-th highest class.
    """
    order = np.argsort(-np.asarray(logits), axis=1, kind="stable")
    del labels
    return order[:, 1:1 + n_target_classes].astype(np.int32)


def apgd_targeted(model, x, y, *, eps, norm="linf", loss="dlr", targeted=False, bounds=(0.0, 1.0), seed=None,
                  batch_size=None, return_info=False, steps=100, restarts=1, n_target_classes=9, momentum=0.75,
                  rho=0.75, eot_samples=1, y_true=None):
    """APGD-T (Croce & Hein 2020): misclassification by targeted APGD runs against the top-k other classes.

    For each k = 1 .. ``n_target_classes`` (and each restart), the examples still correctly classified are
    attacked by APGD maximising the targeted ``loss`` (targeted DLR by default) towards t_k, the class with
    the (k+1)-th highest clean logit. Success means misclassification (any class but y).

    Args:
        model, x, bounds, seed, batch_size, return_info, steps, restarts, momentum, rho, eot_samples:
            as in ``apgd``.
        y: true labels. With ``targeted=True`` they are the targets instead, and this is plain targeted
            ``apgd`` (there is nothing to choose).
        eps: radius of the ball in pixel units.
        norm: "linf" or "l2".
        loss: the targeted loss, "dlr" (AutoAttack; >= 4 classes), "ce" or "margin".
        targeted: see ``y``.
        y_true: targeted only, optional: the true labels; a row whose target equals its true label is refused
            (an exact check; without y_true, targets that are mostly the clean predictions are refused).
        n_target_classes: how many target classes (9 in AutoAttack), at most classes - 1.

    Returns:
        x_adv; with ``return_info`` (x_adv, info) and info["extra"]["broken_by_target"]: per example the
        rank k (1-based) of the target whose run fooled it, 0 where none did.

    Raises:
        TypeError, ValueError: as ``apgd``; n_target_classes not in [1, classes - 1].
    """
    inputs, s = _validate(model, x, y, eps=eps, norm=norm, loss=loss, targeted=targeted, bounds=bounds, seed=seed,
                          batch_size=batch_size, return_info=return_info, steps=steps, restarts=restarts,
                          momentum=momentum, rho=rho, eot_samples=eot_samples, y_true=y_true)
    num_classes = inputs.model.num_classes
    n_target_classes = int(check_positive(n_target_classes, "n_target_classes", integer=True))
    if n_target_classes > num_classes - 1:
        raise ValueError(f"n_target_classes={n_target_classes} but the model has {num_classes} classes; at most "
                         f"{num_classes - 1} other classes can be targets.")
    check_loss_classes(s["loss"], num_classes, True)
    if s["targeted"]:
        return apgd(model, inputs.x, inputs.labels, eps=s["eps"], norm=s["norm"], loss=s["loss"], targeted=True,
                    bounds=bounds, seed=s["seed"], batch_size=s["batch_size"], return_info=s["return_info"],
                    steps=s["steps"], restarts=s["restarts"], momentum=s["momentum"], rho=s["rho"],
                    eot_samples=s["eot_samples"], y_true=y_true)
    run = _APGDRun(inputs, norm=s["norm"], loss=s["loss"], loss_targeted=True, goal_targeted=False,
                   eps=s["eps"], steps=s["steps"], momentum=s["momentum"], rho=s["rho"],
                   eot_samples=s["eot_samples"])
    starts = _random_starts(inputs, s["eps"], s["norm"], s["restarts"] * n_target_classes, s["seed"]) \
        if s["eps"] > 0 else []
    clean_fn = _compiled.evaluate(inputs.model, "ce", False)
    results, broken_by = [], []
    for part in chunks(int(inputs.x.shape[0]), s["batch_size"]):
        x_part, labels = inputs.x[part], inputs.labels[part]
        _, logits = clean_fn(x_part, labels, labels)
        run.forward_passes += int(x_part.shape[0])
        targets = target_classes(logits.numpy(), labels.numpy(), n_target_classes)
        best = run.clean(x_part, tf.constant(targets[:, 0]), labels, labels)
        rank = np.zeros(int(x_part.shape[0]), np.int32)
        for k in range(n_target_classes if s["eps"] > 0 else 0):
            target = tf.constant(targets[:, k])
            for r in range(s["restarts"]):
                before = best[2].numpy()
                best = run.run(x_part, target, labels, labels, starts[k * s["restarts"] + r][part], best)
                rank[best[2].numpy() & ~before] = k + 1
        results.append(best)
        broken_by.append(rank)
    return _finish(inputs, run, results, s, {"checkpoints": run.points,
                                             "broken_by_target": np.concatenate(broken_by)})


register("apgd", apgd, quick_settings={"steps": 10},
         label=lambda s: "apgd-" + s.get("loss", "ce") + ("-targeted" if s.get("targeted") else ""))
register("apgd-t", apgd_targeted, aliases=("apgd_t", "apgd_targeted"),
         quick_settings={"steps": 10, "n_target_classes": 2},
         label=lambda s: "apgd-t" + ("" if s.get("loss", "dlr") == "dlr" else "-" + s.get("loss")))
