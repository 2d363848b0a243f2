"""N-FGSM: noise-augmented single-step adversarial training (de Jorge, Bibi, Volpi, Sanyal, Torr, Rogez & Dokania 2022).

"Make Some Noise: Reliable and Efficient Single-Step Adversarial Training" (NeurIPS 2022). FGSM-RS
(Wong et al. 2020) overfits catastrophically at larger eps; N-FGSM avoids it at the same cost by
a stronger noise and by NOT projecting the perturbation back to the eps-ball:

    delta_0 ~ U[-k eps, k eps]^d                          (k = 2: noise magnitude 2 eps)
    delta_0 <- clip(x + delta_0, lo, hi) - x                (stay in the image domain)
    x'      = clip_[lo, hi]( x + delta_0 + alpha * sign(grad_x CE(f(x + delta_0), y)) ),  alpha = eps
    one optimiser step on CE(f(x'), y)

so ||x' - x||_inf <= (k + 1) eps = 3 eps (the reference code's default ``clip = 0``: no clipping).
The attack's forward pass uses ``training=False`` (see ``fast_adversarial``).
"""
from __future__ import annotations

from typing import Optional

import tensorflow as tf
import tf_keras as keras

from tfrobust.training._wrapper import TrainingWrapper, cross_entropy
from tfrobust.training.inner_attack import input_gradient
from tfrobust.validation import check_epsilon, check_positive


@keras.saving.register_keras_serializable(package="tfrobust")
class NFGSMModel(TrainingWrapper):
    """Wraps a logits model and trains it with N-FGSM (de Jorge et al. 2022).

    Args:
        model: Keras model from images in ``bounds`` to logits.
        eps: the threat model's L-inf radius in pixel units (the training perturbation reaches 3 eps).
        alpha: FGSM step; ``None`` means eps (the paper's).
        noise: noise half-width k in units of eps (2, the paper's).
        bounds: (lo, hi) image domain.
        evaluate_adversarial: ``evaluate()`` also reports ``adv_accuracy`` on N-FGSM examples.
        clean_accuracy: spend one inference pass per step to report clean ``accuracy`` in training.
        name: Keras model name.

    Raises:
        TypeError, ValueError: invalid model or settings.

    Example:
        >>> nfgsm = NFGSMModel(build_cnn(), eps=8 / 255)
        >>> nfgsm.compile(keras.optimizers.SGD(one_cycle(total_steps, 0.2), momentum=0.9))
    """

    adversarial = True

    def __init__(self, model, eps: float, alpha: Optional[float] = None, *, noise: float = 2.0, bounds=(0.0, 1.0),
                 evaluate_adversarial: bool = False, clean_accuracy: bool = True, name: Optional[str] = None,
                 **kwargs):
        super().__init__(model, bounds=bounds, evaluate_adversarial=evaluate_adversarial,
                         clean_accuracy=clean_accuracy, name=name, **kwargs)
        self.eps = check_epsilon(eps, self.bounds)
        self.alpha = self.eps if alpha is None else check_positive(alpha, "alpha")
        if isinstance(noise, bool) or not isinstance(noise, (int, float)) or float(noise) < 0:
            raise ValueError(f"noise must be a number >= 0 (half-width in units of eps; the paper uses 2), "
                             f"got {noise!r}.")
        self.noise = float(noise)

    def adversarial_examples(self, x, y):
        """N-FGSM examples x + delta_0 + alpha sign(grad), clipped to the image domain only."""
        lo, hi = self.bounds
        width = self.noise * self.eps
        x_noisy = tf.clip_by_value(x + tf.random.uniform(tf.shape(x), -width, width), lo, hi)
        grad = input_gradient(lambda z: self.inner(z, training=False), x_noisy, y, "ce")
        return tf.stop_gradient(tf.clip_by_value(x_noisy + self.alpha * tf.sign(grad), lo, hi))

    def training_loss(self, x, y, x_adv):
        adv_logits = self.logits(x_adv, training=True)
        return cross_entropy(adv_logits, y), None, adv_logits

    def get_config(self):
        config = super().get_config()
        config.update(eps=self.eps, alpha=self.alpha, noise=self.noise)
        return config
