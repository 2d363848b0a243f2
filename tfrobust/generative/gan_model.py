"""``GANModel``: the adversarial game of Goodfellow et al. (2014) as a Keras model with a custom ``train_step``.

Each step draws z ~ N(0, I) and takes one discriminator step on ``discriminator_loss(loss, d(x), d(G(z)))`` and
one generator step on ``generator_loss(loss, d(G(z)))`` with fresh z (``tfrobust.generative.gan_losses``:
minimax, non-saturating or hinge), each with its own optimiser, both on ``tf.GradientTape``.

Logged every step (the lecture's point about the minimax loss): ``g_grad_norm``, the global norm of the
generator's parameter gradient, and ``g_logit_grad``, the mean of |∂ loss_G / ∂ d(G(z))| times the batch size,
which is D(G(z)) for minimax (→ 0 when the discriminator rejects the samples: vanishing gradient) and
1 - D(G(z)) for the non-saturating loss. ``d_real`` and ``d_fake`` are the mean D(x) and D(G(z)).
"""
from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from tfrobust.generative.gan_losses import GAN_LOSSES, discriminator_loss, generator_loss
from tfrobust.validation import check_choice


class GANModel(keras.Model):
    """Generator and discriminator trained by alternating gradient steps.

    Args:
        generator: z (latent_dim,) -> images.
        discriminator: images -> one logit.
        latent_dim: size of z.
        loss: "minimax", "non_saturating" or "hinge".

    ``compile(generator_optimizer=..., discriminator_optimizer=...)``; ``fit`` on batches of real images (or
    ``(images, labels)``; labels are ignored). ``model(z)`` returns ``generator(z)``.

    Raises:
        ValueError: an unknown loss.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, latent_dim: int,
                 loss: str = "non_saturating", **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(latent_dim)
        self.gan_loss = check_choice(loss, GAN_LOSSES, "loss")
        self._trackers = {name: keras.metrics.Mean(name=name) for name in
                          ("d_loss", "g_loss", "d_real", "d_fake", "g_grad_norm", "g_logit_grad")}

    def compile(self, generator_optimizer, discriminator_optimizer, **kwargs):
        super().compile(**kwargs)
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer

    @property
    def metrics(self):
        return list(self._trackers.values())

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def sample(self, n: int, seed=None) -> tf.Tensor:
        """``n`` generated images from fresh z."""
        z = tf.random.normal([n, self.latent_dim], seed=seed)
        return self.generator(z, training=False)

    def train_step(self, data):
        real = data[0] if isinstance(data, tuple) else data
        n = tf.shape(real)[0]
        with tf.GradientTape() as tape:
            fake = self.generator(tf.random.normal([n, self.latent_dim]), training=True)
            real_logits = self.discriminator(real, training=True)
            fake_logits = self.discriminator(fake, training=True)
            d_loss = discriminator_loss(self.gan_loss, real_logits, fake_logits)
        d_vars = self.discriminator.trainable_variables
        self.discriminator_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars))

        with tf.GradientTape(persistent=True) as tape:
            fake = self.generator(tf.random.normal([n, self.latent_dim]), training=True)
            fake_logits = self.discriminator(fake, training=True)
            g_loss = generator_loss(self.gan_loss, fake_logits)
        g_vars = self.generator.trainable_variables
        g_grads = tape.gradient(g_loss, g_vars)
        logit_grad = tape.gradient(g_loss, fake_logits)
        del tape
        self.generator_optimizer.apply_gradients(zip(g_grads, g_vars))

        values = {"d_loss": d_loss, "g_loss": g_loss, "d_real": tf.reduce_mean(tf.sigmoid(real_logits)),
                  "d_fake": tf.reduce_mean(tf.sigmoid(fake_logits)), "g_grad_norm": tf.linalg.global_norm(g_grads),
                  "g_logit_grad": tf.reduce_mean(tf.abs(logit_grad)) * tf.cast(n, tf.float32)}
        for name, value in values.items():
            self._trackers[name].update_state(value)
        return {name: m.result() for name, m in self._trackers.items()}
