"""Catastrophic-overfitting guard for single-step adversarial training (Wong, Rice & Kolter 2020).

FGSM-based adversarial training can suddenly "catastrophically overfit": within an epoch, PGD
robust accuracy collapses to ~0 while FGSM accuracy rises. Wong et al. detect it by running PGD-5
(step 2/255 at eps 8/255, i.e. eps / 4; one restart) on one held training batch after each epoch;
when robust accuracy drops by more than 0.2 (absolute) below the previous epoch's, they stop and
return the previous epoch's weights. This callback does exactly that and also logs the robust
accuracy into the epoch logs (key ``guard_robust_accuracy``), so ``History`` and a ``TensorBoard``
callback placed after it in the list record it.
"""
from __future__ import annotations

import logging
from typing import List, Optional

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfrobust.attacks._inputs import make_generator
from tfrobust.attacks.norms import random_start
from tfrobust.config import compile_function
from tfrobust.training.inner_attack import pgd_examples
from tfrobust.validation import NORMS, check_bounds, check_choice, check_epsilon, check_images, check_labels, check_positive

logger = logging.getLogger("tfrobust")


class CatastrophicOverfittingGuard(keras.callbacks.Callback):
    """After each epoch, PGD on a held batch; on collapse restore the previous weights and stop.

    Args:
        x: held images (e.g. one training batch), float in ``bounds``.
        y: their sparse or one-hot labels.
        eps: attack radius (pixel units), normally the training eps.
        step_size: PGD step; ``None`` means eps / 4 (Wong et al.: 2/255 at eps 8/255).
        steps: PGD steps (5 in Wong et al.).
        restarts: random restarts; an example counts as robust only if every restart fails. The
            random starts are drawn once (seeded), so epochs are compared on the same attack.
        threshold: stop when robust accuracy falls more than this (absolute) below the previous
            epoch's.
        norm: "linf" or "l2".
        bounds: (lo, hi) image domain.
        seed: seed of the random starts.
        log_key: key of the robust accuracy in the epoch logs.

    Attributes:
        robust_accuracies: robust accuracy after each epoch, in order.
        collapsed_epoch: the epoch at which a collapse was detected, or None.

    Raises:
        TypeError, ValueError: invalid held batch or settings (eagerly, at construction).
    """

    def __init__(self, x, y, eps: float, *, step_size: Optional[float] = None, steps: int = 5, restarts: int = 1,
                 threshold: float = 0.2, norm: str = "linf", bounds=(0.0, 1.0), seed: int = 0,
                 log_key: str = "guard_robust_accuracy"):
        super().__init__()
        self.bounds = check_bounds(bounds)
        self.norm = check_choice(norm, NORMS, "norm")
        self.x = check_images(x, self.bounds)
        self._y_raw = y
        self.eps = check_epsilon(eps, self.bounds, self.norm)
        self.step_size = self.eps / 4.0 if step_size is None else check_positive(step_size, "step_size")
        self.steps = check_positive(steps, "steps", integer=True)
        self.restarts = check_positive(restarts, "restarts", integer=True)
        self.threshold = check_positive(threshold, "threshold")
        self.log_key = log_key
        lo, hi = self.bounds
        generator = make_generator(int(seed))
        self._starts = [random_start(self.x, self.eps, self.norm, lo, hi, generator=generator)
                        for _ in range(self.restarts)]
        self.y = None
        self.robust_accuracies: List[float] = []
        self.collapsed_epoch: Optional[int] = None
        self._previous_weights = None
        self._attack = None

    def _forward_model(self):
        return getattr(self.model, "inner", self.model)

    def on_train_begin(self, logs=None):
        net = self._forward_model()
        if self.y is None:
            classes = int(net.output_shape[-1]) if hasattr(net, "output_shape") else int(net(self.x[:1]).shape[-1])
            self.y = check_labels(self._y_raw, classes, batch_size=int(self.x.shape[0]))

        def correct_after_attack(x, y, x_init):
            x_adv = pgd_examples(lambda z: net(z, training=False), x, y, eps=self.eps, step_size=self.step_size,
                                 steps=self.steps, norm=self.norm, bounds=self.bounds, x_init=x_init)
            logits = net(x_adv, training=False)
            return tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), y)

        self._attack = compile_function(correct_after_attack)

    def robust_accuracy(self) -> float:
        """PGD accuracy of the current model on the held batch."""
        robust = np.ones(int(self.x.shape[0]), dtype=bool)
        for start in self._starts:
            robust &= self._attack(self.x, self.y, start).numpy()
        return float(robust.mean())

    def on_epoch_end(self, epoch, logs=None):
        accuracy = self.robust_accuracy()
        if logs is not None:
            logs[self.log_key] = accuracy
        previous = self.robust_accuracies[-1] if self.robust_accuracies else None
        self.robust_accuracies.append(accuracy)
        if previous is not None and accuracy < previous - self.threshold and self._previous_weights is not None:
            logger.warning(
                "Catastrophic overfitting at epoch %d: PGD accuracy on the held batch fell from %.3f to %.3f; "
                "restoring the weights of epoch %d and stopping.", epoch, previous, accuracy, epoch - 1)
            self.model.set_weights(self._previous_weights)
            self.model.stop_training = True
            self.collapsed_epoch = epoch
            return
        self._previous_weights = self.model.get_weights()
