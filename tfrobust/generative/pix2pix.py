"""An adversarial loss where no good hand-made loss exists: pix2pix (Isola et al. 2017) for image inpainting.

Image-to-image translation learns G: condition c -> image. An L1 loss alone, E||y − G(c)||_1, is minimised by
the per-pixel *median* of the plausible outputs, so uncertain regions come out blurred. pix2pix adds a
conditional discriminator D(c, y) that judges (condition, image) pairs patch by patch (PatchGAN: a map of
logits, each seeing one receptive field) and trains

    G* = arg min_G max_D  L_cGAN(G, D) + λ L_L1(G),     λ = 100 (Isola et al. 2017, Eq. 4),

with L_cGAN = E[log D(c, y)] + E[log(1 − D(c, G(c)))] and the non-saturating generator loss.

The task here: inpainting digits with a square hole (``occlude``); the generator sees the occluded digit and
the hole mask (``inpainting_condition``) and paints the hole only. ``ImageToImageModel`` trains with
``discriminator=None`` (L1 alone) or with a ``patch_discriminator`` (L1 + adversarial). ``sharpness`` is the
mean gradient energy (1/N) Σ (∂_x I)² + (∂_y I)² with forward differences, inside the hole: blur lowers it.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfrobust.validation import check_positive


def occlude(images, size: int = 12, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Sets a random ``size`` x ``size`` square of each image to 0 (the hole to inpaint).

    Returns:
        (occluded images, mask) with mask 1 inside the hole, both shaped like ``images``.

    Raises:
        ValueError: a hole larger than the image.
    """
    images = np.asarray(images, np.float32)
    n, h, w, _ = images.shape
    size = int(check_positive(size, "size", integer=True))
    if size > min(h, w):
        raise ValueError(f"size={size} is larger than the {h}x{w} images.")
    rng = np.random.default_rng(seed)
    mask = np.zeros_like(images)
    tops, lefts = rng.integers(0, h - size + 1, n), rng.integers(0, w - size + 1, n)
    for i in range(n):
        mask[i, tops[i]:tops[i] + size, lefts[i]:lefts[i] + size] = 1.0
    return images * (1.0 - mask), mask


def sharpness(images, mask=None) -> float:
    """Mean gradient energy (1/N) Σ (I[i, j+1] − I[i, j])² + (I[i+1, j] − I[i, j])² over the images.

    Args:
        images: (N, H, W, C).
        mask: None (all pixels) or an array shaped like ``images``, 1 where the energy counts (e.g. the hole of
            ``occlude``): the mean is taken over the pixels (i, j) with mask 1, whose forward differences reach
            (i, j+1) and (i+1, j). Outside the hole an inpainting output is the input, so only the hole's
            energy tells a blurred fill from a sharp one.

    Raises:
        ValueError: a mask of another shape, or one with no pixel set.
    """
    images = np.asarray(images, np.float64)
    dx = np.diff(images, axis=2)[:, :-1]
    dy = np.diff(images, axis=1)[:, :, :-1]
    energy = dx ** 2 + dy ** 2
    if mask is None:
        return float(np.mean(energy))
    mask = np.asarray(mask, np.float64)
    if mask.shape != images.shape:
        raise ValueError(f"mask must be shaped like the images {images.shape}, got {mask.shape}.")
    weights = mask[:, :-1, :-1]
    if not np.any(weights):
        raise ValueError("mask selects no pixel (all zeros); pass mask=None for the whole image.")
    return float(np.sum(energy * weights) / np.sum(weights))


def inpainting_condition(occluded, mask) -> np.ndarray:
    """The generator's condition: the occluded images with the hole mask as one more channel, (N, H, W, C + 1).

    A hole of zeros on a black digit background looks like background; without the mask the generator cannot
    tell where to paint (it learns to copy its input).
    """
    occluded, mask = np.asarray(occluded, np.float32), np.asarray(mask, np.float32)
    if occluded.shape != mask.shape:
        raise ValueError(f"occluded images {occluded.shape} and mask {mask.shape} must have the same shape.")
    return np.concatenate([occluded, mask[..., :1]], axis=-1)


def inpainting_generator(image_shape: Sequence[int] = (28, 28, 1), width: int = 32,
                         name: str = "inpainting_generator") -> keras.Model:
    """A small U-Net (Ronneberger et al. 2015, as pix2pix's generator) that fills the hole of its condition.

    Input: ``inpainting_condition`` (occluded image + mask channel, (H, W, C + 1)); two stride-2 convs down, two
    up, skips. Output: the input's known pixels with the network's fill in the hole,
    ``occluded · (1 − m) + fill · m``, so every loss and every discriminator judges the hole only.
    """
    h, w, c = (int(s) for s in image_shape)
    if h % 4 or w % 4:
        raise ValueError(f"image height and width must be divisible by 4, got {image_shape!r}.")
    x = keras.Input((h, w, c + 1), name="condition")
    d1 = keras.layers.LeakyReLU(0.2)(keras.layers.Conv2D(width, 4, strides=2, padding="same", name="down1")(x))
    d2 = keras.layers.Conv2D(2 * width, 4, strides=2, padding="same", use_bias=False, name="down2")(d1)
    d2 = keras.layers.LeakyReLU(0.2)(keras.layers.BatchNormalization(name="bn_down2")(d2))
    u1 = keras.layers.Conv2DTranspose(width, 4, strides=2, padding="same", use_bias=False, name="up1")(d2)
    u1 = keras.layers.ReLU()(keras.layers.BatchNormalization(name="bn_up1")(u1))
    u1 = keras.layers.Concatenate()([u1, d1])
    u2 = keras.layers.Conv2DTranspose(width, 4, strides=2, padding="same", activation="relu", name="up2")(u1)
    u2 = keras.layers.Concatenate()([u2, x])
    fill = keras.layers.Conv2D(c, 3, padding="same", activation="sigmoid", name="fill")(u2)
    known, hole = x[..., :c], x[..., c:]
    change = keras.layers.Multiply(name="hole_only")([keras.layers.Subtract()([fill, known]), hole])
    return keras.Model(x, keras.layers.Add(name="composite")([known, change]), name=name)


def patch_discriminator(image_shape: Sequence[int] = (28, 28, 1), width: int = 32, condition_channels=None,
                        name: str = "patch_discriminator") -> keras.Model:
    """pix2pix's conditional PatchGAN D(c, y): [condition, image] -> a (H/4, W/4, 1) map of logits.

    Each logit sees a 22 x 22 receptive field (4x4 s2, 4x4 s2, 4x4 s1). ``condition_channels``: channels of c
    (default: the image's; C + 1 for ``inpainting_condition``).
    """
    shape = tuple(int(s) for s in image_shape)
    cond_shape = shape[:2] + (int(condition_channels or shape[2]),)
    condition, image = keras.Input(cond_shape, name="condition"), keras.Input(shape, name="image")
    x = keras.layers.Concatenate()([condition, image])
    x = keras.layers.LeakyReLU(0.2)(keras.layers.Conv2D(width, 4, strides=2, padding="same", name="conv1")(x))
    x = keras.layers.Conv2D(2 * width, 4, strides=2, padding="same", use_bias=False, name="conv2")(x)
    x = keras.layers.LeakyReLU(0.2)(keras.layers.BatchNormalization(name="bn2")(x))
    logits = keras.layers.Conv2D(1, 4, padding="same", name="patch_logits")(x)
    return keras.Model([condition, image], logits, name=name)


class ImageToImageModel(keras.Model):
    """G trained with λ·L1 alone (``discriminator=None``) or with λ·L1 + the conditional adversarial loss.

    Args:
        generator: condition -> image.
        discriminator: ``patch_discriminator`` or None.
        l1_weight: λ (100 in pix2pix).

    ``compile(generator_optimizer=..., discriminator_optimizer=...)``; ``fit`` on ``(condition, target)`` batches.
    Metrics: ``l1``, and with a discriminator ``g_adv`` (non-saturating generator loss) and ``d_loss``.
    """

    def __init__(self, generator: keras.Model, discriminator: Optional[keras.Model] = None,
                 l1_weight: float = 100.0, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.l1_weight = float(check_positive(l1_weight, "l1_weight"))
        names = ("l1", "g_adv", "d_loss") if discriminator is not None else ("l1",)
        self._trackers = {n: keras.metrics.Mean(name=n) for n in names}

    def compile(self, generator_optimizer, discriminator_optimizer=None, **kwargs):
        super().compile(**kwargs)
        if self.discriminator is not None and discriminator_optimizer is None:
            raise ValueError("With a discriminator, compile needs a discriminator_optimizer too.")
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer

    @property
    def metrics(self):
        return list(self._trackers.values())

    def call(self, condition, training=False):
        return self.generator(condition, training=training)

    def train_step(self, data):
        condition, target = data
        values = {}
        with tf.GradientTape(persistent=True) as tape:
            output = self.generator(condition, training=True)
            l1 = tf.reduce_mean(tf.abs(target - output))
            g_loss = self.l1_weight * l1
            if self.discriminator is not None:
                real_logits = self.discriminator([condition, target], training=True)
                fake_logits = self.discriminator([condition, output], training=True)
                g_adv = tf.reduce_mean(tf.nn.softplus(-fake_logits))
                d_loss = tf.reduce_mean(tf.nn.softplus(-real_logits)) + tf.reduce_mean(tf.nn.softplus(fake_logits))
                g_loss += g_adv
                values.update(g_adv=g_adv, d_loss=d_loss)
        g_vars = self.generator.trainable_variables
        self.generator_optimizer.apply_gradients(zip(tape.gradient(g_loss, g_vars), g_vars))
        if self.discriminator is not None:
            d_vars = self.discriminator.trainable_variables
            self.discriminator_optimizer.apply_gradients(zip(tape.gradient(values["d_loss"], d_vars), d_vars))
        del tape
        values["l1"] = l1
        for name, value in values.items():
            self._trackers[name].update_state(value)
        return {name: m.result() for name, m in self._trackers.items()}
