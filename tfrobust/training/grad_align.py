"""GradAlign: FGSM training with a gradient-alignment regulariser (Andriushchenko & Flammarion 2020).

"Understanding and Improving Fast Adversarial Training" (NeurIPS 2020). Catastrophic overfitting
of FGSM training comes with a loss of local linearity: the input gradient at x stops pointing the
same way as the input gradient nearby. GradAlign penalises exactly that,

    eta ~ U[-eps, eps]^d
    R(x, y) = 1 - cos( grad_x CE(f(x), y), grad_x CE(f(clip(x + eta)), y) )
    loss = CE(f(x_fgsm), y) + lambda * R(x, y),
    x_fgsm = clip_[lo, hi]( x + alpha * sign(grad_x CE(f(x), y)) )     (FGSM from x, alpha = eps)

with the cosine taken per example over all input coordinates. The paper's settings: FGSM with a
zero init and alpha = eps, lambda = 0.2 at eps = 8/255 on CIFAR-10 (lambda grows with eps). As in
the reference code, the first gradient is a constant (no gradient flows through it) and the second
is differentiated with respect to the weights (double backpropagation), which roughly triples the
cost of an FGSM step.

R is zero for a linear model: grad_x CE = (p_1 - y_1)(w_1 - w_0) for two classes, a fixed direction.

Design choice: both input gradients, like the attack, use ``training=False`` (BatchNorm moving
statistics and tfmot's pruning step untouched); only the FGSM batch of the weight update runs in
training mode. The FGSM step reuses the first gradient, so the attack costs no extra pass.
"""
from __future__ import annotations

from typing import Optional

import tensorflow as tf
import tf_keras as keras

from tfrobust.training._wrapper import TrainingWrapper, cross_entropy, sparse_labels
from tfrobust.training.inner_attack import input_gradient
from tfrobust.validation import check_epsilon, check_positive

_TINY = 1e-12


def per_example_cosine(a, b):
    """Cosine similarity of each example's flattened tensors, shape (batch,)."""
    a = tf.reshape(a, [tf.shape(a)[0], -1])
    b = tf.reshape(b, [tf.shape(b)[0], -1])
    dot = tf.reduce_sum(a * b, axis=1)
    return dot / (tf.norm(a, axis=1) * tf.norm(b, axis=1) + _TINY)


@keras.saving.register_keras_serializable(package="tfrobust")
class GradAlignModel(TrainingWrapper):
    """Wraps a logits model and trains it with FGSM + GradAlign (Andriushchenko & Flammarion 2020).

    Args:
        model: Keras model from images in ``bounds`` to logits.
        eps: L-inf radius in pixel units.
        grad_align_lambda: weight lambda of the alignment regulariser (0.2 at eps 8/255 on CIFAR-10).
        alpha: FGSM step; ``None`` means eps (the paper's).
        random_start: FGSM from a uniform random start instead of x (the paper uses x).
        bounds: (lo, hi) image domain.
        evaluate_adversarial: ``evaluate()`` also reports ``adv_accuracy`` on the FGSM examples.
        clean_accuracy: spend one inference pass per step to report clean ``accuracy`` in training.
        name: Keras model name.

    Training logs also carry ``grad_align``: the mean regulariser R over the epoch.

    Raises:
        TypeError, ValueError: invalid model or settings.
    """

    adversarial = True

    def __init__(self, model, eps: float, grad_align_lambda: float = 0.2, alpha: Optional[float] = None, *,
                 random_start: bool = False, bounds=(0.0, 1.0), evaluate_adversarial: bool = False,
                 clean_accuracy: bool = True, name: Optional[str] = None, **kwargs):
        super().__init__(model, bounds=bounds, evaluate_adversarial=evaluate_adversarial,
                         clean_accuracy=clean_accuracy, name=name, **kwargs)
        self.eps = check_epsilon(eps, self.bounds)
        if (isinstance(grad_align_lambda, bool) or not isinstance(grad_align_lambda, (int, float))
                or float(grad_align_lambda) < 0):
            raise ValueError(f"grad_align_lambda must be a number >= 0 (0.2 at eps 8/255), got {grad_align_lambda!r}.")
        self.grad_align_lambda = float(grad_align_lambda)
        self.alpha = self.eps if alpha is None else check_positive(alpha, "alpha")
        self.random_start = bool(random_start)
        self._create_regulariser_metric()

    @tf.__internal__.tracking.no_automatic_dependency_tracking
    def _create_regulariser_metric(self):
        self._regulariser_tracker = keras.metrics.Mean(name="grad_align")

    @property
    def metrics(self):
        return super().metrics + [self._regulariser_tracker]

    def _forward(self, z):
        return self.inner(z, training=False)

    def _start(self, x):
        if not self.random_start:
            return x
        lo, hi = self.bounds
        return tf.clip_by_value(x + tf.random.uniform(tf.shape(x), -self.eps, self.eps), lo, hi)

    def adversarial_examples(self, x, y):
        """FGSM examples from x (or a random start), attack in inference mode."""
        start = self._start(x)
        grad = input_gradient(self._forward, start, y, "ce")
        lo, hi = self.bounds
        return tf.stop_gradient(tf.clip_by_value(start + self.alpha * tf.sign(grad), lo, hi))

    def alignment_regulariser(self, x, y, clean_gradient=None):
        """Per-example R = 1 - cos(grad_x CE(f(x)), grad_x CE(f(x + eta))), differentiable in the weights.

        Args:
            x: float32 clean images.
            y: int32 sparse labels.
            clean_gradient: grad_x CE(f(x), y) if already computed (treated as a constant).

        Returns:
            float32 tensor (batch,).
        """
        if clean_gradient is None:
            clean_gradient = input_gradient(self._forward, x, y, "ce")
        clean_gradient = tf.stop_gradient(clean_gradient)
        lo, hi = self.bounds
        x_noisy = tf.clip_by_value(x + tf.random.uniform(tf.shape(x), -self.eps, self.eps), lo, hi)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x_noisy)
            objective = tf.reduce_sum(cross_entropy(self._forward(x_noisy), y))
        noisy_gradient = tape.gradient(objective, x_noisy)
        return 1.0 - per_example_cosine(clean_gradient, noisy_gradient)

    def train_step(self, data):
        # The clean gradient serves both the FGSM step (from x) and the regulariser.
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x = tf.cast(x, tf.float32)
        y = sparse_labels(y)
        clean_gradient = tf.stop_gradient(input_gradient(self._forward, x, y, "ce"))
        start = self._start(x)
        grad = clean_gradient if not self.random_start else input_gradient(self._forward, start, y, "ce")
        lo, hi = self.bounds
        x_adv = tf.stop_gradient(tf.clip_by_value(start + self.alpha * tf.sign(grad), lo, hi))
        variables = self.update_variables()
        with tf.GradientTape() as tape:
            adv_logits = self.logits(x_adv, training=True)
            per_example = cross_entropy(adv_logits, y)
            if self.grad_align_lambda > 0.0:
                regulariser = self.alignment_regulariser(x, y, clean_gradient)
                per_example += self.grad_align_lambda * regulariser
            else:
                regulariser = tf.zeros_like(per_example)
            loss = tf.nn.compute_average_loss(per_example, sample_weight=sample_weight)
            if self.inner.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(self.inner.losses))
        self.optimizer.minimize(loss, variables, tape=tape)
        self._loss_tracker.update_state(per_example, sample_weight=sample_weight)
        self._regulariser_tracker.update_state(regulariser, sample_weight=sample_weight)
        self._adv_accuracy.update_state(y, adv_logits, sample_weight=sample_weight)
        skip = []
        if self.clean_accuracy:
            clean_logits = self.logits(x, training=False)
            self._accuracy.update_state(y, clean_logits, sample_weight=sample_weight)
            self.compiled_metrics.update_state(y, clean_logits, sample_weight)
        else:
            skip.append(self._accuracy)
        return self._results(skip)

    def test_step(self, data):
        return self._results_without_regulariser(super().test_step(data))

    def _results_without_regulariser(self, results):
        results.pop("grad_align", None)
        return results

    def training_loss(self, x, y, x_adv):
        adv_logits = self.logits(x_adv, training=True)
        return cross_entropy(adv_logits, y) + self.grad_align_lambda * self.alignment_regulariser(x, y), None, \
            adv_logits

    def get_config(self):
        config = super().get_config()
        config.update(eps=self.eps, grad_align_lambda=self.grad_align_lambda, alpha=self.alpha,
                      random_start=self.random_start)
        return config
