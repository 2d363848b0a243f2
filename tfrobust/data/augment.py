"""CIFAR-style augmentation: pad, random crop back to size, random horizontal flip.

He et al. 2016 ("Deep Residual Learning for Image Recognition", sec. 4.2): "4 pixels are padded on
each side, and a 32x32 crop is randomly sampled from the padded image or its horizontal flip".
Zagoruyko & Komodakis 2016 (Wide ResNets) pad by reflection instead of zeros; both are offered.

For an image x of size H x W padded by p to x_p, the output is, with offsets (dy, dx) uniform on
{0..2p}^2 and a fair coin f,

    out[i, j] = x_p[dy + i, dx + j]              if not f
    out[i, j] = x_p[dy + i, dx + W - 1 - j]      if f      (crop, then mirror left-right)

The randomness is stateless (``tf.random.stateless_*``): the same seed gives the same batch, so a
seeded pipeline is reproducible. The crop and flip are one vectorised gather for the whole batch.
"""
from __future__ import annotations

import dataclasses

import tensorflow as tf

PAD_MODES = ("reflect", "zero")


def _check_options(padding, pad_mode):
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be an integer >= 0 (pixels added on each side), got {padding!r}.")
    if pad_mode not in PAD_MODES:
        raise ValueError(f"Unknown pad_mode {pad_mode!r}; choose one of {', '.join(PAD_MODES)}.")


def random_crop_flip(images, seed, *, padding: int = 4, pad_mode: str = "reflect", flip: bool = True) -> tf.Tensor:
    """Pads, randomly crops back to the input size and randomly flips left-right, per image.

    Args:
        images: a float image (H, W, C) or a batch (N, H, W, C).
        seed: a stateless seed, shape (2,) integer tensor; the same seed gives the same output.
        padding: pixels added on each side before cropping (0 disables the crop).
        pad_mode: "reflect" (mirror without repeating the edge pixel) or "zero".
        flip: whether to flip each image left-right with probability 1/2.

    Returns:
        Images of the input shape and dtype; values are pixels of the input (or zeros with "zero").

    Raises:
        ValueError: bad ``padding``/``pad_mode``, unknown spatial size, or reflect padding not smaller
            than the image.
    """
    _check_options(padding, pad_mode)
    images = tf.convert_to_tensor(images)
    single = images.shape.rank == 3
    if single:
        images = images[None]
    if images.shape.rank != 4:
        raise ValueError(f"images must be (H, W, C) or (N, H, W, C), got shape {images.shape}.")
    height, width = images.shape[1], images.shape[2]
    if height is None or width is None:
        raise ValueError("random_crop_flip needs a known image height and width (resize first).")
    if pad_mode == "reflect" and padding >= min(height, width):
        raise ValueError(f"reflect padding {padding} must be smaller than the image size {height}x{width}; "
                         f"use pad_mode='zero' or a smaller padding.")
    seed = tf.convert_to_tensor(seed)
    if seed.dtype not in (tf.int32, tf.int64):
        seed = tf.cast(seed, tf.int64)
    offset_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    n = tf.shape(images)[0]

    p = padding
    padded = tf.pad(images, [[0, 0], [p, p], [p, p], [0, 0]], mode="REFLECT" if pad_mode == "reflect" else "CONSTANT")
    offsets = tf.random.stateless_uniform([2, n], offset_seed, minval=0, maxval=2 * p + 1, dtype=tf.int32)
    rows = offsets[0][:, None] + tf.range(height)[None, :]                        # (N, H)
    cols = tf.range(width)[None, :]
    if flip:
        flipped = tf.random.stateless_uniform([n], flip_seed) < 0.5
        cols = tf.where(flipped[:, None], width - 1 - cols, cols)                # (N, W)
    cols = offsets[1][:, None] + cols
    out = tf.gather(padded, rows, axis=1, batch_dims=1)
    out = tf.gather(out, cols, axis=2, batch_dims=1)
    return out[0] if single else out


@dataclasses.dataclass(frozen=True)
class CropFlip:
    """Options of the CIFAR-style augmentation used by ``tfrobust.data.load(..., augment=...)``.

    ``augment=True`` means ``CropFlip()``: padding 4, reflect, flip. For digits, whose mirror images are
    other symbols, pass ``CropFlip(flip=False)``.

    Attributes:
        padding: pixels added on each side before the random crop.
        pad_mode: "reflect" or "zero".
        flip: random left-right flip with probability 1/2.
    """

    padding: int = 4
    pad_mode: str = "reflect"
    flip: bool = True

    def __post_init__(self):
        _check_options(self.padding, self.pad_mode)

    def __call__(self, images, seed) -> tf.Tensor:
        """Applies ``random_crop_flip`` with these options."""
        return random_crop_flip(images, seed, padding=self.padding, pad_mode=self.pad_mode, flip=self.flip)
