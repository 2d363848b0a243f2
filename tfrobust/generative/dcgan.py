"""DCGAN generator and discriminator (Radford, Metz & Chintala 2016) for small images in [0, 1].

The architecture guidelines of the paper, scaled to 28 x 28 (or 32 x 32) images:

- generator: z -> dense to a (s/4) x (s/4) x 2w map -> batch norm -> ReLU -> transposed conv (w, 4 x 4,
  stride 2) -> batch norm -> ReLU -> transposed conv (channels, 4 x 4, stride 2) -> sigmoid. Radford et al.
  end in tanh for images in [-1, 1]; tfrobust images live in [0, 1], so the generator ends in a sigmoid
  (the same function up to the affine map (tanh(u/2) + 1) / 2).
- discriminator: conv (w, 4 x 4, stride 2) -> LeakyReLU(0.2) -> conv (2w, 4 x 4, stride 2) -> batch norm ->
  LeakyReLU(0.2) -> flatten -> dense 1 (a logit; no sigmoid: the losses take logits). No pooling, strided
  convolutions only, no batch norm on the discriminator's input layer nor the generator's output layer.
"""
from __future__ import annotations

from typing import Sequence

import tf_keras as keras

from tfrobust.validation import check_positive


def _check_shape(image_shape: Sequence[int]):
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 3 or shape[0] % 4 or shape[1] % 4:
        raise ValueError(f"image_shape must be (height, width, channels) with height and width divisible by 4, "
                         f"got {image_shape!r}.")
    return shape


def dcgan_generator(latent_dim: int = 64, image_shape: Sequence[int] = (28, 28, 1), width: int = 64,
                    name: str = "generator") -> keras.Model:
    """A DCGAN generator z (latent_dim,) -> images ``image_shape`` in [0, 1].

    Args:
        latent_dim: size of z (drawn from N(0, I)).
        image_shape: (height, width, channels), height and width divisible by 4.
        width: channels of the last hidden feature map (the first has 2 * width).
        name: model name.

    Raises:
        ValueError: a bad shape or size.
    """
    h, w, c = _check_shape(image_shape)
    latent_dim = int(check_positive(latent_dim, "latent_dim", integer=True))
    width = int(check_positive(width, "width", integer=True))
    z = keras.Input((latent_dim,), name="z")
    x = keras.layers.Dense((h // 4) * (w // 4) * 2 * width, use_bias=False, name="project")(z)
    x = keras.layers.BatchNormalization(name="bn0")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Reshape((h // 4, w // 4, 2 * width))(x)
    x = keras.layers.Conv2DTranspose(width, 4, strides=2, padding="same", use_bias=False, name="deconv1")(x)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2DTranspose(c, 4, strides=2, padding="same", activation="sigmoid", name="deconv2")(x)
    return keras.Model(z, x, name=name)


def dcgan_discriminator(image_shape: Sequence[int] = (28, 28, 1), width: int = 64,
                        name: str = "discriminator") -> keras.Model:
    """A DCGAN discriminator images -> one logit (real vs generated).

    Args:
        image_shape: (height, width, channels), height and width divisible by 4.
        width: channels of the first convolution (the second has 2 * width).
        name: model name.

    Raises:
        ValueError: a bad shape or width.
    """
    shape = _check_shape(image_shape)
    width = int(check_positive(width, "width", integer=True))
    images = keras.Input(shape, name="images")
    x = keras.layers.Conv2D(width, 4, strides=2, padding="same", name="conv1")(images)
    x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Conv2D(2 * width, 4, strides=2, padding="same", use_bias=False, name="conv2")(x)
    x = keras.layers.BatchNormalization(name="bn2")(x)
    x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(images, keras.layers.Dense(1, name="logit")(x), name=name)
