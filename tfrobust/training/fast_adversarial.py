"""Fast adversarial training: FGSM with a random start (Wong, Rice & Kolter 2020).

"Fast is better than free: revisiting adversarial training" (ICLR 2020). Each step:

    delta ~ U(-eps, eps)^d,  delta <- clip(x + delta, lo, hi) - x          (random start in the domain)
    delta <- clip(delta + alpha * sign(grad_delta CE(f(x + delta), y)), -eps, eps)
    x_adv = clip(x + delta, lo, hi)
    one optimiser step on CE(f(x_adv), y)                                   (training mode)

with alpha = 1.25 eps by default. Without the random start (``random_start=False``) this is the
FGSM adversarial training of Goodfellow et al. (2015), which is prone to catastrophic overfitting;
use ``tfrobust.training.CatastrophicOverfittingGuard`` in either case.

Design choice (documented deviation from the reference PyTorch code, which runs the attack in
train mode): the attack's forward pass uses ``training=False``. BatchNorm therefore normalises the
attack's batch with its moving statistics and does not update them (the moving statistics only see
the adversarial batch of the weight update), dropout is off during the attack, and tfmot's pruning
step counter, which ``PruneLowMagnitude`` increments on every ``training=True`` call, advances once
per step as its schedule assumes.
"""
from __future__ import annotations

from typing import Optional

import tf_keras as keras

from tfrobust.training._wrapper import TrainingWrapper, cross_entropy
from tfrobust.training.inner_attack import pgd_examples
from tfrobust.validation import check_epsilon, check_positive


@keras.saving.register_keras_serializable(package="tfrobust")
class FastAdversarialModel(TrainingWrapper):
    """Wraps a logits model and trains it with FGSM-RS adversarial training (Wong et al. 2020).

    Args:
        model: Keras model (functional, sequential or subclassed) from images in ``bounds`` to logits.
        eps: L-inf radius in pixel units (e.g. 8/255 CIFAR-10, 0.1-0.3 MNIST).
        alpha: FGSM step; ``None`` means 1.25 * eps (Wong et al.).
        random_start: uniform random start in the eps-ball (True: FGSM-RS; False: plain FGSM AT).
        bounds: (lo, hi) image domain.
        evaluate_adversarial: ``evaluate()`` also reports ``adv_accuracy`` under the same FGSM-RS.
        clean_accuracy: spend one inference pass per step to report clean ``accuracy`` in training.
        name: Keras model name.

    Training logs: ``loss`` (CE on the adversarial batch), ``accuracy`` (clean, inference mode) and
    ``adv_accuracy`` (on the adversarial batch, training mode).

    Raises:
        TypeError, ValueError: invalid model, eps, alpha or bounds.

    Example:
        >>> fast = FastAdversarialModel(build_cnn(), eps=8 / 255)
        >>> fast.compile(keras.optimizers.SGD(one_cycle(total_steps, 0.2), momentum=0.9))
        >>> fast.fit(x, y, batch_size=128, epochs=15,
        ...          callbacks=[CatastrophicOverfittingGuard(x[:128], y[:128], eps=8 / 255)])
        >>> fast.inner.save("robust.keras")
    """

    adversarial = True

    def __init__(self, model, eps: float, alpha: Optional[float] = None, *, random_start: bool = True,
                 bounds=(0.0, 1.0), evaluate_adversarial: bool = False, clean_accuracy: bool = True,
                 name: Optional[str] = None, **kwargs):
        super().__init__(model, bounds=bounds, evaluate_adversarial=evaluate_adversarial,
                         clean_accuracy=clean_accuracy, name=name, **kwargs)
        self.eps = check_epsilon(eps, self.bounds)
        self.alpha = 1.25 * self.eps if alpha is None else check_positive(alpha, "alpha")
        self.random_start = bool(random_start)

    def adversarial_examples(self, x, y):
        """FGSM-RS examples, attack forward pass in inference mode (see module docstring)."""
        return pgd_examples(lambda z: self.inner(z, training=False), x, y, eps=self.eps, step_size=self.alpha,
                            steps=1, norm="linf", loss="ce", random_start=self.random_start, bounds=self.bounds)

    def training_loss(self, x, y, x_adv):
        adv_logits = self.logits(x_adv, training=True)
        return cross_entropy(adv_logits, y), None, adv_logits

    def get_config(self):
        config = super().get_config()
        config.update(eps=self.eps, alpha=self.alpha, random_start=self.random_start)
        return config
