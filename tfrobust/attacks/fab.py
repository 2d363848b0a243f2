"""FAB, the fast adaptive boundary attack (Croce & Hein 2020, "Minimally distorted adversarial examples with
a fast adaptive boundary attack"), L-inf and L2, untargeted and targeted (FAB-T).

FAB looks for the adversarial example of smallest L_p norm. At the iterate x^(i), with c the class to
leave, the classifier is linearised as in DeepFool (``tfrobust.attacks.boundary.linearised_boundaries``):
f_s = z_s - z_c and w_s = grad f_s at x^(i), and the closest linearised boundary is

    s = argmin_{s != c} |f_s(x^(i))| / ||w_s||_q           (q the dual norm: 1 for L-inf, 2 for L2),

the hyperplane pi_s = {z : f_s(x^(i)) + <w_s, z - x^(i)> = 0}. FAB projects both the iterate and the
original point x_orig onto pi_s intersected with the image box C = [low, high]^d,

    delta^(i)      = proj_p(x^(i), pi_s, C) - x^(i),      delta_orig = proj_p(x_orig, pi_s, C) - x_orig,

where proj_p(z, pi, C) = z + argmin {||delta||_p : <w, z + delta> + b = 0, z + delta in C}, solved
exactly by sorting breakpoints (``tfrobust.attacks.boundary.project_onto_hyperplane_in_box``).
The biased step, with alpha_max = 0.1 and the overshoot eta = 1.05, is

    alpha = min(||delta^(i)||_p / (||delta^(i)||_p + ||delta_orig||_p), alpha_max)
    x^(i+1) = proj_C((1 - alpha) (x^(i) + eta delta^(i)) + alpha (x_orig + eta delta_orig)),

and when x^(i+1) is adversarial it is kept if its norm is the smallest so far, then pulled back towards
x_orig: x^(i+1) = (1 - beta) x_orig + beta x^(i+1), beta = 0.9. Restarts r > 1 start at
x_orig + 0.5 min(||x_out - x_orig||_p, eps) u with u uniform on the unit sphere of the norm (eps: the
threat model's radius, or ``restart_radius``). A final search (the authors' linear approximation search)
runs 3 steps of regula falsi on the segment [x_orig, x_out] along the margin between the labels, which only
shrinks the perturbation.

FAB-T (used by AutoAttack): instead of the closest boundary over all classes, run k = 1..n_target_classes
targets the boundary between c and the class with the (k+1)-th highest clean logit, each run only on the
points not broken yet (fixed eps) or on all points keeping the smallest norm (``fab_minimal``). It needs
one backward pass per iteration instead of a Jacobian over every class. With ``targeted=True`` the labels
are targets t and the boundary is the one between t and the strongest other class.

``fab`` is the fixed-eps form (AutoAttack's): an example counts as broken when the minimal perturbation
found has norm <= eps; the adversarial image is returned only then, else x. ``fab_minimal`` returns the
per-example minimal norms (``MinimalPerturbation``).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfrobust.attacks import _compiled
from tfrobust.attacks._inputs import check_batch_size, check_flag, check_seed, chunks, make_generator, prepare
from tfrobust.attacks.boundary import linearised_boundaries, project_onto_hyperplane_in_box
from tfrobust.attacks.info import MinimalPerturbation, attack_info
from tfrobust.attacks.losses import margin
from tfrobust.attacks.norms import perturbation_norm
from tfrobust.validation import NORMS, check_choice, check_epsilon, check_positive

ALPHA_MAX, ETA, BETA = 0.1, 1.05, 0.9  # the paper's settings
FINAL_SEARCH_STEPS = 3
_TINY = 1e-12
#: Random-restart radius when no eps is given (fab_minimal), the authors' defaults, in units of (high - low).
DEFAULT_RESTART_RADIUS = {"linf": 0.3, "l2": 1.0}
MODES = ("untargeted", "versus", "targeted")  # all classes / FAB-T against one class / towards a target


def _flat_norm(delta, norm: str):
    return tf.reduce_max(tf.abs(delta), axis=1) if norm == "linf" else tf.norm(delta, axis=1)


def _succeeded(logits, labels, targets, mode: str):
    if mode == "targeted":
        return _compiled.attack_succeeded(logits, targets, True)
    return _compiled.attack_succeeded(logits, labels, False)


def _boundary(logits_model, x, labels, targets, mode: str, norm: str):
    """f_s and w_s (flattened) of the hyperplane FAB projects onto at x."""
    if mode == "untargeted":
        num_classes = logits_model.num_classes
        classes = tf.tile(tf.range(num_classes, dtype=labels.dtype)[None], [tf.shape(x)[0], 1])
        _, f, w = linearised_boundaries(logits_model, x, labels, classes)
        dual = tf.reduce_sum(tf.abs(w), axis=-1) if norm == "linf" else tf.norm(w, axis=-1)
        distance = tf.abs(f) / (dual + _TINY)
        distance = tf.where(tf.equal(classes, labels[:, None]), tf.cast(np.inf, distance.dtype), distance)
        nearest = tf.argmin(distance, axis=1, output_type=tf.int32)[:, None]
        return tf.gather(f, nearest, batch_dims=1)[:, 0], tf.gather(w, nearest, batch_dims=1)[:, 0]
    if mode == "versus":
        reference = labels
    else:  # towards the target from the strongest other class
        logits = logits_model(x)
        onehot = tf.one_hot(targets, tf.shape(logits)[-1], dtype=logits.dtype)
        reference = tf.argmax(logits - 1e9 * onehot, axis=-1, output_type=targets.dtype)
    _, f, w = linearised_boundaries(logits_model, x, reference, targets[:, None])
    return f[:, 0], w[:, 0]


def _iterations_fn(norm: str, mode: str):
    def build(logits_model):
        def fab_iterations(x_orig, labels, targets, x_start, best_adv, best_norm, n_iter, lo, hi):
            shape = tf.shape(x_orig)
            batch = shape[0]
            orig = tf.reshape(x_orig, [batch, -1])
            current = tf.reshape(x_start, [batch, -1])
            best_adv = tf.reshape(best_adv, [batch, -1])
            for _ in tf.range(n_iter):
                f, w = _boundary(logits_model, tf.reshape(current, shape), labels, targets, mode, norm)
                delta = project_onto_hyperplane_in_box(current, w, -f, lo, hi, norm)
                offset = tf.reduce_sum(w * (orig - current), axis=1)
                delta_orig = project_onto_hyperplane_in_box(orig, w, -(f + offset), lo, hi, norm)
                a_cur = tf.maximum(_flat_norm(delta, norm), 1e-8)
                a_orig = tf.maximum(_flat_norm(delta_orig, norm), 1e-8)
                alpha = tf.minimum(a_cur / (a_cur + a_orig), ALPHA_MAX)[:, None]
                current = tf.clip_by_value((1.0 - alpha) * (current + ETA * delta)
                                           + alpha * (orig + ETA * delta_orig), lo, hi)
                logits = logits_model(tf.reshape(current, shape))
                adversarial = _succeeded(logits, labels, targets, mode)
                size = _flat_norm(current - orig, norm)
                better = tf.logical_and(adversarial, size < best_norm)
                best_adv = tf.where(better[:, None], current, best_adv)
                best_norm = tf.where(better, size, best_norm)
                current = tf.where(adversarial[:, None], (1.0 - BETA) * orig + BETA * current, current)
            return tf.reshape(best_adv, shape), best_norm
        return fab_iterations
    return build


def _final_search_fn(norm: str, mode: str):
    def build(logits_model):
        def fab_final_search(x_orig, labels, targets, x_adv):
            def signed_margin(logits):  # > 0 where adversarial
                if mode == "targeted":
                    return margin(logits, targets, True)
                return margin(logits, labels, False)

            near, far = x_orig, x_adv
            m_near, m_far = signed_margin(logits_model(near)), signed_margin(logits_model(far))
            for _ in range(FINAL_SEARCH_STEPS):
                t = -m_near / (m_far - m_near + 1e-10)
                t = tf.where(tf.logical_and(t >= 0.0, t <= 1.0), t, tf.ones_like(t))
                t = tf.reshape(t, tf.concat([[-1], tf.ones([tf.rank(x_orig) - 1], tf.int32)], 0))
                middle = near + t * (far - near)
                logits = logits_model(middle)
                adversarial = _succeeded(logits, labels, targets, mode)
                m_mid = signed_margin(logits)
                mask = tf.reshape(adversarial, tf.shape(t))
                far, m_far = tf.where(mask, middle, far), tf.where(adversarial, m_mid, m_far)
                near, m_near = tf.where(mask, near, middle), tf.where(adversarial, m_near, m_mid)
            return far, perturbation_norm(far - x_orig, norm)
        return fab_final_search
    return build


def _sphere_directions(x, norm: str, generator):
    """Random directions of unit norm (L-inf: uniform cube scaled to max 1; L2: Gaussian normalised)."""
    if norm == "linf":
        u = generator.uniform(tf.shape(x), -1.0, 1.0)
    else:
        u = generator.normal(tf.shape(x))
    size = perturbation_norm(u, norm)
    return u / tf.reshape(tf.maximum(size, _TINY), tf.concat([[-1], tf.ones([tf.rank(x) - 1], tf.int32)], 0))


class _FABSearch:
    """Runs FAB's (target, restart) sequence on one set of examples and keeps the smallest norms."""

    def __init__(self, inputs, *, norm, steps, restarts, radius, seed):
        self.inputs, self.norm, self.steps, self.restarts, self.radius = inputs, norm, steps, restarts, radius
        self.generator = make_generator(seed)
        self.example_steps = 0
        self.forward_passes = 0

    def run(self, x, labels, targets_per_run, mode, clean_fooled, stop_at=None):
        """Per example the smallest adversarial found over runs; ``stop_at`` skips examples already within it.

        Args:
            x, labels: the chunk's images and labels.
            targets_per_run: list of int32 (n,) targets, one per run (the labels in untargeted mode).
            mode: one of ``MODES``.
            clean_fooled: bool (n,), examples that need no attack.
            stop_at: fixed-eps mode: examples whose best norm is <= stop_at are not attacked further.

        Returns:
            (x_adv, norms, broken_by): norms inf where nothing was found; broken_by the 1-based run index
            that found the returned example (0: none).
        """
        model = self.inputs.model
        iterate = _compiled.cached_function(model, "fab_iterations", (self.norm, mode), _iterations_fn(self.norm, mode))
        search = _compiled.cached_function(model, "fab_final_search", (self.norm, mode),
                                           _final_search_fn(self.norm, mode))
        n = int(x.shape[0])
        x_np = x.numpy()
        best_adv, best_norm = x_np.copy(), np.full(n, np.inf, np.float32)
        broken_by = np.zeros(n, np.int32)
        # every random direction is drawn for the full chunk, so the result does not depend on batch_size
        directions = [[_sphere_directions(x, self.norm, self.generator) if r > 0 else None
                       for r in range(self.restarts)] for _ in targets_per_run]
        lo, hi = tf.constant(self.inputs.lo, tf.float32), tf.constant(self.inputs.hi, tf.float32)
        grads_per_step = model.num_classes if mode == "untargeted" else 1
        for run_index, targets in enumerate(targets_per_run):
            for restart in range(self.restarts):
                pending = ~clean_fooled
                if stop_at is not None:
                    pending &= ~(best_norm <= stop_at)
                rows = np.flatnonzero(pending)
                if rows.size == 0:
                    continue
                x_rows = x_np[rows]
                if restart == 0:
                    start = x_rows
                else:
                    cap = stop_at if stop_at is not None else self.radius
                    radius = 0.5 * np.minimum(best_norm[rows], cap).reshape((-1,) + (1,) * (x_np.ndim - 1))
                    start = np.clip(x_rows + radius * directions[run_index][restart].numpy()[rows],
                                    self.inputs.lo, self.inputs.hi)
                label_rows, target_rows = tf.gather(labels, rows), tf.constant(np.asarray(targets)[rows])
                found, found_norm = iterate(tf.constant(x_rows), label_rows, target_rows, tf.constant(start),
                                            tf.constant(x_rows), tf.fill([rows.size], np.float32(np.inf)),
                                            tf.constant(self.steps), lo, hi)
                self.example_steps += rows.size * self.steps * grads_per_step
                self.forward_passes += rows.size * self.steps
                hit = np.isfinite(found_norm.numpy())
                if hit.any():
                    hit_rows = rows[hit]
                    refined, refined_norm = search(tf.constant(x_rows[hit]), tf.gather(label_rows, np.flatnonzero(hit)),
                                                   tf.gather(target_rows, np.flatnonzero(hit)),
                                                   tf.gather(found, np.flatnonzero(hit)))
                    self.forward_passes += hit_rows.size * (FINAL_SEARCH_STEPS + 2)
                    refined_norm = refined_norm.numpy()
                    better = refined_norm < best_norm[hit_rows]
                    best_adv[hit_rows[better]] = refined.numpy()[better]
                    best_norm[hit_rows[better]] = refined_norm[better]
                    broken_by[hit_rows[better]] = run_index + 1
        best_norm = np.where(clean_fooled, 0.0, best_norm)
        best_adv[clean_fooled] = x_np[clean_fooled]
        return best_adv, best_norm, broken_by


def _validate(model, x, y, *, norm, targeted, bounds, seed, batch_size, n_target_classes, steps, restarts,
              y_true=None):
    norm = check_choice(norm, NORMS, "norm")
    targeted = check_flag(targeted, "targeted")
    seed = check_seed(seed)
    batch_size = check_batch_size(batch_size)
    steps = check_positive(steps, "steps", integer=True)
    restarts = check_positive(restarts, "restarts", integer=True)
    if n_target_classes is not None:
        n_target_classes = check_positive(n_target_classes, "n_target_classes", integer=True)
    inputs = prepare(model, x, y, bounds, targeted=targeted, true_labels=y_true)
    num_classes = inputs.model.num_classes
    if n_target_classes is not None and not targeted and n_target_classes > num_classes - 1:
        raise ValueError(f"n_target_classes={n_target_classes} but the model has {num_classes} classes; at most "
                         f"{num_classes - 1} other classes can be targets (None: untargeted FAB over all classes).")
    return inputs, norm, targeted, seed, batch_size, n_target_classes, steps, restarts


def _runs(inputs, clean_logits, labels, targeted, n_target_classes):
    """The mode and the list of per-run targets for one chunk."""
    if targeted:
        return "targeted", [labels.numpy()]
    if n_target_classes is None:
        return "untargeted", [labels.numpy()]
    onehot = tf.one_hot(labels, inputs.model.num_classes, dtype=clean_logits.dtype)
    # the (k+1)-th highest clean logit; for a correctly classified example, the k-th strongest other class
    order = tf.math.top_k(clean_logits - 1e9 * onehot, k=n_target_classes).indices.numpy()
    return "versus", [order[:, k] for k in range(n_target_classes)]


def _search_all(inputs, search, *, targeted, n_target_classes, batch_size, stop_at):
    clean_logits = inputs.clean_logits if inputs.clean_logits is not None else inputs.model(inputs.x)
    results = []
    for part in chunks(tuple(inputs.x.shape), batch_size):
        x, labels, logits = inputs.x[part], inputs.labels[part], clean_logits[part]
        mode, targets = _runs(inputs, logits, labels, targeted, n_target_classes)
        clean_fooled = _compiled.attack_succeeded(logits, labels, targeted).numpy()
        results.append(search.run(x, labels, targets, mode, clean_fooled, stop_at=stop_at))
    return tuple(np.concatenate([r[i] for r in results]) for i in range(3))


def fab(model, x, y, *, eps, norm="linf", loss="ce", targeted=False, bounds=(0.0, 1.0), seed=None, batch_size=None,
        return_info=False, n_target_classes=9, steps=100, restarts=1, y_true=None):
    """FAB at a fixed eps (AutoAttack's FAB-T by default): broken where the minimal perturbation is <= eps.

    Args:
        model: callable images -> logits (softmax models are attacked on log-probabilities).
        x: images in ``bounds``, shape (batch, ...).
        y: true labels, or target labels with ``targeted=True``; sparse or one-hot.
        eps: radius of the threat model in pixel units (0 returns x); also caps the restart radius.
        norm: "linf" or "l2".
        loss: FAB optimises no loss; only "ce" is accepted, for the common contract.
        targeted: y are targets: one targeted FAB run towards them.
        y_true: targeted only, optional: the true labels; a row whose target equals its true label is refused
            (an exact check; without y_true, targets that are mostly the clean predictions are refused).
        bounds: (low, high) pixel range.
        seed: seed of the random restarts (restarts > 1).
        batch_size: attack in chunks of this many examples (same result as one chunk).
        return_info: also return the info dict (``tfrobust.attacks.info.attack_info``).
        n_target_classes: FAB-T: runs against the 1st..k-th strongest other classes (9 in AutoAttack);
            None: untargeted FAB, the closest boundary over all classes (a Jacobian per step).
        steps: FAB iterations per run (100 in AutoAttack).
        restarts: runs per target, the later ones from random starts (1 in AutoAttack's FAB-T).

    Returns:
        x_adv (float32, like x): FAB's image where its norm is <= eps, x elsewhere; with ``return_info``
        (x_adv, info) where info["loss"] is NaN (no loss) and info["extra"] has "minimal_norms" (the norm
        FAB found per example, inf where none, 0 where x is already misclassified) and "broken_by_target"
        (1-based run that found it, 0: none).

    Raises:
        TypeError, ValueError: bad images, labels, eps, norm, loss, steps, restarts or n_target_classes.
    """
    check_choice(loss, ("ce",), "loss (FAB optimises no loss)")
    return_info = check_flag(return_info, "return_info")
    inputs, norm, targeted, seed, batch_size, n_target_classes, steps, restarts = _validate(
        model, x, y, norm=norm, targeted=targeted, bounds=bounds, seed=seed, batch_size=batch_size,
        n_target_classes=n_target_classes, steps=steps, restarts=restarts, y_true=y_true)
    eps = check_epsilon(eps, bounds, norm)
    search = _FABSearch(inputs, norm=norm, steps=steps, restarts=restarts, radius=eps, seed=seed)
    n = int(inputs.x.shape[0])
    if eps == 0:
        x_adv = inputs.x
        norms, broken_by = np.full(n, np.inf), np.zeros(n, np.int32)
    else:
        best_adv, norms, broken_by = _search_all(inputs, search, targeted=targeted, n_target_classes=n_target_classes,
                                                 batch_size=batch_size, stop_at=eps)
        within = (norms <= eps).reshape((-1,) + (1,) * (best_adv.ndim - 1))
        x_adv = tf.constant(np.where(within, best_adv, inputs.x.numpy()))
    if not return_info:
        return x_adv
    logits = tf.concat([inputs.model(x_adv[part]) for part in chunks(tuple(inputs.x.shape), batch_size)], axis=0)
    success = _compiled.attack_succeeded(logits, inputs.labels, targeted).numpy()
    return x_adv, attack_info(success=success, loss=None, x=inputs.x, x_adv=x_adv, norm=norm,
                              example_steps=search.example_steps, forward_passes=search.forward_passes + n,
                              extra={"minimal_norms": norms, "broken_by_target": broken_by})


def fab_minimal(model, x, y, *, norm="linf", targeted=False, bounds=(0.0, 1.0), seed=None, batch_size=None,
                n_target_classes=None, steps=100, restarts=1, restart_radius=None,
                y_true=None) -> MinimalPerturbation:
    """FAB as a minimal-perturbation attack: per example the smallest adversarial norm found.

    Args:
        model, x, y, norm, targeted, bounds, seed, batch_size, steps, restarts, y_true: as in ``fab``.
        n_target_classes: None (default): untargeted FAB over all classes; k: FAB-T over the top-k other
            classes, every run on every example, keeping the smallest norm.
        restart_radius: cap of the random-restart radius (default 0.3 for L-inf, 1.0 for L2, times the
            bounds range); the start lies at half the smaller of this and the best norm so far.

    Returns:
        ``MinimalPerturbation`` with ``info`` "broken_by_target", "example_steps" and "forward_passes".

    Raises:
        TypeError, ValueError: as ``fab``, or a non-positive restart_radius.
    """
    inputs, norm, targeted, seed, batch_size, n_target_classes, steps, restarts = _validate(
        model, x, y, norm=norm, targeted=targeted, bounds=bounds, seed=seed, batch_size=batch_size,
        n_target_classes=n_target_classes, steps=steps, restarts=restarts, y_true=y_true)
    if restart_radius is None:
        restart_radius = DEFAULT_RESTART_RADIUS[norm] * (inputs.hi - inputs.lo)
    restart_radius = check_positive(restart_radius, "restart_radius")
    search = _FABSearch(inputs, norm=norm, steps=steps, restarts=restarts, radius=restart_radius, seed=seed)
    best_adv, norms, broken_by = _search_all(inputs, search, targeted=targeted, n_target_classes=n_target_classes,
                                             batch_size=batch_size, stop_at=None)
    norms = norms.astype(np.float64)
    return MinimalPerturbation(x_adv=tf.constant(best_adv), norms=norms, success=np.isfinite(norms), norm=norm,
                               info={"broken_by_target": broken_by, "example_steps": search.example_steps,
                                     "forward_passes": search.forward_passes})


from tfrobust.attacks.registry import register  # noqa: E402  (registration at the bottom, as every attack)

register("fab", fab, aliases=("fab-t", "fab_t"), quick_settings={"steps": 10, "n_target_classes": 3},
         label=lambda s: "fab" if s.get("n_target_classes", 9) is None and not s.get("targeted") else "fab-t")
register("fab-minimal", fab_minimal, kind="minimal", aliases=("fab_minimal",), quick_settings={"steps": 10},
         label=lambda s: "fab-minimal-" + s.get("norm", "linf"))
