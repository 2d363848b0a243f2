"""AWP: adversarial weight perturbation on top of PGD-AT or TRADES (Wu, Xia & Wang 2020).

"Adversarial Weight Perturbation Helps Robust Generalization" (NeurIPS 2020). Robust overfitting
comes with a sharp weight-loss landscape; AWP flattens it by training against a worst case of the
weights as well as of the inputs:

    min_w max_{||v_l|| <= gamma ||w_l||}  L(w + v; x', y)

approximated, each step, by one normalised ascent step per layer l (the layer's kernel, i.e. every
weight of rank >= 2; biases and BatchNorm scales are not perturbed) after the input attack x':

    g_l = grad_{w_l} L(w; x', y)
    v_l = gamma * ||w_l|| * g_l / ||g_l||              (relative norm ||v_l|| / ||w_l|| = gamma)
    w <- w + v;  G = grad_w L(w + v; x', y);  w <- w - v;  optimiser step with G at w.

L is the outer objective: CE(f(x'), y) with x' from PGD (AT-AWP), or the TRADES objective
CE(f(x), y) + beta KL(f(x) || f(x')) with x' from PGD on the KL (TRADES-AWP). Defaults: gamma = 5e-3
(public AT-AWP scripts also use 1e-2) and a warm-up during which no weight perturbation is applied
(public TRADES-AWP scripts: 10 epochs; AT-AWP: none). Here the warm-up is counted in
optimiser steps (``warmup_steps``, e.g. 10 * steps_per_epoch), which checkpoints and resumes with
the optimiser.

Design choices: the input attack and the weight-perturbation gradient use ``training=False``
(BatchNorm moving statistics and tfmot's pruning step untouched; the reference code computes the
weight perturbation on a proxy copy in train mode); only the final loss at w + v runs in training
mode. Under ``tf.distribute`` the perturbation gradient is summed over replicas before the
per-layer normalisation, so every replica applies the same v.
"""
from __future__ import annotations

from typing import List, Optional

import tensorflow as tf
import tf_keras as keras

from tfrobust.training._wrapper import TrainingWrapper, cross_entropy, sparse_labels
from tfrobust.training.inner_attack import pgd_examples
from tfrobust.training.trades import kl_pgd_examples, trades_loss
from tfrobust.validation import NORMS, check_choice, check_epsilon, check_positive

OBJECTIVES = ("pgd", "trades")
_TINY = 1e-12


def perturbed_variables(variables) -> List[tf.Variable]:
    """The variables AWP perturbs: the layers' kernels (rank >= 2), not biases or normalisation scales."""
    return [v for v in variables if v.shape.rank is not None and v.shape.rank >= 2]


def weight_perturbation(weights, gradients, gamma: float):
    """Per-layer v_l = gamma * ||w_l|| * g_l / ||g_l|| (Frobenius norms), a list like ``weights``."""
    return [gamma * tf.norm(w) * g / (tf.norm(g) + _TINY) for w, g in zip(weights, gradients)]


def _sum_over_replicas(values):
    if tf.distribute.has_strategy() and not tf.distribute.in_cross_replica_context():
        return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, values)
    return values


def _add_to_variables(variables, deltas):
    """variables += deltas, also from a replica context of a tf.distribute strategy (same delta everywhere)."""
    if tf.distribute.has_strategy() and not tf.distribute.in_cross_replica_context():
        def merge(strategy, *deltas_):
            for var, delta in zip(variables, deltas_):
                strategy.extended.update(var, lambda v, d: v.assign_add(d), args=(delta,))

        tf.distribute.get_replica_context().merge_call(merge, args=tuple(deltas))
    else:
        for var, delta in zip(variables, deltas):
            var.assign_add(delta)


@keras.saving.register_keras_serializable(package="tfrobust")
class AWPModel(TrainingWrapper):
    """Wraps a logits model and trains it with AT-AWP or TRADES-AWP (Wu et al. 2020).

    Args:
        model: Keras model from images in ``bounds`` to logits.
        eps: radius of the input threat model in pixel units.
        step_size: step of the input PGD.
        steps: steps of the input PGD.
        objective: "pgd" (AT-AWP: CE on PGD examples) or "trades" (TRADES-AWP).
        gamma: relative weight-perturbation radius per layer (5e-3).
        beta: TRADES' KL weight (objective "trades" only; 6 for CIFAR-10).
        warmup_steps: optimiser steps without weight perturbation (the reference TRADES-AWP warms
            up 10 epochs: pass 10 * steps_per_epoch; AT-AWP: 0).
        norm: "linf" or "l2" for the input attack.
        bounds: (lo, hi) image domain.
        evaluate_adversarial: ``evaluate()`` also reports ``adv_accuracy`` on the input attack.
        clean_accuracy: with objective "pgd", spend one inference pass per step for clean ``accuracy``.
        name: Keras model name.

    Raises:
        TypeError, ValueError: invalid model or settings.

    Example:
        >>> awp = AWPModel(build_cnn(), eps=8 / 255, step_size=2 / 255, steps=10, objective="trades",
        ...                warmup_steps=10 * steps_per_epoch)
        >>> awp.compile(keras.optimizers.SGD(0.1, momentum=0.9))
    """

    adversarial = True

    def __init__(self, model, eps: float, step_size: float, steps: int, *, objective: str = "pgd",
                 gamma: float = 5e-3, beta: float = 6.0, warmup_steps: int = 0, norm: str = "linf",
                 bounds=(0.0, 1.0), evaluate_adversarial: bool = False, clean_accuracy: bool = True,
                 name: Optional[str] = None, **kwargs):
        super().__init__(model, bounds=bounds, evaluate_adversarial=evaluate_adversarial,
                         clean_accuracy=clean_accuracy, name=name, **kwargs)
        self.objective = check_choice(objective, OBJECTIVES, "objective")
        self.norm = check_choice(norm, NORMS, "norm")
        self.eps = check_epsilon(eps, self.bounds, self.norm)
        self.step_size = check_positive(step_size, "step_size")
        self.steps = int(check_positive(steps, "steps", integer=True))
        self.gamma = check_positive(gamma, "gamma")
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or float(beta) < 0:
            raise ValueError(f"beta must be a number >= 0, got {beta!r}.")
        self.beta = float(beta)
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(f"warmup_steps must be an integer >= 0 (optimiser steps), got {warmup_steps!r}.")
        self.warmup_steps = warmup_steps

    def adversarial_examples(self, x, y):
        """PGD (objective "pgd") or TRADES' KL-PGD examples, inference mode."""
        forward = lambda z: self.inner(z, training=False)  # noqa: E731
        if self.objective == "trades":
            return kl_pgd_examples(forward, x, eps=self.eps, step_size=self.step_size, steps=self.steps,
                                   norm=self.norm, bounds=self.bounds)
        return pgd_examples(forward, x, y, eps=self.eps, step_size=self.step_size, steps=self.steps, norm=self.norm,
                            loss="ce", random_start=True, bounds=self.bounds)

    def objective_loss(self, x, y, x_adv, training: bool):
        """(per-example outer loss, clean logits or None, adversarial logits)."""
        if self.objective == "trades":
            both = self.logits(tf.concat([x, x_adv], axis=0), training=training)
            clean_logits, adv_logits = tf.split(both, 2, axis=0)
            return trades_loss(clean_logits, adv_logits, y, self.beta), clean_logits, adv_logits
        adv_logits = self.logits(x_adv, training=training)
        return cross_entropy(adv_logits, y), None, adv_logits

    def training_loss(self, x, y, x_adv):
        return self.objective_loss(x, y, x_adv, training=True)

    def perturbation(self, x, y, x_adv, sample_weight=None):
        """The weight perturbation v (list over ``perturbed_variables``) at the current weights.

        Zero during the warm-up. Inference mode; the gradient of the batch-mean outer loss.
        """
        weights = perturbed_variables(self.update_variables())
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(weights)
            per_example, _, _ = self.objective_loss(x, y, x_adv, training=False)
            loss = tf.nn.compute_average_loss(per_example, sample_weight=sample_weight)
        gradients = _sum_over_replicas(tape.gradient(loss, weights))
        gradients = [tf.zeros_like(w) if g is None else g for w, g in zip(weights, gradients)]
        active = tf.cast(self._optimizer_steps() >= self.warmup_steps, tf.float32)
        return weights, [active * v for v in weight_perturbation(weights, gradients, self.gamma)]

    def _optimizer_steps(self):
        optimizer = getattr(self, "optimizer", None)
        if optimizer is None:
            return tf.constant(0, tf.int64)
        return tf.cast(optimizer.iterations, tf.int64)

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x = tf.cast(x, tf.float32)
        y = sparse_labels(y)
        x_adv = self.adversarial_examples(x, y)
        weights, deltas = self.perturbation(x, y, x_adv, sample_weight)
        _add_to_variables(weights, deltas)
        variables = self.update_variables()
        optimizer = self.optimizer
        scaled = isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer)
        with tf.GradientTape() as tape:
            per_example, clean_logits, adv_logits = self.training_loss(x, y, x_adv)
            loss = tf.nn.compute_average_loss(per_example, sample_weight=sample_weight)
            if self.inner.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(self.inner.losses))
            if scaled:
                loss_for_gradient = optimizer.get_scaled_loss(loss)
            else:
                loss_for_gradient = loss
        gradients = tape.gradient(loss_for_gradient, variables)
        if scaled:
            gradients = optimizer.get_unscaled_gradients(gradients)
        # Remove v before the update: the step is taken at w with the gradient from w + v.
        _add_to_variables(weights, [-d for d in deltas])
        optimizer.apply_gradients(zip(gradients, variables))

        if clean_logits is None and self.clean_accuracy:
            clean_logits = self.logits(x, training=False)
        self._loss_tracker.update_state(per_example, sample_weight=sample_weight)
        if clean_logits is not None:
            self._accuracy.update_state(y, clean_logits, sample_weight=sample_weight)
            self.compiled_metrics.update_state(y, clean_logits, sample_weight)
        self._adv_accuracy.update_state(y, adv_logits, sample_weight=sample_weight)
        return self._results([self._accuracy] if clean_logits is None else [])

    def get_config(self):
        config = super().get_config()
        config.update(eps=self.eps, step_size=self.step_size, steps=self.steps, objective=self.objective,
                      gamma=self.gamma, beta=self.beta, warmup_steps=self.warmup_steps, norm=self.norm)
        return config
