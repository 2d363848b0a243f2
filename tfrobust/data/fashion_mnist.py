"""Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, arXiv:1708.07747) from local IDX files, no download.

Debian and Ubuntu package the dataset: ``apt-get install dataset-fashion-mnist`` puts the four original
gzipped IDX files in ``/usr/share/datasets/fashion-mnist``::

    train-images-idx3-ubyte.gz  (60,000 x 28 x 28 uint8)   train-labels-idx1-ubyte.gz  (60,000 uint8)
    t10k-images-idx3-ubyte.gz   (10,000 x 28 x 28 uint8)   t10k-labels-idx1-ubyte.gz   (10,000 uint8)

The directory is, in order: the ``directory`` argument, the ``TFROBUST_FASHION_MNIST_DIR`` environment
variable, then the Debian location. Uncompressed files (same names without ".gz") are accepted too.
``tfrobust.data.load("fashion_mnist")`` falls back to tensorflow-datasets when the files are absent.
"""
from __future__ import annotations

import functools
import os
from typing import Optional, Tuple

import numpy as np

from tfrobust.data.idx import read_idx

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
ENV_VAR = "TFROBUST_FASHION_MNIST_DIR"
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
# tfrobust split name -> file prefix used by the original release
FILE_PREFIX = {"train": "train", "test": "t10k"}
SPLIT_SIZES = {"train": 60_000, "test": 10_000}


def fashion_mnist_dir(directory: Optional[str] = None) -> str:
    """Returns the directory searched for the IDX files (argument, then environment variable, then Debian's)."""
    if directory:
        return os.fspath(directory)
    return os.environ.get(ENV_VAR) or DEBIAN_DIR


def _find(directory: str, stem: str) -> Optional[str]:
    for name in (stem + ".gz", stem):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def idx_paths(split: str, directory: Optional[str] = None) -> Optional[Tuple[str, str]]:
    """Returns (images path, labels path) for ``split``, or None when either file is missing."""
    if split not in FILE_PREFIX:
        raise ValueError(f"Fashion-MNIST has splits {sorted(FILE_PREFIX)}, got {split!r}.")
    directory = fashion_mnist_dir(directory)
    prefix = FILE_PREFIX[split]
    images = _find(directory, f"{prefix}-images-idx3-ubyte")
    labels = _find(directory, f"{prefix}-labels-idx1-ubyte")
    if images is None or labels is None:
        return None
    return images, labels


def local_files_available(directory: Optional[str] = None) -> bool:
    """True when the IDX files of both splits are in the directory (see ``fashion_mnist_dir``)."""
    return all(idx_paths(split, directory) is not None for split in FILE_PREFIX)


@functools.lru_cache(maxsize=4)
def _read_split(images_path: str, labels_path: str, mtimes: Tuple[float, float]):
    del mtimes  # part of the cache key only: a rewritten file is read again
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"{images_path}: expected uint8 images of shape (N, H, W), got {images.dtype} "
                         f"{images.shape}.")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(f"{labels_path}: expected {images.shape[0]} labels (one per image), got shape "
                         f"{labels.shape}.")
    if labels.size and labels.max() >= len(CLASS_NAMES):
        raise ValueError(f"{labels_path}: labels must lie in [0, {len(CLASS_NAMES) - 1}], got max {labels.max()}.")
    images = images[..., None]
    images.setflags(write=False)
    labels = labels.astype(np.int64)
    labels.setflags(write=False)
    return images, labels


def load_fashion_mnist_uint8(split: str = "train", directory: Optional[str] = None):
    """Reads one split from the local IDX files.

    Args:
        split: "train" (60,000) or "test" (10,000).
        directory: where the files are (see ``fashion_mnist_dir``).

    Returns:
        (images uint8 of shape (N, 28, 28, 1), labels int64 of shape (N,)), read-only arrays shared
        between calls.

    Raises:
        FileNotFoundError: the files are not there; the message says how to install them.
        ValueError: unknown split, or corrupt files.
    """
    paths = idx_paths(split, directory)
    if paths is None:
        where = fashion_mnist_dir(directory)
        prefix = FILE_PREFIX[split]
        raise FileNotFoundError(
            f"Fashion-MNIST IDX files {prefix}-images-idx3-ubyte[.gz] and {prefix}-labels-idx1-ubyte[.gz] "
            f"were not found in {where}. Install them with `apt-get install dataset-fashion-mnist` "
            f"(Debian/Ubuntu), or point {ENV_VAR} (or data_dir=) to a directory that holds them."
        )
    mtimes = tuple(os.path.getmtime(p) for p in paths)
    return _read_split(paths[0], paths[1], mtimes)


def load_fashion_mnist(split: str = "train", directory: Optional[str] = None):
    """Returns (images float32 NHWC in [0, 1], labels int64) of one split read from the local IDX files.

    Args:
        split: "train" (60,000) or "test" (10,000).
        directory: where the files are (see ``fashion_mnist_dir``).

    Raises:
        FileNotFoundError: the files are not there; the message says how to install them.
        ValueError: unknown split, or corrupt files.
    """
    images, labels = load_fashion_mnist_uint8(split, directory)
    return images.astype(np.float32) / np.float32(255.0), labels.copy()
