"""TRADES: the trade-off between accuracy and robustness (Zhang, Yu, Jiao, Xing, El Ghaoui & Jordan 2019).

"Theoretically Principled Trade-off between Robustness and Accuracy" (ICML 2019). The robust
error splits into the natural error and a boundary error; TRADES minimises a surrogate of both,

    loss = CE(f(x), y) + beta * KL( softmax f(x) || softmax f(x') ),
    x'   = argmax_{||x' - x||_inf <= eps} KL( softmax f(x) || softmax f(x') ),

with the clean prediction softmax f(x) as the KL target (no label is used for x'). The inner
maximum is approximated by PGD on the KL from a point very close to x, since the KL and its
gradient vanish at x' = x:

    x'_0     = x + 0.001 * N(0, I)
    x'_{t+1} = clip_[lo, hi]( x + clip_[-eps, eps]( x'_t + alpha * sign(grad_{x'} KL(f(x) || f(x'_t))) - x ) )

The paper's settings: CIFAR-10 eps 0.031, 10 steps of 0.007, beta 6 (``beta=6.0``, the default);
MNIST eps 0.3, 40 steps of 0.01, beta 1 (the MNIST script). Larger beta trades clean accuracy for
robustness.

Design choices: the attack's forward passes use ``training=False`` (BatchNorm moving statistics and
tfmot's pruning step untouched; the reference PyTorch code runs the attack in eval mode too), and
in the weight update the clean and adversarial batches go through the model in ONE training-mode
forward pass (concatenated), so the pruning step advances once per step and BatchNorm sees one
mixed batch (the reference code makes two training-mode passes). The gradient flows through both
f(x) and f(x') in the KL, as in the reference code.
"""
from __future__ import annotations

from typing import Callable, Optional

import tensorflow as tf
import tf_keras as keras

from tfrobust.attacks import norms
from tfrobust.training._wrapper import TrainingWrapper, cross_entropy
from tfrobust.validation import NORMS, check_choice, check_epsilon, check_positive

#: Standard deviation of TRADES' Gaussian start around x (the reference code's 0.001).
START_STD = 0.001


def kl_divergence(target_logits, logits):
    """Per-example KL( softmax(target_logits) || softmax(logits) ) in float32.

    Args:
        target_logits: logits of the reference distribution p (the clean prediction in TRADES).
        logits: logits of the distribution q (the adversarial prediction).

    Returns:
        float32 tensor (batch,): sum_k p_k (log p_k - log q_k).
    """
    target_log_probs = tf.nn.log_softmax(tf.cast(target_logits, tf.float32))
    log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))
    return tf.reduce_sum(tf.exp(target_log_probs) * (target_log_probs - log_probs), axis=-1)


def kl_pgd_examples(forward: Callable, x, *, eps: float, step_size: float, steps: int, norm: str = "linf",
                    bounds=(0.0, 1.0), start_std: float = START_STD):
    """TRADES' inner maximisation: PGD on KL(f(x) || f(x')) from x + start_std * N(0, I) (graph-safe).

    Validates nothing (call it from a ``train_step``; the wrapper validates its settings eagerly).

    Args:
        forward: callable from images to logits; use ``training=False`` inside it.
        x: float32 clean images in ``bounds``.
        eps: radius of the ball (pixel units).
        step_size: step length per iteration.
        steps: number of gradient steps (Python int >= 1).
        norm: "linf" or "l2".
        bounds: (lo, hi) image domain.
        start_std: standard deviation of the Gaussian start.

    Returns:
        float32 adversarial images inside the eps-ball and ``bounds``, gradient stopped.
    """
    lo, hi = float(bounds[0]), float(bounds[1])
    x = tf.convert_to_tensor(x, tf.float32)
    target = tf.stop_gradient(tf.cast(forward(x), tf.float32))
    x_adv = x + norms.project(start_std * tf.random.normal(tf.shape(x)), eps, norm)
    x_adv = tf.clip_by_value(x_adv, lo, hi)
    for _ in range(int(steps)):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x_adv)
            objective = tf.reduce_sum(kl_divergence(target, forward(x_adv)))
        grad = tape.gradient(objective, x_adv)
        x_adv = x_adv + step_size * norms.steepest_direction(grad, norm)
        x_adv = tf.clip_by_value(x + norms.project(x_adv - x, eps, norm), lo, hi)
    return tf.stop_gradient(x_adv)


def trades_loss(clean_logits, adv_logits, labels, beta: float):
    """Per-example TRADES objective CE(f(x), y) + beta * KL(f(x) || f(x')), float32."""
    return cross_entropy(clean_logits, labels) + beta * kl_divergence(clean_logits, adv_logits)


@keras.saving.register_keras_serializable(package="tfrobust")
class TRADESModel(TrainingWrapper):
    """Wraps a logits model and trains it with TRADES (Zhang et al. 2019).

    Args:
        model: Keras model (functional, sequential or subclassed) from images in ``bounds`` to logits.
        eps: radius of the threat model in pixel units (CIFAR-10 0.031, MNIST 0.3).
        step_size: PGD step on the KL (CIFAR-10 0.007, MNIST 0.01).
        steps: PGD steps on the KL (CIFAR-10 10, MNIST 40).
        beta: weight of the KL term (6 for CIFAR-10, the default; 1 in the paper's MNIST script).
            beta = 0 is standard training on clean inputs.
        norm: "linf" (the paper's) or "l2".
        bounds: (lo, hi) image domain.
        evaluate_adversarial: ``evaluate()`` also reports ``adv_accuracy`` on the KL-PGD examples.
        clean_accuracy: kept for a uniform signature (TRADES always sees clean inputs).
        name: Keras model name.

    Training logs: ``loss`` (the TRADES objective), ``accuracy`` (clean, training mode) and
    ``adv_accuracy`` (on x', training mode).

    Raises:
        TypeError, ValueError: invalid model or settings.

    Example:
        >>> trades = TRADESModel(build_cnn(), eps=0.031, step_size=0.007, steps=10, beta=6.0)
        >>> trades.compile(keras.optimizers.SGD(0.1, momentum=0.9))
        >>> trades.fit(x, y, batch_size=128, epochs=...)
    """

    adversarial = True

    def __init__(self, model, eps: float, step_size: float, steps: int, beta: float = 6.0, *, norm: str = "linf",
                 bounds=(0.0, 1.0), evaluate_adversarial: bool = False, clean_accuracy: bool = True,
                 name: Optional[str] = None, **kwargs):
        super().__init__(model, bounds=bounds, evaluate_adversarial=evaluate_adversarial,
                         clean_accuracy=clean_accuracy, name=name, **kwargs)
        self.norm = check_choice(norm, NORMS, "norm")
        self.eps = check_epsilon(eps, self.bounds, self.norm)
        self.step_size = check_positive(step_size, "step_size")
        self.steps = int(check_positive(steps, "steps", integer=True))
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or float(beta) < 0:
            raise ValueError(f"beta must be a number >= 0 (6 for CIFAR-10, 1 for MNIST), got {beta!r}.")
        self.beta = float(beta)

    def adversarial_examples(self, x, y):
        """KL-PGD examples (labels unused), attack forward passes in inference mode."""
        return kl_pgd_examples(lambda z: self.inner(z, training=False), x, eps=self.eps, step_size=self.step_size,
                               steps=self.steps, norm=self.norm, bounds=self.bounds)

    def training_loss(self, x, y, x_adv):
        both = self.logits(tf.concat([x, x_adv], axis=0), training=True)
        clean_logits, adv_logits = tf.split(both, 2, axis=0)
        return self.pair_loss(clean_logits, adv_logits, y), clean_logits, adv_logits

    def pair_loss(self, clean_logits, adv_logits, y):
        """Per-example loss of a clean/adversarial pair of logits (MART overrides it)."""
        return trades_loss(clean_logits, adv_logits, y, self.beta)

    def get_config(self):
        config = super().get_config()
        config.update(eps=self.eps, step_size=self.step_size, steps=self.steps, beta=self.beta, norm=self.norm)
        return config
