"""PGD adversarial training (Madry, Makelov, Schmidt, Tsipras & Vladu 2018).

"Towards Deep Learning Models Resistant to Adversarial Attacks" (ICLR 2018): minimise the robust
loss E[max_{||delta|| <= eps} L(f(x + delta), y)], the inner maximum approximated by k steps of
projected gradient ascent from a random start (MNIST: eps 0.3, 40 steps of 0.01; CIFAR-10: eps
8/255, 7 steps of 2/255). With ``clean_weight`` = c the objective is Goodfellow et al.'s (2015) mix

    loss = c * CE(f(x), y) + (1 - c) * CE(f(x_adv), y).

When c > 0 the clean and adversarial batches go through the model in ONE training-mode forward
pass (concatenated), so BatchNorm sees one mixed batch and tfmot's pruning step advances once per
step. The attack itself runs in inference mode (``training=False``): it updates neither BatchNorm
moving statistics nor the pruning step.
"""
from __future__ import annotations

from typing import Optional

import tensorflow as tf
import tf_keras as keras

from tfrobust.training._wrapper import TrainingWrapper, cross_entropy
from tfrobust.training.inner_attack import pgd_examples
from tfrobust.validation import LOSSES, NORMS, check_choice, check_epsilon, check_positive


@keras.saving.register_keras_serializable(package="tfrobust")
class PGDAdversarialModel(TrainingWrapper):
    """Wraps a logits model and trains it on k-step PGD adversarial examples (Madry et al. 2018).

    Args:
        model: Keras model (functional, sequential or subclassed) from images in ``bounds`` to logits.
        eps: radius of the threat model in pixel units.
        step_size: PGD step length.
        steps: number of PGD steps k >= 1.
        random_start: start each attack at a uniform random point of the ball.
        clean_weight: weight c in [0, 1] of the clean cross entropy (0: pure adversarial training).
        norm: "linf" or "l2".
        loss: attack loss maximised by the inner PGD: "ce", "margin" or "dlr" (the training loss is
            always cross entropy).
        bounds: (lo, hi) image domain.
        evaluate_adversarial: ``evaluate()`` also reports ``adv_accuracy`` under the same PGD.
        clean_accuracy: when c = 0, spend one inference pass per step to report clean ``accuracy``.
        name: Keras model name.

    Raises:
        TypeError, ValueError: invalid settings.

    Example:
        >>> pgd = PGDAdversarialModel(build_cnn(), eps=0.3, step_size=0.01, steps=40)
        >>> pgd.compile(keras.optimizers.Adam(1e-3))
        >>> pgd.fit(x, y, batch_size=50, epochs=...)
    """

    adversarial = True

    def __init__(self, model, eps: float, step_size: float, steps: int, *, random_start: bool = True,
                 clean_weight: float = 0.0, norm: str = "linf", loss: str = "ce", bounds=(0.0, 1.0),
                 evaluate_adversarial: bool = False, clean_accuracy: bool = True, name: Optional[str] = None,
                 **kwargs):
        super().__init__(model, bounds=bounds, evaluate_adversarial=evaluate_adversarial,
                         clean_accuracy=clean_accuracy, name=name, **kwargs)
        self.norm = check_choice(norm, NORMS, "norm")
        self.attack_loss = check_choice(loss, LOSSES, "loss")
        self.eps = check_epsilon(eps, self.bounds, self.norm)
        self.step_size = check_positive(step_size, "step_size")
        self.steps = int(check_positive(steps, "steps", integer=True))
        self.random_start = bool(random_start)
        if isinstance(clean_weight, bool) or not 0.0 <= float(clean_weight) <= 1.0:
            raise ValueError(f"clean_weight must be a number in [0, 1], got {clean_weight!r}.")
        self.clean_weight = float(clean_weight)

    def adversarial_examples(self, x, y):
        """k-step PGD examples, attack forward passes in inference mode."""
        return pgd_examples(lambda z: self.inner(z, training=False), x, y, eps=self.eps, step_size=self.step_size,
                            steps=self.steps, norm=self.norm, loss=self.attack_loss,
                            random_start=self.random_start, bounds=self.bounds)

    def training_loss(self, x, y, x_adv):
        if self.clean_weight == 0.0:
            adv_logits = self.logits(x_adv, training=True)
            return cross_entropy(adv_logits, y), None, adv_logits
        both = self.logits(tf.concat([x, x_adv], axis=0), training=True)
        clean_logits, adv_logits = tf.split(both, 2, axis=0)
        per_example = (self.clean_weight * cross_entropy(clean_logits, y)
                       + (1.0 - self.clean_weight) * cross_entropy(adv_logits, y))
        return per_example, clean_logits, adv_logits

    def get_config(self):
        config = super().get_config()
        config.update(eps=self.eps, step_size=self.step_size, steps=self.steps, random_start=self.random_start,
                      clean_weight=self.clean_weight, norm=self.norm, loss=self.attack_loss)
        return config
