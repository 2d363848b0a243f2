"""MART: misclassification-aware adversarial training (Wang, Zou, Yi, Bailey, Ma & Gu 2020).

"Improving Adversarial Robustness Requires Revisiting Misclassified Examples" (ICLR 2020).
Misclassified clean examples matter more for robustness than correctly classified ones; MART
adds a KL term that is weighted up where the clean prediction is wrong, to a boosted cross
entropy on the adversarial example:

    BCE(p(x'), y) = -log p_y(x') - log(1 - max_{k != y} p_k(x'))
    loss = BCE(p(x'), y) + lambda * KL( p(x) || p(x') ) * (1 - p_y(x)),

with p = softmax f and x' from PGD on the cross entropy (start x + 0.001 N(0, I), as in the
reference code). The paper's CIFAR-10 settings: eps 8/255, 10 steps of 2/255, lambda = 6 (the
default ``beta=6.0``). The reference code's numerical guards are kept: log(1.0001 - p + 1e-12)
in the boosted term and (1.0000001 - p_y(x)) as the weight.

Design choices, as in ``tfrobust.training.trades``: the attack runs in inference mode, and the
clean and adversarial batches share one training-mode forward pass in the weight update.
"""
from __future__ import annotations


import tensorflow as tf
import tf_keras as keras

from tfrobust.attacks import norms
from tfrobust.training._wrapper import cross_entropy
from tfrobust.training.inner_attack import pgd_examples
from tfrobust.training.trades import START_STD, TRADESModel, kl_divergence


def mart_loss(clean_logits, adv_logits, labels, beta: float):
    """Per-example MART objective BCE(p(x'), y) + beta * KL(p(x) || p(x')) * (1 - p_y(x)), float32."""
    clean_logits = tf.cast(clean_logits, tf.float32)
    adv_logits = tf.cast(adv_logits, tf.float32)
    adv_probs = tf.nn.softmax(adv_logits)
    classes = tf.shape(adv_logits)[-1]
    true_mask = tf.one_hot(labels, classes, dtype=tf.float32)
    # Most probable wrong class of the adversarial prediction.
    other = tf.argmax(adv_probs - 2.0 * true_mask, axis=-1, output_type=tf.int32)
    other_prob = tf.gather(adv_probs, other, batch_dims=1)
    boosted = cross_entropy(adv_logits, labels) - tf.math.log(1.0001 - other_prob + 1e-12)
    true_clean_prob = tf.reduce_sum(tf.nn.softmax(clean_logits) * true_mask, axis=-1)
    return boosted + beta * kl_divergence(clean_logits, adv_logits) * (1.0000001 - true_clean_prob)


@keras.saving.register_keras_serializable(package="tfrobust")
class MARTModel(TRADESModel):
    """Wraps a logits model and trains it with MART (Wang et al. 2020).

    Args:
        model: Keras model (functional, sequential or subclassed) from images in ``bounds`` to logits.
        eps: radius of the threat model in pixel units (CIFAR-10 8/255).
        step_size: PGD step (CIFAR-10 2/255).
        steps: PGD steps (CIFAR-10 10).
        beta: weight lambda of the misclassification-weighted KL term (6, the paper's CIFAR-10 value).
        norm: "linf" (the paper's) or "l2".
        bounds: (lo, hi) image domain.
        evaluate_adversarial: ``evaluate()`` also reports ``adv_accuracy`` under the same PGD.
        clean_accuracy: kept for a uniform signature (MART always sees clean inputs).
        name: Keras model name.

    Raises:
        TypeError, ValueError: invalid model or settings.

    Example:
        >>> mart = MARTModel(build_cnn(), eps=8 / 255, step_size=2 / 255, steps=10)
        >>> mart.compile(keras.optimizers.SGD(0.01, momentum=0.9))
    """

    adversarial = True

    def adversarial_examples(self, x, y):
        """CE-PGD from x + 0.001 N(0, I) (the reference code's start), inference mode."""
        lo, hi = self.bounds
        start = tf.clip_by_value(x + norms.project(START_STD * tf.random.normal(tf.shape(x)), self.eps, self.norm),
                                 lo, hi)
        return pgd_examples(lambda z: self.inner(z, training=False), x, y, eps=self.eps, step_size=self.step_size,
                            steps=self.steps, norm=self.norm, loss="ce", bounds=self.bounds, x_init=start)

    def pair_loss(self, clean_logits, adv_logits, y):
        """MART's boosted CE plus the weighted KL (``mart_loss``)."""
        return mart_loss(clean_logits, adv_logits, y, self.beta)
