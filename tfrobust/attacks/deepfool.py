"""DeepFool (Moosavi-Dezfooli, Fawzi & Frossard 2016, "DeepFool: a simple and accurate method to fool deep
neural networks"): a minimal-perturbation attack that steps to the nearest linearised decision boundary.

At the current point x_i, with k0 the class to leave (the true label), the classifier is linearised for
every candidate class k != k0:

    f'_k = z_k(x_i) - z_k0(x_i),        w'_k = grad_x z_k(x_i) - grad_x z_k0(x_i).

The closest linearised boundary is l = argmin_k |f'_k| / ||w'_k||_q, with q the dual norm of the threat
model (q = 2 for L2, q = 1 for L-inf), and the step onto it is (Algorithm 2 and Sec. 3.3 of the paper)

    L2:    r_i = |f'_l| / ||w'_l||_2^2 * w'_l
    L-inf: r_i = |f'_l| / ||w'_l||_1   * sign(w'_l).

Images live in a box [low, high]^d, which the paper ignores. Clipping the paper's step throws away its
components that point out of the box, and near saturated pixels the iteration then stalls (on a small
MNIST CNN a fifth of the digits were still unbroken after 50 steps). Here r_i is instead the minimal-norm
step onto the same hyperplane inside the box (FAB's projection, ``tfrobust.attacks.boundary``); it is the
paper's step whenever no pixel would leave the box.

The steps add up, r = sum_i r_i, and x_{i+1} = clip(x_0 + (1 + overshoot) * r, low, high), until the
prediction leaves k0 or ``steps`` iterations have passed; overshoot = 0.02 as in the paper. For an affine
classifier the first step is exact: x_1 - x_0 = (1 + overshoot) times the vector to the nearest boundary,
whose length is |f'_l| / ||w'_l||_q (the paper's Eq. 3 and its l_p form).

As in the paper, the candidates are the ``candidates`` classes with the highest clean logits (10 in the
paper; every class for MNIST or CIFAR-10). The targeted variant (ours; the paper is untargeted) linearises
the one boundary between the target t and the strongest other class m, f' = z_t - z_m, at every step.

``tfrobust.attacks.boundary`` (the linearised boundaries and the projection onto one) is shared with FAB. ``deepfool_step`` is one
linearised step for a batch (or a single example), for universal perturbations (Moosavi-Dezfooli et al.
2017) that accumulate DeepFool steps across images.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfrobust.attacks import _compiled
from tfrobust.attacks._inputs import check_batch_size, check_flag, check_seed, chunks, prepare
from tfrobust.attacks.boundary import linearised_boundaries, project_onto_hyperplane_in_box
from tfrobust.attacks.info import MinimalPerturbation
from tfrobust.attacks.norms import perturbation_norm
from tfrobust.logits import as_logits_model
from tfrobust.validation import NORMS, check_bounds, check_choice, check_images, check_labels, check_positive

_TINY = 1e-12


def _dual_norm(w, norm: str):
    """||w||_q along the last axis, q the dual of the threat model's norm."""
    return tf.reduce_sum(tf.abs(w), axis=-1) if norm == "linf" else tf.norm(w, axis=-1)


def _step_fn(norm: str, targeted: bool):
    def build(logits_model):
        def deepfool_step(x, labels, classes, lo, hi):
            if targeted:  # the boundary between the target and the strongest other class
                logits = logits_model(x)
                onehot = tf.one_hot(labels, tf.shape(logits)[-1], dtype=logits.dtype)
                reference = tf.argmax(logits - 1e9 * onehot, axis=-1, output_type=labels.dtype)
                logits, f, w = linearised_boundaries(logits_model, x, reference, labels[:, None])
            else:
                logits, f, w = linearised_boundaries(logits_model, x, labels, classes)
            distance = tf.abs(f) / (_dual_norm(w, norm) + _TINY)
            nearest = tf.argmin(distance, axis=1, output_type=tf.int32)[:, None]
            f_l = tf.gather(f, nearest, batch_dims=1)[:, 0]
            w_l = tf.gather(w, nearest, batch_dims=1)[:, 0]
            flat = tf.reshape(x, tf.shape(w_l))
            r = project_onto_hyperplane_in_box(flat, w_l, -f_l, lo, hi, norm)
            fooled = _compiled.attack_succeeded(logits, labels, targeted)
            return tf.reshape(r, tf.shape(x)), fooled
        return deepfool_step
    return build


def _candidate_classes(clean_logits, labels, candidates: int) -> tf.Tensor:
    """Per example the ``candidates - 1`` classes other than the label with the highest clean logits."""
    num_classes = int(clean_logits.shape[-1])
    onehot = tf.one_hot(labels, num_classes, dtype=clean_logits.dtype)
    k = max(1, min(candidates, num_classes) - 1)
    return tf.math.top_k(clean_logits - 1e9 * onehot, k=k).indices


def deepfool_step(model, x, y, *, norm="l2", candidates=10, targeted=False, bounds=(0.0, 1.0)):
    """One DeepFool step: per example the smallest step onto the nearest linearised decision boundary.

    Args:
        model: callable images -> logits (or a ``LogitsModel``).
        x: images (batch, ...); one example is a batch of one.
        y: the classes to leave (untargeted) or the targets (targeted), sparse or one-hot.
        norm: "l2" or "linf".
        candidates: how many top classes of the logits at x are considered (>= 2).
        targeted: step towards the boundary of the target instead.
        bounds: (low, high) box the step stays inside.

    Returns:
        (r, fooled): r, float32 like x, the step r_i of the module docstring (no overshoot; x + r stays in
        ``bounds``),
        and bool (batch,) whether x already has a label other than y (untargeted) or the target (targeted).

    Raises:
        TypeError, ValueError: bad images, labels, norm or candidates.
    """
    norm = check_choice(norm, NORMS, "norm")
    targeted = check_flag(targeted, "targeted")
    candidates = check_positive(candidates, "candidates", integer=True)
    if candidates < 2:
        raise ValueError(f"candidates must be >= 2 (the label and at least one other class), got {candidates}.")
    lo, hi = check_bounds(bounds)
    x = check_images(x, (lo, hi))
    logits_model = as_logits_model(model, x)
    labels = check_labels(y, logits_model.num_classes, batch_size=int(x.shape[0]))
    step = _compiled.cached_function(logits_model, "deepfool_step", (norm, targeted), _step_fn(norm, targeted))
    classes = labels[:, None] if targeted else _candidate_classes(logits_model(x), labels, candidates)
    return step(x, labels, classes, tf.constant(lo, tf.float32), tf.constant(hi, tf.float32))


def _run(inputs, x, labels, clean_logits, *, norm, targeted, steps, overshoot, candidates, step):
    """DeepFool on one chunk; returns (x_adv, success, clean_fooled, iterations, example_steps)."""
    x_np = x.numpy()
    clean_fooled = _compiled.attack_succeeded(clean_logits, labels, targeted).numpy()
    classes = labels[:, None] if targeted else _candidate_classes(clean_logits, labels, candidates)
    x_adv, r_total = x_np.copy(), np.zeros_like(x_np)
    success = clean_fooled.copy()
    active = ~clean_fooled
    iterations = np.zeros(x_np.shape[0], np.int32)
    example_steps = 0
    box = (tf.constant(inputs.lo, tf.float32), tf.constant(inputs.hi, tf.float32))
    for i in range(steps + 1):
        rows = np.flatnonzero(active)
        if rows.size == 0:
            break
        r, fooled = step(tf.constant(x_adv[rows]), tf.gather(labels, rows), tf.gather(classes, rows), *box)
        example_steps += rows.size
        fooled = fooled.numpy()
        success[rows[fooled]] = True
        active[rows[fooled]] = False
        moving = rows[~fooled]
        if i == steps or moving.size == 0:  # the last pass only checks the last iterate
            break
        r_total[moving] += r.numpy()[~fooled]
        x_adv[moving] = np.clip(x_np[moving] + (1.0 + overshoot) * r_total[moving], inputs.lo, inputs.hi)
        iterations[moving] += 1
    x_adv[~success] = x_np[~success]
    return x_adv, success, clean_fooled, iterations, example_steps


def deepfool(model, x, y, *, norm="l2", targeted=False, bounds=(0.0, 1.0), seed=None, batch_size=None, steps=50,
             overshoot=0.02, candidates=10, y_true=None) -> MinimalPerturbation:
    """DeepFool (Moosavi-Dezfooli et al. 2016): per example a small perturbation that changes the label.

    Args:
        model: callable images -> logits (softmax models are attacked on log-probabilities).
        x: images in ``bounds``, shape (batch, ...).
        y: true labels (untargeted) or target labels (targeted), sparse or one-hot.
        norm: "l2" or "linf" (the norm minimised, and the one ``norms`` are measured in).
        targeted: reach the labels y instead of leaving them (see the module docstring).
        y_true: targeted only, optional: the true labels; a row whose target equals its true label is refused
            (an exact check; without y_true, targets that are mostly the clean predictions are refused).
        bounds: (low, high) pixel range; every step stays inside it.
        seed: accepted for the common contract; DeepFool is deterministic.
        batch_size: attack in chunks of this many examples.
        steps: maximum number of linearisation steps (50 in the paper's code), integer > 0.
        overshoot: the factor (1 + overshoot) on the summed steps, >= 0 (0.02 in the paper).
        candidates: number of top clean classes (the label included) considered, >= 2 (10 in the paper).

    Returns:
        ``MinimalPerturbation``: ``x_adv`` the DeepFool image where it fooled the model, x elsewhere;
        ``norms`` ||x_adv - x|| (0 where x is already fooled, inf where ``steps`` did not suffice);
        ``info`` "iterations" (steps taken per example) and "example_steps" (Jacobian evaluations).

    Raises:
        TypeError, ValueError: bad images, labels, norm, bounds, steps, overshoot or candidates.
    """
    norm = check_choice(norm, NORMS, "norm")
    targeted = check_flag(targeted, "targeted")
    check_seed(seed)
    batch_size = check_batch_size(batch_size)
    steps = check_positive(steps, "steps", integer=True)
    if isinstance(overshoot, bool) or not isinstance(overshoot, (int, float, np.floating, np.integer)) \
            or not np.isfinite(overshoot) or overshoot < 0:
        raise ValueError(f"overshoot must be a finite number >= 0 (0.02 in the paper), got {overshoot!r}.")
    candidates = check_positive(candidates, "candidates", integer=True)
    if candidates < 2:
        raise ValueError(f"candidates must be >= 2 (the label and at least one other class), got {candidates}.")
    inputs = prepare(model, x, y, bounds, targeted=targeted, true_labels=y_true)
    step = _compiled.cached_function(inputs.model, "deepfool_step", (norm, targeted), _step_fn(norm, targeted))
    clean_logits = inputs.clean_logits if inputs.clean_logits is not None else inputs.model(inputs.x)
    parts = [_run(inputs, inputs.x[part], inputs.labels[part], clean_logits[part], norm=norm, targeted=targeted,
                  steps=steps, overshoot=float(overshoot), candidates=candidates, step=step)
             for part in chunks(tuple(inputs.x.shape), batch_size)]
    x_adv, success, clean_fooled, iterations = (np.concatenate([p[i] for p in parts]) for i in range(4))
    norms = perturbation_norm(tf.constant(x_adv) - inputs.x, norm).numpy().astype(np.float64)
    norms = np.where(clean_fooled, 0.0, np.where(success, norms, np.inf))
    return MinimalPerturbation(x_adv=tf.constant(x_adv), norms=norms, success=success, norm=norm,
                               info={"iterations": iterations, "example_steps": int(sum(p[4] for p in parts))})


from tfrobust.attacks.registry import register  # noqa: E402  (registration at the bottom, as every attack)

register("deepfool", deepfool, kind="minimal", quick_settings={"steps": 10}, label=lambda s: "deepfool-" + s.get("norm", "l2"))
