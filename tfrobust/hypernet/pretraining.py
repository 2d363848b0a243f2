"""Pretraining of the weight generator on a pretrained network's weights (seed 000).

Ballarin (2020), slide "Where's the catch?": the generator/value loop converges slowly from a random
generator, so G is first fitted to a pretrained weight vector θ*: minimise
E_s ‖G(s) - θ*‖² / |θ| over latent points s ~ U([-b, b]²). Afterwards every sample G(s) is (close to)
the pretrained network, and the robustness loop starts from an accurate, non-robust network.
"""
from __future__ import annotations

from typing import List

import tensorflow as tf
import tf_keras as keras

from tfrobust.hypernet.generator import Generator, sample_latent
from tfrobust.validation import check_positive


def pretrain_generator(generator: Generator, theta_target, *, steps: int = 500, batch_size: int = 16,
                       learning_rate: float = 1e-3, latent_bound: float = 10.0, log_every: int = 50,
                       summary_writer=None) -> List[float]:
    """Fits G(s) ≈ θ* by mean squared error over random latent points.

    Args:
        generator: the generator to train (its output scale is trained too).
        theta_target: θ*, shape (generator.output_size,), e.g. ``flatten_from(pretrained_lenet5)``.
        steps: Adam steps.
        batch_size: latent points per step.
        learning_rate: Adam learning rate.
        latent_bound: s ~ U([-latent_bound, latent_bound]^latent_dim).
        log_every: record (and write to ``summary_writer``) the loss every this many steps.
        summary_writer: optional ``tf.summary`` writer; the loss is written as ``pretraining/mse``.

    Returns:
        The recorded losses (one every ``log_every`` steps, the last step included).

    Raises:
        ValueError: θ* of the wrong size or non-finite; non-positive steps or sizes.
    """
    steps = int(check_positive(steps, "steps", integer=True))
    batch_size = int(check_positive(batch_size, "batch_size", integer=True))
    log_every = int(check_positive(log_every, "log_every", integer=True))
    theta_target = tf.convert_to_tensor(theta_target, tf.float32)
    if theta_target.shape != (generator.output_size,):
        raise ValueError(
            f"theta_target must have shape ({generator.output_size},) to match the generator, got {theta_target.shape}."
        )
    if not bool(tf.reduce_all(tf.math.is_finite(theta_target))):
        raise ValueError("theta_target contains NaN or infinite values.")
    optimizer = keras.optimizers.Adam(learning_rate)

    @tf.function
    def train_step():
        s = sample_latent(batch_size, generator.latent_dim, latent_bound)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(generator(s, training=True) - theta_target[tf.newaxis]))
        grads = tape.gradient(loss, generator.trainable_variables)
        optimizer.apply_gradients(zip(grads, generator.trainable_variables))
        return loss

    losses = []
    for step in range(1, steps + 1):
        loss = train_step()
        if step % log_every == 0 or step == steps:
            losses.append(float(loss))
            if summary_writer is not None:
                with summary_writer.as_default():
                    tf.summary.scalar("pretraining/mse", loss, step=step)
    return losses
