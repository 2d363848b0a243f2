"""V-free generator training: G trained through the functional target network (seed 000's future work).

Ballarin (2020) lists "differentiable accuracy/robustness measures and ablation of V" among the next
steps. Because ``TargetNetwork`` evaluates θ = G(s) functionally, the gradient of a differentiable
surrogate flows from the target network's loss straight into G:

    L(G) = E_s [ α·CE(f(G(s), x), y) + β·CE(f(G(s), x_adv), y) ],

with cross entropy CE as the surrogate of (1 - accuracy) and the adversarial cross entropy as the
surrogate of (1 - robustness). x_adv is found by PGD against the current samples with the weights
held constant (stop-gradient with respect to θ), as in adversarial training (Madry et al. 2017): the
outer minimisation does not differentiate through the inner maximisation (Danskin's theorem).
"""
from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from tfrobust.hypernet.generator import Generator
from tfrobust.hypernet.generator_model import GeneratorTrainingModel
from tfrobust.hypernet.robustness import RobustnessMeter, rates


class DirectGeneratorModel(GeneratorTrainingModel):
    """Trains G by clean + PGD-adversarial cross entropy of its samples, without a value network.

    Args:
        generator: the ``Generator`` G (usually pretrained with ``pretrain_generator``).
        meter: ``RobustnessMeter`` whose PGD makes the training adversarial examples; the accuracy and
            robustness it measures on each training batch are reported as metrics.
        alpha, beta: weights of clean and adversarial cross entropy, α + β = 1 (default 0.5 each).
        samples_per_step: generated networks per step (the loss is averaged over them).
        latent_bound: s ~ U([-latent_bound, latent_bound]²).
        target_dropout: run the target network's dropout in the loss, as when training it normally.
        **kwargs: standard Keras model arguments.

    Training data: batches ``(x, y)``; every sampled network sees the whole batch.

    Metrics: ``loss``, ``clean_loss``, ``adversarial_loss`` (cross entropies), and ``accuracy``,
    ``robustness``, ``objective`` measured on the batch with the training attack (before the update).

    Example:
        >>> model = DirectGeneratorModel(generator, RobustnessMeter(target, PGDSettings().with_steps(10)))
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-4))
        >>> model.fit(train_batches, epochs=5, callbacks=[keras.callbacks.TensorBoard(logdir)])
    """

    def __init__(self, generator: Generator, meter: RobustnessMeter, *, alpha: float = 0.5, beta: float = 0.5,
                 samples_per_step: int = 4, latent_bound: float = 10.0, target_dropout: bool = True, **kwargs):
        super().__init__(generator, meter, alpha=alpha, beta=beta, samples_per_step=samples_per_step,
                         latent_bound=latent_bound, **kwargs)
        self.target_dropout = bool(target_dropout)
        self._track(["loss", "clean_loss", "adversarial_loss", "accuracy", "robustness", "objective"])

    def _cross_entropy(self, logits, y):
        labels = tf.broadcast_to(tf.cast(y, tf.int32)[tf.newaxis], tf.shape(logits)[:2])
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))

    def train_step(self, data):
        x, y = data[0], data[1]
        target = self.meter.target
        s = self.sample_latent()
        thetas_now = tf.stop_gradient(self.generator(s, training=True))
        x_adv, num_correct, num_fooled = self.meter.attack_and_count(thetas_now, x, y)  # weights held constant
        x_adv = tf.stop_gradient(x_adv)
        accuracy, robustness, _ = rates(num_correct, num_fooled, tf.shape(x)[0])
        with tf.GradientTape() as tape:
            thetas = self.generator(s, training=True)
            clean_loss = self._cross_entropy(target.forward_batch(thetas, x, training=self.target_dropout), y)
            adversarial_loss = self._cross_entropy(
                target.forward_batch(thetas, x_adv, training=self.target_dropout), y)
            loss = self.alpha * clean_loss + self.beta * adversarial_loss
        grads = tape.gradient(loss, self.generator.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))
        return self._update({
            "loss": loss, "clean_loss": clean_loss, "adversarial_loss": adversarial_loss,
            "accuracy": accuracy, "robustness": robustness,
            "objective": self.alpha * accuracy + self.beta * robustness,
        })
