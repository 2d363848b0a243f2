"""Knowledge distillation at temperature T, and defensive distillation.

Hinton, Vinyals & Dean (2015), "Distilling the Knowledge in a Neural Network": the student s is
trained on the teacher's soft labels p_T = softmax(t(x) / T) with

    loss = (1 - alpha) * T^2 * KL(p_T || softmax(s(x) / T)) + alpha * CE(softmax(s(x)), y),

the T^2 factor keeping the soft term's gradients on the scale of the hard term's as T changes.
The KL divergence equals the soft cross entropy minus the teacher's (constant) entropy, so its
gradient is that of the cross entropy while its value goes to 0 when the student matches.

Papernot, McDaniel, Wu, Jha & Swami (2016), "Distillation as a Defense to Adversarial
Perturbations against Deep Neural Networks" (defensive distillation), recipe with this module:

    teacher = TemperatureModel(build(), temperature=T)          # 1. train the teacher at T
    teacher.compile(opt); teacher.fit(x, y, ...)
    student = DistillationModel(build(), teacher.inner, temperature=T)   # 2. student at T on
    student.compile(opt); student.fit(x, y, ...)                          #    the soft labels
    deployed = student.inner                                    # 3. deploy at T = 1 (raw logits)

Carlini & Wagner (2016, 2017) showed the defence is gradient masking: the deployed logits are ~T
times larger, so softmax cross entropy at T = 1 has vanishing gradients, while attacks on the
logits (margin loss, or logits / T) still succeed.
"""
from __future__ import annotations

from typing import Optional

import tensorflow as tf
import tf_keras as keras

from tfrobust.training._wrapper import TrainingWrapper, cross_entropy
from tfrobust.validation import check_positive


@keras.saving.register_keras_serializable(package="tfrobust")
class DistillationModel(TrainingWrapper):
    """Trains ``student`` at temperature T on the soft labels of a frozen ``teacher``.

    Args:
        student: Keras logits model to train (the wrapped, deployable model: ``inner``).
        teacher: trained logits model (e.g. ``TemperatureModel(...).inner``); run with
            ``training=False`` and never updated.
        temperature: T > 0 for both teacher and student soft-maxes.
        alpha: weight in [0, 1] of the hard-label cross entropy at T = 1 (0: Papernot's pure
            soft-label training).
        bounds: (lo, hi) image domain.
        name: Keras model name.

    ``call`` returns the student's raw logits (deployment at T = 1). Training logs: ``loss`` and
    the student's ``accuracy`` on the hard labels; ``evaluate`` reports the same loss.

    Raises:
        TypeError, ValueError: invalid models, temperature or alpha.
    """

    def __init__(self, student, teacher, temperature: float, alpha: float = 0.0, *, bounds=(0.0, 1.0),
                 name: Optional[str] = None, **kwargs):
        kwargs.pop("evaluate_adversarial", None)
        kwargs.pop("clean_accuracy", None)
        kwargs.pop("model", None)
        super().__init__(student, bounds=bounds, name=name, **kwargs)
        if not callable(teacher):
            raise TypeError(f"teacher must be a callable logits model, got {type(teacher).__name__}.")
        if teacher is student:
            raise ValueError("teacher and student must be different models.")
        self.teacher = teacher
        self.temperature = check_positive(temperature, "temperature")
        if isinstance(alpha, bool) or not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}.")
        self.alpha = float(alpha)

    @property
    def student(self) -> keras.Model:
        """The student model (same object as ``inner``)."""
        return self.inner

    def distillation_loss(self, x, y, student_logits):
        """Per-example (1 - alpha) T^2 KL(teacher_T || student_T) + alpha CE(student, y)."""
        temperature = self.temperature
        teacher_logits = tf.stop_gradient(tf.cast(self.teacher(x, training=False), tf.float32))
        teacher_log_probs = tf.nn.log_softmax(teacher_logits / temperature)
        student_log_probs = tf.nn.log_softmax(student_logits / temperature)
        kl = tf.reduce_sum(tf.exp(teacher_log_probs) * (teacher_log_probs - student_log_probs), axis=-1)
        loss = (1.0 - self.alpha) * temperature ** 2 * kl
        if self.alpha > 0.0:
            loss += self.alpha * cross_entropy(student_logits, y)
        return loss

    def training_loss(self, x, y, x_adv):
        logits = self.logits(x, training=True)
        return self.distillation_loss(x, y, logits), logits, None

    def evaluation_loss(self, x, y, clean_logits):
        return self.distillation_loss(x, y, clean_logits)

    def get_config(self):
        config = super().get_config()
        for key in ("evaluate_adversarial", "clean_accuracy"):
            config.pop(key)
        config["student"] = config.pop("model")
        config.update(teacher=keras.saving.serialize_keras_object(self.teacher), temperature=self.temperature,
                      alpha=self.alpha)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("student", "teacher"):
            config[key] = keras.saving.deserialize_keras_object(config[key], custom_objects=custom_objects)
        return cls(**config)
