"""Shared base of the training wrappers: a ``keras.Model`` around any Keras model.

The pattern is the keras-io custom ``train_step`` (e.g. the knowledge-distillation example): a
``keras.Model`` subclass holds the user's model as ``inner``, delegates ``call`` to it and overrides
``train_step``/``test_step``, so ``compile()``, ``fit()``, ``evaluate()``, callbacks, TensorBoard,
``tf.distribute`` strategies and mixed precision keep working. The wrapper owns no weights of its
own: ``wrapper.weights`` are the inner model's, and the inner model (``wrapper.inner`` or
``wrapper.model``) is what one saves and deploys.

Subclasses implement two hooks:

- ``adversarial_examples(x, y)``: graph-safe inner maximisation, or ``None`` for wrappers that
  train on clean inputs (temperature, distillation);
- ``training_loss(x, y, x_adv)``: per-example float32 loss and the logits used for metrics.

Losses follow the ``tf.distribute`` convention: the per-replica loss is
``sum(per_example_loss * sample_weight) / global_batch_size`` (``tf.nn.compute_average_loss``)
and regularisation losses are divided by the number of replicas, so the gradients summed over
replicas equal the single-device gradient.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfrobust.config import use_xla
from tfrobust.training.optimizer_slots import build_optimizer_slots
from tfrobust.validation import check_bounds, check_images, check_labels


def sparse_labels(y):
    """Sparse int32 labels from sparse ``(B,)``/``(B, 1)`` or one-hot ``(B, C)`` labels (graph-safe)."""
    y = tf.convert_to_tensor(y)
    if y.shape.rank == 2:
        if y.shape[-1] == 1:
            y = tf.squeeze(y, axis=-1)
        else:
            y = tf.argmax(y, axis=-1)
    return tf.cast(y, tf.int32)


def cross_entropy(logits, labels):
    """Per-example softmax cross entropy computed in float32 (also under mixed precision)."""
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=tf.cast(logits, tf.float32))


class TrainingWrapper(keras.Model):
    """Base class: wraps a logits model and trains it with a custom objective.

    Args:
        model: any Keras model (functional, sequential or subclassed) from images in ``bounds``
            to logits. Build it (and the wrapper) inside ``strategy.scope()`` when distributing.
        bounds: (lo, hi) image domain, used to validate ``fit``/``evaluate`` inputs and to clip
            adversarial examples.
        evaluate_adversarial: when True, ``evaluate()`` also attacks each batch with the training
            attack and reports ``adv_accuracy`` (adversarial wrappers only).
        clean_accuracy: adversarial wrappers that never run the model on clean inputs during a
            step (``clean_weight=0``) spend one extra inference forward pass per step to report
            the clean ``accuracy``; set False for the leanest step (the metric is then absent
            from training logs, ``evaluate`` still reports it).
        name: Keras model name.

    Raises:
        TypeError: ``model`` is not a ``keras.Model`` (tf_keras).
    """

    #: True for wrappers whose ``adversarial_examples`` returns a batch.
    adversarial = False

    def __init__(self, model, *, bounds=(0.0, 1.0), evaluate_adversarial: bool = False,
                 clean_accuracy: bool = True, name: Optional[str] = None, **kwargs):
        if not isinstance(model, keras.Model):
            raise TypeError(
                f"model must be a tf_keras Model (import tf_keras as keras), got {type(model).__name__}. "
                "Keras 3 models cannot be trained by tfrobust wrappers; rebuild the model with tf_keras."
            )
        if "dtype" not in kwargs and getattr(model, "dtype_policy", None) is not None:
            # The wrapper's policy decides whether compile() adds a LossScaleOptimizer.
            kwargs["dtype"] = model.dtype_policy
        super().__init__(name=name, **kwargs)
        self.inner = model
        self.bounds = check_bounds(bounds)
        self.evaluate_adversarial = bool(evaluate_adversarial)
        if self.evaluate_adversarial and not self.adversarial:
            raise ValueError(f"{type(self).__name__} trains on clean inputs; evaluate_adversarial needs an "
                             "adversarial wrapper (FastAdversarialModel, PGDAdversarialModel).")
        self.clean_accuracy = bool(clean_accuracy)
        self._create_metrics()

    @tf.__internal__.tracking.no_automatic_dependency_tracking
    def _create_metrics(self):
        # Untracked, like Keras' compiled metrics: the wrapper's weights and checkpoints hold only
        # model weights (``wrapper.get_weights()`` equals ``wrapper.inner.get_weights()``).
        self._loss_tracker = keras.metrics.Mean(name="loss")
        self._accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        self._adv_accuracy = keras.metrics.SparseCategoricalAccuracy(name="adv_accuracy")

    # ------------------------------------------------------------------ the wrapped model
    @property
    def model(self) -> keras.Model:
        """The wrapped model (same object as ``inner``): save and deploy this one."""
        return self.inner

    def call(self, inputs, training=None, mask=None):
        return self.inner(inputs, training=training)

    def logits(self, x, training=False):
        """The inner model's logits in float32."""
        return tf.cast(self.inner(x, training=training), tf.float32)

    # ------------------------------------------------------------------ hooks for subclasses
    def adversarial_examples(self, x, y) -> Optional[tf.Tensor]:
        """Graph-safe inner maximisation; ``None`` for wrappers trained on clean inputs."""
        return None

    def training_loss(self, x, y, x_adv) -> Tuple[tf.Tensor, Optional[tf.Tensor], Optional[tf.Tensor]]:
        """Returns (per-example float32 loss, clean logits or None, adversarial logits or None).

        Called inside the weight ``GradientTape`` with the inner model in training mode.
        """
        raise NotImplementedError

    def evaluation_loss(self, x, y, clean_logits) -> tf.Tensor:
        """Per-example loss reported by ``evaluate``; cross entropy on the clean logits by default."""
        return cross_entropy(clean_logits, y)

    def update_variables(self):
        """Variables the optimiser updates (the inner model's trainable variables)."""
        return self.inner.trainable_variables

    # ------------------------------------------------------------------ Keras plumbing
    def compile(self, optimizer="adam", loss=None, metrics=None, *, jit_compile="auto", **kwargs):
        """Configures training; the loss is defined by the wrapper.

        Args:
            optimizer: a Keras optimizer (instance or name). Under a ``mixed_float16`` policy Keras
                wraps it in a ``LossScaleOptimizer``.
            loss: must be None (the wrapper defines its objective).
            metrics: optional extra Keras metrics, updated on the clean logits.
            jit_compile: True, False or "auto" (``tfrobust.config.use_xla``: XLA on GPU only).
            **kwargs: forwarded to ``keras.Model.compile`` (e.g. ``steps_per_execution``).

        Raises:
            ValueError: a ``loss`` was given.
        """
        if loss is not None:
            raise ValueError(
                f"{type(self).__name__} defines its own loss; call compile(optimizer=...) without loss=. "
                "Subclass and override training_loss() for another objective."
            )
        super().compile(optimizer=optimizer, metrics=metrics, jit_compile=use_xla(jit_compile), **kwargs)

    @property
    def metrics(self):
        metrics = [self._loss_tracker, self._accuracy]
        if self.adversarial:
            metrics.append(self._adv_accuracy)
        if self.compiled_metrics is not None:
            metrics += self.compiled_metrics.metrics
        return metrics

    def _check_arrays(self, x, y):
        # Eager validation of in-memory data; datasets/generators are checked by their producer.
        if isinstance(x, (np.ndarray, tf.Tensor)):
            check_images(x, self.bounds)
            if isinstance(y, (np.ndarray, tf.Tensor, list)):
                classes = self.inner.output_shape[-1] if hasattr(self.inner, "output_shape") else None
                if classes:
                    check_labels(y, int(classes), batch_size=int(x.shape[0]))

    def fit(self, x=None, y=None, *args, **kwargs):
        self._check_arrays(x, y)
        build_optimizer_slots(self, self.update_variables())  # one trace of the train step, not two
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self._check_arrays(x, y)
        return super().evaluate(x, y, *args, **kwargs)

    def _results(self, skip=()) -> Dict[str, tf.Tensor]:
        results = {}
        for metric in self.metrics:
            if metric in skip:
                continue
            result = metric.result()
            if isinstance(result, dict):
                results.update(result)
            else:
                results[metric.name] = result
        return results

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x = tf.cast(x, tf.float32)
        y = sparse_labels(y)
        # The attack runs before (outside) the weight tape: only its input gradient is computed.
        x_adv = self.adversarial_examples(x, y)
        variables = self.update_variables()
        with tf.GradientTape() as tape:
            per_example, clean_logits, adv_logits = self.training_loss(x, y, x_adv)
            loss = tf.nn.compute_average_loss(per_example, sample_weight=sample_weight)
            if self.inner.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(self.inner.losses))
        self.optimizer.minimize(loss, variables, tape=tape)

        if clean_logits is None and self.clean_accuracy:
            clean_logits = self.logits(x, training=False)
        self._loss_tracker.update_state(per_example, sample_weight=sample_weight)
        if clean_logits is not None:
            self._accuracy.update_state(y, clean_logits, sample_weight=sample_weight)
            self.compiled_metrics.update_state(y, clean_logits, sample_weight)
        if adv_logits is not None:
            self._adv_accuracy.update_state(y, adv_logits, sample_weight=sample_weight)
        skip = [m for m, logits in ((self._accuracy, clean_logits), (self._adv_accuracy, adv_logits)) if logits is None]
        return self._results(skip)

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x = tf.cast(x, tf.float32)
        y = sparse_labels(y)
        clean_logits = self.logits(x, training=False)
        self._loss_tracker.update_state(self.evaluation_loss(x, y, clean_logits), sample_weight=sample_weight)
        self._accuracy.update_state(y, clean_logits, sample_weight=sample_weight)
        self.compiled_metrics.update_state(y, clean_logits, sample_weight)
        if self.evaluate_adversarial:
            adv_logits = self.logits(self.adversarial_examples(x, y), training=False)
            self._adv_accuracy.update_state(y, adv_logits, sample_weight=sample_weight)
        return self._results(() if self.evaluate_adversarial else (self._adv_accuracy,))

    # ------------------------------------------------------------------ serialisation
    def get_config(self):
        return {
            "model": keras.saving.serialize_keras_object(self.inner),
            "bounds": list(self.bounds),
            "evaluate_adversarial": self.evaluate_adversarial,
            "clean_accuracy": self.clean_accuracy,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("model", "teacher"):
            if key in config and isinstance(config[key], dict):
                config[key] = keras.saving.deserialize_keras_object(config[key], custom_objects=custom_objects)
        return cls(**config)
