"""Box-constrained optimisation attack (Szegedy et al. 2014, "Intriguing properties of neural networks").

Szegedy et al. look for the smallest perturbation eta that gives x + eta the label l' by minimising

    c * ||eta||_2^2 + J(x + eta, l')   subject to   x + eta in [low, high]^d,

and searching over c. Here each example has its own c and its own Adam optimiser on eta (eta
projected back so that x + eta stays in the box after every step). Larger c weighs the norm more and
gives smaller perturbations, so after each search step c grows where the attack succeeded and shrinks
where it failed (x10 / /10 until bracketed, then bisection between the largest successful and the
smallest failed c). Over all steps of all searches the smallest-norm successful x + eta is kept.

J, with z the logits (log-probabilities for a softmax model):
- targeted, loss="ce":     J = CE(z, t), the cross entropy of the target class t (Szegedy's loss_f);
- targeted, loss="margin": J = max(max_{i != t} z_i - z_t, 0);
- untargeted (any loss):   J = max(z_y - max_{i != y} z_i, 0), a hinge on the true-class margin, zero
  once another class wins. (Minimising -CE(z, y) instead is unbounded below and would swamp the norm
  term, so untargeted attacks always use the hinge.)

With a hinge J, every c small enough that the attack succeeds has (for a locally linear model) the
same minimiser, the nearest point of the decision boundary, so the search over c matters most for the
cross-entropy objective, where a too-large c_init fails and the search lowers it until x + eta succeeds.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfrobust.attacks import _compiled
from tfrobust.attacks._inputs import check_batch_size, check_flag, check_seed, chunks, prepare
from tfrobust.attacks.info import MinimalPerturbation
from tfrobust.attacks.losses import margin
from tfrobust.attacks.registry import register
from tfrobust.validation import check_choice, check_positive

_BETA1, _BETA2, _ADAM_EPS = 0.9, 0.999, 1e-8


def _objective_term(loss: str, logits, labels, targeted: bool):
    if targeted and loss == "ce":
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    # margin(targeted=False) = max_other - z_y; margin(targeted=True) = z_t - max_other.
    return tf.nn.relu(-margin(logits, labels, targeted))


def _search_step_fn(loss: str, targeted: bool):
    def build(logits_model):
        def optimise(x, labels, c, lr, lo, hi, n_steps, best_adv, best_norm):
            eta = tf.zeros_like(x)
            m = tf.zeros_like(x)
            v = tf.zeros_like(x)
            reduce_axes = list(range(1, x.shape.rank))
            mask_shape = [-1] + [1] * (x.shape.rank - 1)
            succeeded = tf.zeros(tf.shape(x)[:1], tf.bool)
            for t in tf.range(1, n_steps + 1):
                with tf.GradientTape(watch_accessed_variables=False) as tape:
                    tape.watch(eta)
                    x_adv = tf.clip_by_value(x + eta, lo, hi)
                    logits = logits_model(x_adv)
                    sq_norm = tf.reduce_sum(tf.square(x_adv - x), axis=reduce_axes)
                    objective = c * sq_norm + _objective_term(loss, logits, labels, targeted)
                grad = tape.gradient(objective, eta)
                fooled = _compiled.attack_succeeded(logits, labels, targeted)
                better = tf.logical_and(fooled, tf.sqrt(sq_norm) < best_norm)
                best_adv = tf.where(tf.reshape(better, mask_shape), x_adv, best_adv)
                best_norm = tf.where(better, tf.sqrt(sq_norm), best_norm)
                succeeded = tf.logical_or(succeeded, fooled)
                step = tf.cast(t, x.dtype)
                m = _BETA1 * m + (1 - _BETA1) * grad
                v = _BETA2 * v + (1 - _BETA2) * tf.square(grad)
                m_hat = m / (1 - tf.pow(_BETA1, step))
                v_hat = v / (1 - tf.pow(_BETA2, step))
                eta = eta - lr * m_hat / (tf.sqrt(v_hat) + _ADAM_EPS)
                eta = tf.clip_by_value(x + eta, lo, hi) - x  # stay in the box
            return best_adv, best_norm, succeeded
        return optimise
    return build


def _next_c(c, succeeded, c_success, c_failure):
    """One step of the per-example search over c (numpy arrays)."""
    c_success = np.where(succeeded, np.maximum(c_success, c), c_success)
    c_failure = np.where(succeeded, c_failure, np.minimum(c_failure, c))
    bracketed = (c_success > 0) & np.isfinite(c_failure)
    c_new = np.where(bracketed, 0.5 * (c_success + c_failure), np.where(succeeded, c * 10.0, c / 10.0))
    return c_new, c_success, c_failure


def optimization_attack(model, x, y, *, norm="l2", targeted=False, bounds=(0.0, 1.0), seed=None, batch_size=None,
                        loss="ce", c_init=1.0, search_steps=6, steps=100, learning_rate=0.01,
                        y_true=None) -> MinimalPerturbation:
    """Minimal-norm box-constrained attack of Szegedy et al. (2014), Adam on eta and a search over c.

    Args:
        model: callable from images to logits (see ``fgsm``).
        x: float images in ``bounds``.
        y: true labels (untargeted) or target labels l' (targeted), sparse or one-hot.
        norm: distance minimised; only "l2" (Szegedy's ||eta||_2^2 penalty).
        targeted: reach the labels y instead of leaving them.
        y_true: targeted only, optional: the true labels; a row whose target equals its true label is refused
            (an exact check; without y_true, targets that are mostly the clean predictions are refused).
        bounds: (low, high) box the adversarial example must stay in.
        seed: accepted for the minimal-attack contract; the optimisation is deterministic.
        batch_size: attack x in chunks of this many examples (each example has its own c and Adam state,
            so chunking changes nothing).
        loss: J for targeted attacks, "ce" (target cross entropy) or "margin" (hinge); untargeted
            attacks always use the true-class margin hinge (see the module docstring).
        c_init: first weight of the norm term, > 0.
        search_steps: number of optimisations, each with an updated c per example, integer > 0.
        steps: Adam steps per optimisation, integer > 0.
        learning_rate: Adam step size in pixel units, > 0.

    Returns:
        A ``MinimalPerturbation``: ``x_adv`` per example the smallest-L2 successful adversarial example
        found, or x itself (unchanged) where no search step succeeded; ``norms`` its L2 norm (inf where the
        attack failed, 0 where x already succeeds); ``info["c"]`` the largest successful c (0 where none).

    Raises:
        TypeError, ValueError: bad images, labels, norm, loss, c_init, search_steps, steps or learning_rate.
    """
    check_choice(norm, ("l2",), "norm")
    loss = check_choice(loss, ("ce", "margin"), "loss")
    targeted = check_flag(targeted, "targeted")
    check_seed(seed)
    batch_size = check_batch_size(batch_size)
    c_init = check_positive(c_init, "c_init")
    search_steps = check_positive(search_steps, "search_steps", integer=True)
    steps = check_positive(steps, "steps", integer=True)
    learning_rate = check_positive(learning_rate, "learning_rate")
    inputs = prepare(model, x, y, bounds, targeted=targeted, true_labels=y_true)

    optimise = _compiled.cached_function(inputs.model, "optimization", (loss, targeted),
                                         _search_step_fn(loss, targeted))
    scalars = (tf.constant(learning_rate, tf.float32), tf.constant(inputs.lo, tf.float32),
               tf.constant(inputs.hi, tf.float32), tf.constant(steps))
    images, norms, cs = [], [], []
    for part in chunks(int(inputs.x.shape[0]), batch_size):
        x_part, labels = inputs.x[part], inputs.labels[part]
        n = int(x_part.shape[0])
        best_adv, best_norm = x_part, tf.fill([n], np.float32(np.inf))
        c = np.full(n, c_init, np.float32)
        c_success, c_failure = np.zeros(n, np.float32), np.full(n, np.inf, np.float32)
        for _ in range(search_steps):
            best_adv, best_norm, succeeded = optimise(x_part, labels, tf.constant(c), *scalars, best_adv, best_norm)
            c, c_success, c_failure = _next_c(c, succeeded.numpy(), c_success, c_failure)
        images.append(best_adv)
        norms.append(best_norm.numpy().astype(np.float64))
        cs.append(c_success)
    norms = np.concatenate(norms)
    return MinimalPerturbation(x_adv=tf.concat(images, axis=0), norms=norms, success=np.isfinite(norms), norm="l2",
                               info={"c": np.concatenate(cs)})


register("optimization", optimization_attack, kind="minimal", norms=("l2",), aliases=("szegedy",),
         quick_settings={"search_steps": 2, "steps": 20},
         label=lambda s: "szegedy-l2" + ("-targeted" if s["targeted"] else ""))
