"""Ensemble adversarial training (Tramèr, Kurakin, Papernot, Goodfellow, Boneh & McDaniel 2018).

"Ensemble Adversarial Training: Attacks and Defenses" (ICLR 2018). Single-step adversarial
training converges to a degenerate minimum whose own gradients mask its loss: the model is robust
to its own FGSM examples but not to examples transferred from other models. Ensemble AT decouples
the adversarial examples from the trained model by drawing them, batch after batch, from the model
being trained AND from static pre-trained models that are never updated:

    source_t = [f_trained, g_1, ..., g_n][t mod (n + 1)]                  (rotation over batches)
    x'  = single-step attack on source_t (FGSM, or R+FGSM from the same paper)
    loss = (1 - c) CE(f(x), y) + c CE(f(x'), y),  c = 0.5                 (half clean, half adversarial)

R+FGSM (the paper's): x_r = x + alpha sign(N(0, I)), x' = clip(x_r + (eps - alpha) sign(grad_{x_r} CE)),
alpha = eps / 2. The paper trains ImageNet models with eps = 16/256 and MNIST models with eps 0.3.

Design choices: every attack forward pass (trained or static model) uses ``training=False``; the
clean and adversarial batches share one training-mode pass (``tfrobust.training.pgd_adversarial``).
The static models are not tracked as the wrapper's weights (``wrapper.weights`` stay the trained
model's) and are never updated. The source rotates with the optimiser's step counter.
"""
from __future__ import annotations

from typing import Optional, Sequence

import tensorflow as tf
import tf_keras as keras

from tfrobust.training._wrapper import TrainingWrapper, cross_entropy
from tfrobust.training.inner_attack import input_gradient
from tfrobust.validation import check_choice, check_epsilon

ATTACKS = ("fgsm", "rfgsm")


@keras.saving.register_keras_serializable(package="tfrobust")
class EnsembleAdversarialModel(TrainingWrapper):
    """Wraps a logits model and trains it with ensemble adversarial training (Tramèr et al. 2018).

    Args:
        model: the Keras logits model to train.
        static_models: one or more pre-trained tf_keras logits models with the same input and
            class count; they only generate adversarial examples and are never updated.
        eps: L-inf radius in pixel units.
        attack: "fgsm" or "rfgsm" (R+FGSM, alpha = eps / 2).
        adversarial_weight: c in [0, 1], the weight of the adversarial cross entropy (0.5).
        bounds: (lo, hi) image domain.
        evaluate_adversarial: ``evaluate()`` also reports ``adv_accuracy`` on examples from the
            current source.
        clean_accuracy: when c = 1, spend one inference pass per step to report clean ``accuracy``.
        name: Keras model name.

    Raises:
        TypeError: ``static_models`` are not tf_keras models.
        ValueError: no static model, the trained model among them, or invalid settings.

    Example:
        >>> static = [train_standard(build_a()), train_standard(build_b())]
        >>> ens = EnsembleAdversarialModel(build_cnn(), static, eps=0.3)
        >>> ens.compile(keras.optimizers.Adam(1e-3)); ens.fit(x, y, batch_size=64, epochs=...)
    """

    adversarial = True

    def __init__(self, model, static_models: Sequence[keras.Model], eps: float, *, attack: str = "fgsm",
                 adversarial_weight: float = 0.5, bounds=(0.0, 1.0), evaluate_adversarial: bool = False,
                 clean_accuracy: bool = True, name: Optional[str] = None, **kwargs):
        super().__init__(model, bounds=bounds, evaluate_adversarial=evaluate_adversarial,
                         clean_accuracy=clean_accuracy, name=name, **kwargs)
        if isinstance(static_models, keras.Model):
            static_models = [static_models]
        static_models = list(static_models or [])
        if not static_models:
            raise ValueError("static_models must hold at least one pre-trained model (Tramèr et al. use 1-3).")
        for static in static_models:
            if not isinstance(static, keras.Model):
                raise TypeError(f"static_models must be tf_keras Models, got {type(static).__name__}.")
            if static is model:
                raise ValueError("the trained model cannot also be a static model; pass pre-trained copies.")
        self._set_static_models(static_models)
        self.eps = check_epsilon(eps, self.bounds)
        self.attack = check_choice(attack, ATTACKS, "attack")
        if isinstance(adversarial_weight, bool) or not 0.0 <= float(adversarial_weight) <= 1.0:
            raise ValueError(f"adversarial_weight must be a number in [0, 1], got {adversarial_weight!r}.")
        self.adversarial_weight = float(adversarial_weight)

    @tf.__internal__.tracking.no_automatic_dependency_tracking
    def _set_static_models(self, static_models):
        self.static_models = tuple(static_models)

    def _single_step(self, net, x, y):
        lo, hi = self.bounds
        forward = lambda z: net(z, training=False)  # noqa: E731
        if self.attack == "rfgsm":
            alpha = self.eps / 2.0
            start = tf.clip_by_value(x + alpha * tf.sign(tf.random.normal(tf.shape(x))), lo, hi)
            step = self.eps - alpha
        else:
            start, step = x, self.eps
        grad = input_gradient(forward, start, y, "ce")
        return tf.stop_gradient(tf.clip_by_value(start + step * tf.sign(grad), lo, hi))

    def source_index(self):
        """Index of this step's source: 0 the trained model, i >= 1 the i-th static model."""
        optimizer = getattr(self, "optimizer", None)
        step = tf.constant(0, tf.int64) if optimizer is None else tf.cast(optimizer.iterations, tf.int64)
        return tf.cast(step % (len(self.static_models) + 1), tf.int32)

    def adversarial_examples(self, x, y, source=None):
        """Single-step examples from the rotating source (or from ``source`` if given)."""
        nets = (self.inner,) + self.static_models
        index = self.source_index() if source is None else tf.constant(int(source), tf.int32)
        branches = [lambda net=net: self._single_step(net, x, y) for net in nets]
        return tf.switch_case(index, branches)

    def training_loss(self, x, y, x_adv):
        c = self.adversarial_weight
        if c == 1.0:
            adv_logits = self.logits(x_adv, training=True)
            return cross_entropy(adv_logits, y), None, adv_logits
        both = self.logits(tf.concat([x, x_adv], axis=0), training=True)
        clean_logits, adv_logits = tf.split(both, 2, axis=0)
        return (1.0 - c) * cross_entropy(clean_logits, y) + c * cross_entropy(adv_logits, y), clean_logits, adv_logits

    def get_config(self):
        config = super().get_config()
        config.update(static_models=[keras.saving.serialize_keras_object(m) for m in self.static_models],
                      eps=self.eps, attack=self.attack, adversarial_weight=self.adversarial_weight)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["static_models"] = [keras.saving.deserialize_keras_object(m, custom_objects=custom_objects)
                                   if isinstance(m, dict) else m for m in config["static_models"]]
        config["model"] = keras.saving.deserialize_keras_object(config["model"], custom_objects=custom_objects)
        return cls(**config)
