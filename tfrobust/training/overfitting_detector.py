"""Catastrophic-overfitting detector: PGD accuracy against FGSM accuracy on a held batch, every epoch.

Single-step adversarial training can overfit catastrophically (Wong, Rice & Kolter 2020;
Andriushchenko & Flammarion 2020): within a few batches the model becomes robust to FGSM yet PGD
accuracy collapses to ~0, because the loss stops being locally linear and the FGSM direction no
longer finds the worst case. The symptom is the gap between the two accuracies on the same
points: for a genuinely robust model FGSM accuracy is a little above PGD accuracy, after a
collapse FGSM accuracy stays high (often above clean accuracy) while PGD accuracy is near zero.

After each epoch this callback measures, on one held batch, in inference mode,

    fgsm  = acc(f, x + eps sign(grad_x CE(f(x), y)))                 (FGSM from x, Goodfellow et al.)
    pgd   = acc(f, PGD-k(x))   k steps of eps / 4 from fixed seeded random starts (as the guard)
    gap   = fgsm - pgd

and writes them into the epoch logs (keys ``<prefix>fgsm_accuracy``, ``<prefix>pgd_accuracy``,
``<prefix>gap``), so ``History`` and a ``keras.callbacks.TensorBoard`` placed AFTER it in the list
record them (TensorBoard: scalars ``epoch_<key>``). An epoch is flagged when gap > ``threshold``;
nothing else happens (``CatastrophicOverfittingGuard`` is the callback that also restores and stops).
"""
from __future__ import annotations

import logging
from typing import List, Optional

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfrobust.config import compile_function
from tfrobust.training.inner_attack import pgd_examples
from tfrobust.validation import check_bounds, check_epsilon, check_images, check_labels, check_positive

logger = logging.getLogger("tfrobust")


class CatastrophicOverfittingDetector(keras.callbacks.Callback):
    """Logs FGSM and PGD accuracy on a held batch after each epoch and flags catastrophic overfitting.

    Args:
        x: held images (e.g. one batch of training or validation data), float in ``bounds``.
        y: their sparse or one-hot labels.
        eps: L-inf attack radius (pixel units), normally the training eps.
        pgd_steps: PGD steps (10); step size ``eps / 4``.
        threshold: flag an epoch when FGSM accuracy exceeds PGD accuracy by more than this (0.3).
        bounds: (lo, hi) image domain.
        seed: seed of the PGD random starts (drawn once, so epochs are compared on the same attack).
        prefix: prefix of the log keys.

    Attributes:
        history: one dict per epoch with keys "epoch", "fgsm_accuracy", "pgd_accuracy", "gap".
        overfitting_epochs: epochs flagged, in order.

    Raises:
        TypeError, ValueError: invalid held batch or settings (eagerly, at construction).
    """

    def __init__(self, x, y, eps: float, *, pgd_steps: int = 10, threshold: float = 0.3, bounds=(0.0, 1.0),
                 seed: int = 0, prefix: str = "co_"):
        super().__init__()
        self.bounds = check_bounds(bounds)
        self.x = check_images(x, self.bounds)
        self._y_raw = y
        self.eps = check_epsilon(eps, self.bounds)
        self.pgd_steps = int(check_positive(pgd_steps, "pgd_steps", integer=True))
        self.threshold = check_positive(threshold, "threshold")
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a string, got {type(prefix).__name__}.")
        self.prefix = prefix
        lo, hi = self.bounds
        rng = np.random.default_rng(seed)
        x_np = self.x.numpy()
        start = np.clip(x_np + rng.uniform(-self.eps, self.eps, size=x_np.shape), lo, hi)
        self._start = tf.constant(start.astype(np.float32))
        self.y = None
        self.history: List[dict] = []
        self.overfitting_epochs: List[int] = []
        self._measure = None

    def _net(self):
        return getattr(self.model, "inner", self.model)

    def on_train_begin(self, logs=None):
        net = self._net()
        if self.y is None:
            classes = int(net.output_shape[-1]) if hasattr(net, "output_shape") else int(net(self.x[:1]).shape[-1])
            self.y = check_labels(self._y_raw, classes, batch_size=int(self.x.shape[0]))
        eps, lo, hi = self.eps, self.bounds[0], self.bounds[1]

        def measure(x, y, start):
            forward = lambda z: net(z, training=False)  # noqa: E731
            x_fgsm = pgd_examples(forward, x, y, eps=eps, step_size=eps, steps=1, random_start=False,
                                  bounds=(lo, hi))
            x_pgd = pgd_examples(forward, x, y, eps=eps, step_size=eps / 4.0, steps=self.pgd_steps,
                                 bounds=(lo, hi), x_init=start)

            def correct(z):
                return tf.reduce_mean(tf.cast(tf.equal(tf.argmax(forward(z), -1, output_type=tf.int32), y),
                                              tf.float32))

            return correct(x_fgsm), correct(x_pgd)

        self._measure = compile_function(measure)

    def measure(self):
        """(FGSM accuracy, PGD accuracy) of the current model on the held batch."""
        if self._measure is None:
            self.on_train_begin()
        fgsm, pgd = self._measure(self.x, self.y, self._start)
        return float(fgsm), float(pgd)

    def on_epoch_end(self, epoch, logs=None):
        fgsm, pgd = self.measure()
        gap = fgsm - pgd
        self.history.append({"epoch": int(epoch), "fgsm_accuracy": fgsm, "pgd_accuracy": pgd, "gap": gap})
        if logs is not None:
            logs[self.prefix + "fgsm_accuracy"] = fgsm
            logs[self.prefix + "pgd_accuracy"] = pgd
            logs[self.prefix + "gap"] = gap
        if gap > self.threshold:
            self.overfitting_epochs.append(int(epoch))
            logger.warning("Catastrophic overfitting suspected at epoch %d: FGSM accuracy %.3f vs PGD accuracy %.3f "
                           "on the held batch.", epoch, fgsm, pgd)

    @property
    def collapsed_epoch(self) -> Optional[int]:
        """First flagged epoch, or None."""
        return self.overfitting_epochs[0] if self.overfitting_epochs else None
