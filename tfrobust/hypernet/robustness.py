"""Accuracy A and PGD robustness R of many generated weight vectors at once.

Seed 000 (Ballarin 2020) measures, for each generated θ, the accuracy A on a data subset T̃ and the
*empirical global robustness*

    R = 1 - #(attacks leading to misclassification) / #(attacked examples),

with PGD-L∞ (Madry et al. 2017): ε = 0.175, 160 steps of 0.00225, random start. The seed's PGD is
defined from "x̃ of correct classification", so tfrobust attacks every example but counts as attacked
only the examples the network classifies correctly: R is the share of correctly classified examples
that survive the attack (R = 0 when no example is classified correctly). The usual robust accuracy is
then A·R, and the variant with all |T̃| examples in the denominator is 1 - A·(1 - R); both are
reported beside R. An attack succeeds when *any* PGD iterate (the random start included) is
misclassified: every iterate lies in the ε-ball, so this is a valid and slightly stronger count than
looking at the last iterate only.

``RobustnessMeter`` runs PGD on a batch of P networks with grouped weights (``TargetNetwork.forward_batch``):
one graph evaluates P·N adversarial examples per step, so the generator loop can measure a whole
batch of samples inside its ``train_step``. The steepest-ascent step, projection and random start
are ``tfrobust.attacks.norms`` and ``tfrobust.attacks.pgd_step``; the loss is ``tfrobust.attacks.losses.attack_loss``.
"""
from __future__ import annotations

import dataclasses
from typing import Tuple

import numpy as np
import tensorflow as tf

from tfrobust.attacks import norms
from tfrobust.attacks.losses import attack_loss
from tfrobust.attacks.pgd_step import ascent_step
from tfrobust.config import use_xla
from tfrobust.hypernet.target_network import TargetNetwork
from tfrobust.validation import LOSSES, NORMS, check_choice, check_epsilon, check_images, check_labels, \
    check_positive


@dataclasses.dataclass(frozen=True)
class PGDSettings:
    """PGD used to measure robustness; defaults are seed 000's (ε 0.175, 160 steps of 0.00225).

    Attributes:
        eps: radius of the threat model, in pixel units.
        step_size: length of each steepest-ascent step.
        steps: number of PGD iterations.
        random_start: start from a uniform random point of the ε-ball.
        norm: ``"linf"`` or ``"l2"``.
        loss: attack loss, ``"ce"``, ``"margin"`` or ``"dlr"``.
        bounds: valid pixel range.
    """

    eps: float = 0.175
    step_size: float = 0.00225
    steps: int = 160
    random_start: bool = True
    norm: str = "linf"
    loss: str = "ce"
    bounds: Tuple[float, float] = (0.0, 1.0)

    def __post_init__(self):
        check_epsilon(self.eps, self.bounds, self.norm)
        check_positive(self.step_size, "step_size")
        check_positive(self.steps, "steps", integer=True)
        check_choice(self.norm, NORMS, "norm")
        check_choice(self.loss, LOSSES, "loss")

    def with_steps(self, steps: int) -> "PGDSettings":
        """The same attack with ``steps`` iterations and the same total travel steps × step_size."""
        travel = self.steps * self.step_size
        return dataclasses.replace(self, steps=int(steps), step_size=travel / int(steps))

    def describe(self) -> str:
        """Short text such as ``"PGD-linf eps=0.175, 160 x 0.00225, random start"``."""
        start = ", random start" if self.random_start else ""
        return f"PGD-{self.norm} eps={self.eps:g}, {self.steps} x {self.step_size:.4g}{start}"


@dataclasses.dataclass
class Measurement:
    """Accuracy and robustness of P networks (numpy arrays of shape (P,)).

    Attributes:
        accuracy: A, share of examples classified correctly.
        robustness: R, share of the correctly classified examples that the attack does not flip.
        robust_accuracy: A·R, share of examples classified correctly under attack.
        num_examples: size of the measured subset.
    """

    accuracy: np.ndarray
    robustness: np.ndarray
    robust_accuracy: np.ndarray
    num_examples: int

    def objective(self, alpha: float = 0.5, beta: float = 0.5) -> np.ndarray:
        """α·A + β·R per network (the quantity the generator maximises)."""
        return alpha * self.accuracy + beta * self.robustness


def rates(num_correct, num_fooled, num_examples):
    """(A, R, A·R) from counts; R = 1 - fooled/correct and R = 0 where nothing is correct."""
    num_correct = tf.cast(num_correct, tf.float32)
    num_fooled = tf.cast(num_fooled, tf.float32)
    accuracy = num_correct / tf.cast(num_examples, tf.float32)
    robustness = tf.where(num_correct > 0, 1.0 - num_fooled / tf.maximum(num_correct, 1.0), 0.0)
    return accuracy, robustness, accuracy * robustness


class RobustnessMeter:
    """Measures A and R of batches of weight vectors θ with one batched PGD.

    Args:
        target: the ``TargetNetwork`` that turns θ into logits.
        pgd: the attack settings (default: seed 000's).

    Graph-friendly methods (``attack``, ``counts``, ``measure_batch``) take tensors and may be called
    inside ``train_step``; ``__call__`` validates its input eagerly and measures any number of
    networks and examples in chunks.
    """

    def __init__(self, target: TargetNetwork, pgd: PGDSettings = PGDSettings()):
        if not isinstance(target, TargetNetwork):
            raise TypeError(f"target must be a TargetNetwork, got {type(target).__name__}.")
        if not isinstance(pgd, PGDSettings):
            raise TypeError(f"pgd must be a PGDSettings, got {type(pgd).__name__}.")
        self.target = target
        self.pgd = pgd
        # One trace for every number of networks and examples (a retrace costs seconds on a CPU).
        signature = [tf.TensorSpec([None, target.theta_size], tf.float32),
                     tf.TensorSpec((None,) + target.input_shape, tf.float32), tf.TensorSpec([None], tf.int32)]
        self._compiled_counts = tf.function(self.counts, input_signature=signature, jit_compile=use_xla())

    def attack(self, thetas, x, y):
        """Batched PGD against P networks.

        Args:
            thetas: (P, |θ|) weights (treated as constants).
            x: (N, ...) clean images shared by all networks.
            y: (N,) int labels.

        Returns:
            (x_adv of shape (P, N, ...), fooled (P, N) bool: some iterate was misclassified).
        """
        pgd = self.pgd
        thetas = tf.stop_gradient(tf.convert_to_tensor(thetas, tf.float32))
        x = tf.convert_to_tensor(x, tf.float32)
        y = tf.cast(y, tf.int32)
        num = tf.shape(thetas)[0]
        x_shape = tf.concat([[num], tf.shape(x)], 0)
        x0 = tf.reshape(tf.broadcast_to(x[tf.newaxis], x_shape), tf.concat([[-1], tf.shape(x)[1:]], 0))
        labels = tf.reshape(tf.broadcast_to(y[tf.newaxis], x_shape[:2]), [-1])
        lo, hi = pgd.bounds

        def logits_of(flat):
            logits = self.target.forward_batch(thetas, tf.reshape(flat, x_shape))
            return tf.reshape(logits, [-1, self.target.num_classes])

        def wrong(logits):
            return tf.not_equal(tf.argmax(logits, -1, output_type=tf.int32), labels)

        def step(i, x_adv, fooled):
            with tf.GradientTape() as tape:
                tape.watch(x_adv)
                logits = logits_of(x_adv)
                loss = tf.reduce_sum(attack_loss(pgd.loss, logits, labels))
            grad = tape.gradient(loss, x_adv)
            fooled = tf.logical_or(fooled, wrong(logits))
            x_adv = ascent_step(x0, x_adv, grad, step_size=pgd.step_size, eps=pgd.eps, norm=pgd.norm, lo=lo, hi=hi)
            return i + 1, x_adv, fooled

        start = norms.random_start(x0, pgd.eps, pgd.norm, lo, hi) if pgd.random_start else x0
        fooled0 = tf.zeros_like(labels, dtype=tf.bool)
        _, x_adv, fooled = tf.while_loop(lambda i, *_: i < pgd.steps, step, (tf.constant(0), start, fooled0))
        fooled = tf.logical_or(fooled, wrong(logits_of(x_adv)))
        return tf.reshape(x_adv, x_shape), tf.reshape(fooled, x_shape[:2])

    def attack_and_count(self, thetas, x, y):
        """Batched PGD plus counts: (x_adv (P, N, ...), number correct (P,), number correct then fooled (P,))."""
        y = tf.cast(y, tf.int32)
        clean = self.target.forward_batch(tf.stop_gradient(thetas), x)
        correct = tf.equal(tf.argmax(clean, -1, output_type=tf.int32), y[tf.newaxis])
        x_adv, fooled = self.attack(thetas, x, y)
        num_correct = tf.reduce_sum(tf.cast(correct, tf.int32), axis=1)
        num_fooled = tf.reduce_sum(tf.cast(tf.logical_and(correct, fooled), tf.int32), axis=1)
        return x_adv, num_correct, num_fooled

    def counts(self, thetas, x, y):
        """Per network: (number correct, number correct and then fooled), each shape (P,) int32."""
        _, num_correct, num_fooled = self.attack_and_count(thetas, x, y)
        return num_correct, num_fooled

    def measure_batch(self, thetas, x, y):
        """(A, R, A·R) of P networks on one batch, each shape (P,); graph-friendly."""
        num_correct, num_fooled = self.counts(thetas, x, y)
        return rates(num_correct, num_fooled, tf.shape(x)[0])

    def __call__(self, thetas, x, y, batch_size: int = 500, theta_batch_size: int = 8) -> Measurement:
        """Measures A and R of every network on all of (x, y), in chunks.

        Args:
            thetas: (P, |θ|) weights, or one (|θ|,) vector.
            x: images (N, ...) within the bounds.
            y: labels, sparse (N,) or one-hot.
            batch_size: examples per chunk.
            theta_batch_size: networks per chunk (memory grows with theta_batch_size × batch_size).

        Returns:
            A ``Measurement``.

        Raises:
            ValueError / TypeError: bad θ shape or values, bad images or labels.
        """
        thetas = tf.convert_to_tensor(thetas, tf.float32)
        if thetas.shape.rank == 1:
            thetas = thetas[tf.newaxis]
        thetas = self.target.check_theta(thetas, batched=True)
        x = check_images(x, self.pgd.bounds)
        y = check_labels(y, self.target.num_classes, batch_size=int(x.shape[0]))
        batch_size = int(check_positive(batch_size, "batch_size", integer=True))
        theta_batch_size = int(check_positive(theta_batch_size, "theta_batch_size", integer=True))
        num_thetas, num_examples = int(thetas.shape[0]), int(x.shape[0])
        correct = np.zeros(num_thetas, np.int64)
        fooled = np.zeros(num_thetas, np.int64)
        for p in range(0, num_thetas, theta_batch_size):
            for n in range(0, num_examples, batch_size):
                c, f = self._compiled_counts(thetas[p:p + theta_batch_size], x[n:n + batch_size],
                                             y[n:n + batch_size])
                correct[p:p + theta_batch_size] += c.numpy()
                fooled[p:p + theta_batch_size] += f.numpy()
        accuracy, robustness, robust_accuracy = (t.numpy() for t in rates(correct, fooled, num_examples))
        return Measurement(accuracy, robustness, robust_accuracy, num_examples)
