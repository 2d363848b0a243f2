"""Gradient reversal layer for domain-adversarial training.

Ganin & Lempitsky (2015), "Unsupervised domain adaptation by backpropagation" (ICML): the
layer is the identity in the forward pass and multiplies the gradient by ``-lambda`` in the
backward pass, so that the feature extractor below it maximises the loss of the domain
classifier above it. Ganin & Lempitsky raise lambda from 0 to 1 during training,
``lambda_p = 2 / (1 + exp(-gamma p)) - 1`` with training progress ``p`` in [0, 1] and gamma = 10.
"""
from __future__ import annotations

import math
from typing import Callable

import tensorflow as tf
import tf_keras as keras
from tensorflow_model_optimization.sparsity.keras import PrunableLayer

from tfrobust.layers.traversal import find_layers
from tfrobust.validation import check_choice


@tf.custom_gradient
def reverse_gradient(x: tf.Tensor, lam: tf.Tensor):
    """Identity on ``x`` whose gradient is ``-lam * upstream`` (no gradient to ``lam``)."""

    def grad(upstream):
        return -tf.cast(lam, upstream.dtype) * upstream, None

    return tf.identity(x), grad


def ganin_lambda(progress: float, gamma: float = 10.0) -> float:
    """Ganin & Lempitsky's schedule ``2 / (1 + exp(-gamma p)) - 1`` for progress ``p`` in [0, 1]."""
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


@keras.utils.register_keras_serializable(package="tfrobust")
class GradientReversal(keras.layers.Layer, PrunableLayer):
    """Identity forward, ``-lam * gradient`` backward (Ganin & Lempitsky 2015).

    ``lam`` is a non-trainable ``tf.Variable`` read at every call, so ``layer.lam.assign(v)`` or
    :meth:`set_lambda` changes the backward pass of an already traced ``tf.function`` or
    compiled Keras model without retracing. Its current value is saved with the weights.

    Pruning (tensorflow-model-optimization): ``get_prunable_weights()`` returns ``[]``.

    Args:
        lam: initial lambda (any real number; 0 blocks the gradient).
        **kwargs: standard Keras layer arguments.

    Raises:
        TypeError: if ``lam`` is not a number.
    """

    def __init__(self, lam: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not math.isfinite(lam):
            raise TypeError(f"lam must be a finite number, got {lam!r}.")
        self.lam = self.add_weight("lam", shape=(), trainable=False, experimental_autocast=False,
                                   initializer=keras.initializers.Constant(float(lam)))

    def set_lambda(self, value: float) -> None:
        """Sets lambda (takes effect in the next forward/backward pass, no retracing)."""
        if isinstance(value, bool) or not math.isfinite(float(value)):
            raise TypeError(f"lambda must be a finite number, got {value!r}.")
        self.lam.assign(float(value))

    def call(self, inputs):
        return reverse_gradient(inputs, tf.convert_to_tensor(self.lam))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_prunable_weights(self):
        """No prunable weights (lambda is a scalar schedule value)."""
        return []

    def get_config(self):
        config = super().get_config()
        config.update(lam=float(self.lam.numpy()))
        return config


class GradientReversalSchedule(keras.callbacks.Callback):
    """Sets lambda of every :class:`GradientReversal` layer of the model from a schedule.

    Args:
        schedule: function of the epoch index (``per="epoch"``) or of the global step
            (``per="batch"``) returning lambda, e.g.
            ``lambda step: ganin_lambda(step / total_steps)`` (Ganin & Lempitsky 2015).
        per: ``"epoch"`` or ``"batch"``: when to update.

    Raises:
        ValueError: for an unknown ``per``; at train begin, if the model has no such layer.
    """

    def __init__(self, schedule: Callable[[int], float], per: str = "epoch"):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"schedule must be a function of the epoch or step, got {schedule!r}.")
        self.schedule = schedule
        self.per = check_choice(per, ("epoch", "batch"), "per")
        self._layers = []
        self._step = 0

    def on_train_begin(self, logs=None):
        self._layers = find_layers(self.model, GradientReversal)
        if not self._layers:
            raise ValueError("GradientReversalSchedule: the model has no GradientReversal layer.")

    def _set(self, index: int) -> None:
        value = float(self.schedule(index))
        for layer in self._layers:
            layer.set_lambda(value)

    def on_epoch_begin(self, epoch, logs=None):
        if self.per == "epoch":
            self._set(epoch)

    def on_train_batch_begin(self, batch, logs=None):
        if self.per == "batch":
            self._set(self._step)
        self._step += 1
