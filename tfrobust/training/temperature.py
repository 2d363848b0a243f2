"""High-temperature training (seed 004; the softmax temperature of Hinton, Vinyals & Dean 2015).

The model is trained with cross entropy on softened logits,

    loss = CE(softmax(z(x) / T), y),

and deployed with the raw logits z (T = 1). Since training drives z / T to ordinary logit scales,
the deployed logits are about T times larger, the softmax saturates and cross-entropy gradients at
T = 1 underflow to zero: FGSM computed by an attacker unaware of T barely moves the input, so the
model *looks* robust. This is gradient masking (Carlini & Wagner 2016 showed it for defensive
distillation, Papernot et al. 2016): an attacker aware of T (``scaled_model``) or one attacking the
logits with a margin loss is not fooled. Check with ``tfrobust.evaluation.masking_report``.
"""
from __future__ import annotations

from typing import Optional

import tensorflow as tf
import tf_keras as keras

from tfrobust.training._wrapper import TrainingWrapper, cross_entropy
from tfrobust.validation import check_positive


@keras.saving.register_keras_serializable(package="tfrobust")
class TemperatureScaledModel(keras.Model):
    """A view of a logits model that returns ``logits / T`` (what an attacker aware of T attacks).

    Args:
        model: the logits model (its weights are shared, not copied).
        temperature: T > 0.
    """

    def __init__(self, model, temperature: float, name: Optional[str] = None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.inner = model
        self.temperature = check_positive(temperature, "temperature")

    def call(self, inputs, training=None):
        return tf.cast(self.inner(inputs, training=training), tf.float32) / self.temperature

    def get_config(self):
        return {"model": keras.saving.serialize_keras_object(self.inner), "temperature": self.temperature,
                "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["model"] = keras.saving.deserialize_keras_object(config["model"], custom_objects=custom_objects)
        return cls(**config)


@keras.saving.register_keras_serializable(package="tfrobust")
class TemperatureModel(TrainingWrapper):
    """Trains a logits model with cross entropy on ``logits / T``; ``call`` returns the raw logits.

    ``model(x)``, ``predict`` and attacks on the wrapper see T = 1 (the attacker unaware of T);
    ``scaled_model`` returns ``logits / T`` (the attacker aware of T). The argmax, hence
    ``predict``-based accuracy, does not depend on T.

    Args:
        model: Keras model from images in ``bounds`` to logits.
        temperature: T > 0 (seed 004 studies 1, 20, 50, 70, 90).
        bounds: (lo, hi) image domain.
        name: Keras model name.

    Training logs: ``loss`` (CE on logits / T) and ``accuracy``; ``evaluate`` reports the same loss.

    Raises:
        TypeError, ValueError: invalid model or temperature.
    """

    def __init__(self, model, temperature: float, *, bounds=(0.0, 1.0), name: Optional[str] = None, **kwargs):
        kwargs.pop("evaluate_adversarial", None)
        kwargs.pop("clean_accuracy", None)
        super().__init__(model, bounds=bounds, name=name, **kwargs)
        self.temperature = check_positive(temperature, "temperature")

    @property
    def scaled_model(self) -> TemperatureScaledModel:
        """A model sharing the weights that returns ``logits / T`` (for the attacker aware of T)."""
        return TemperatureScaledModel(self.inner, self.temperature)

    def training_loss(self, x, y, x_adv):
        logits = self.logits(x, training=True)
        return cross_entropy(logits / self.temperature, y), logits, None

    def evaluation_loss(self, x, y, clean_logits):
        return cross_entropy(clean_logits / self.temperature, y)

    def get_config(self):
        config = super().get_config()
        for key in ("evaluate_adversarial", "clean_accuracy"):
            config.pop(key)
        config["temperature"] = self.temperature
        return config
