"""Input checks shared by attacks, evaluation and training.

Every public entry point validates eagerly (before any ``tf.function``) so that bad input fails
with a message that says what was wrong and what to do, instead of a silently wrong number.
"""
from __future__ import annotations

import math
from numbers import Real
from typing import Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfrobust.scalars import check_positive  # noqa: F401  (re-exported: the checks of plain numbers live there)

NORMS = ("linf", "l2")
LOSSES = ("ce", "margin", "dlr")


def _to_numpy(value) -> np.ndarray:
    if isinstance(value, (tf.Tensor, tf.Variable)):
        return value.numpy()
    return np.asarray(value)


def check_bounds(bounds: Sequence[float]) -> Tuple[float, float]:
    """Checks that ``bounds`` is a finite pair (low, high) with low < high."""
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be a pair (low, high) of numbers, got {bounds!r}.") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise ValueError(f"bounds must be finite with low < high, got ({lo}, {hi}).")
    return lo, hi


def check_images(x, bounds: Sequence[float] = (0.0, 1.0)) -> tf.Tensor:
    """Returns ``x`` as a float32 tensor after checking dtype, finiteness and range.

    Raises:
        TypeError: integer (e.g. uint8) or non-numeric images.
        ValueError: NaN/inf values, values outside ``bounds``, rank < 2 or an empty batch.
    """
    lo, hi = check_bounds(bounds)
    arr = x.dtype if isinstance(x, (tf.Tensor, tf.Variable)) else np.asarray(x).dtype
    dtype = tf.as_dtype(arr) if not isinstance(arr, tf.DType) else arr
    if dtype.is_integer or dtype == tf.bool:
        raise TypeError(
            f"Images have integer dtype {dtype.name}; tfrobust expects floating images in "
            f"[{lo}, {hi}] (epsilon is in pixel units). Convert first, e.g. x = x.astype('float32') / 255."
        )
    if not dtype.is_floating:
        raise TypeError(f"Images must be a floating tensor, got dtype {dtype.name}.")
    x = tf.convert_to_tensor(x, dtype=tf.float32) if dtype != tf.float32 else tf.convert_to_tensor(x)
    if x.shape.rank is None or x.shape.rank < 2:
        raise ValueError(
            f"Images must be a batch with rank >= 2 (batch first), got shape {x.shape}. For a single image, "
            f"add a batch dimension: x[None] (np.expand_dims(x, 0)).")
    if x.shape[0] == 0:
        raise ValueError("Images are an empty batch (0 examples).")
    check_finite(x, "Images")
    xmin, xmax = _chunked_min_max(x)
    tol = 1e-6 * (hi - lo)
    if xmin < lo - tol or xmax > hi + tol:
        raise ValueError(
            f"Images lie in [{xmin:.4g}, {xmax:.4g}], outside bounds [{lo}, {hi}]. Scale images to the "
            f"bounds (tfrobust models take [0, 1] inputs and normalise inside), or pass bounds=(low, high)."
        )
    return x


_CHECK_CHUNK = 1 << 22  # values per chunk when scanning large tensors (bounded temporaries)


def _row_chunks(x: tf.Tensor):
    n = int(x.shape[0])
    per_row = max(1, int(np.prod(x.shape[1:])))
    step = max(1, _CHECK_CHUNK // per_row)
    return (x[start:start + step] for start in range(0, n, step))


def _chunked_min_max(x: tf.Tensor) -> Tuple[float, float]:
    lows, highs = zip(*((float(tf.reduce_min(part)), float(tf.reduce_max(part))) for part in _row_chunks(x)))
    return min(lows), max(highs)


def _format_indices(indices: np.ndarray, limit: int = 5) -> str:
    shown = ", ".join(str(int(i)) for i in indices[:limit])
    return shown + (", ..." if indices.size > limit else "")


def check_finite(values, what: str, where: str = "", indices=None) -> None:
    """Checks that a batch (examples on axis 0) holds no NaN or infinite value.

    Args:
        values: tensor or array, batch first.
        what: what the values are, for the message (e.g. "Images", "The model's logits").
        where: when they were computed, for the message (e.g. "on the clean images").
        indices: optional example number of each row (e.g. positions in the whole dataset), used in
            the message instead of the row numbers.

    Raises:
        ValueError: naming how many examples are non-finite and the first few indices.
    """
    x = values if isinstance(values, tf.Tensor) else tf.convert_to_tensor(values)
    if not x.dtype.is_floating:
        return
    if x.shape.rank == 0:
        x = tf.reshape(x, [1])
    bad_parts = []
    for part in _row_chunks(x):
        finite = tf.reduce_all(tf.math.is_finite(tf.reshape(part, [tf.shape(part)[0], -1])), axis=1)
        bad_parts.append(~finite.numpy())
    bad = np.flatnonzero(np.concatenate(bad_parts))
    if bad.size:
        place = f" {where}" if where else ""
        shown = bad if indices is None else np.asarray(indices).reshape(-1)[bad]
        raise ValueError(
            f"{what} contain NaN or infinite values{place} for {bad.size} of {int(x.shape[0])} examples "
            f"(indices {_format_indices(shown)}). No accuracy computed from them could be trusted; "
            f"{'clean the input' if what == 'Images' else 'check the model (its weights, a log or a division in it)'}"
            f" before attacking.")


def check_finite_logits(logits, where: str = "", indices=None) -> None:
    """Checks that model outputs are finite for every example (NaN logits would argmax to class 0).

    Args:
        logits: (N, classes) model outputs.
        where: for the message, e.g. "on the clean images" or "after the attack at eps=0.1".
        indices: optional example number of each row, reported instead of the row numbers.

    Raises:
        ValueError: which examples (count and first indices) have NaN or infinite logits.
    """
    check_finite(logits, "The model's logits", where, indices)


def _shape_text(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + (",)" if len(shape) == 1 else ")")


def _fits(got: Sequence, expected: Sequence) -> bool:
    return len(got) == len(expected) and all(e is None or g is None or e == g for g, e in zip(got, expected))


def check_input_shape(x_shape: Sequence, model_shape: Sequence, model_name: str = "the model") -> None:
    """Checks images of shape ``x_shape`` against the input shape a model declares, before any call.

    A wrong rank can abort the process inside oneDNN (a C++ check, not a Python error), so it is
    caught here. The message says what the fix is where it can tell: a single image without a batch
    dimension, a missing channel axis, channels-first images, flattened images.

    Args:
        x_shape: the images' shape, batch first.
        model_shape: the model's input shape, batch first, ``None`` for free axes.
        model_name: for the message.

    Raises:
        ValueError: the shapes do not fit.
    """
    got, expected = tuple(x_shape), tuple(model_shape)
    if _fits(got, expected):
        return
    image = expected[1:]
    head = (f"Images of shape {_shape_text(got)} do not fit {model_name}, which takes batches of shape "
            f"{_shape_text(expected)}")
    if len(got) == len(expected) and _fits(got[1:], image):
        raise ValueError(f"{head}: it takes batches of exactly {expected[0]} examples; pass batch_size="
                         f"{expected[0]} (with a multiple of {expected[0]} images).")
    if _fits(got, image):
        fix = "it looks like a single image without a batch dimension; add one: x[None] (np.expand_dims(x, 0))."
    elif image and image[-1] == 1 and _fits(got[1:], image[:-1]):
        fix = "the images lack the channel axis; add it: x[..., None] (np.expand_dims(x, -1))."
    elif image and image[-1] == 1 and _fits(got, image[:-1]):
        fix = ("it looks like a single image without batch and channel axes; add both: x[None, ..., None].")
    elif len(got) == 4 and len(expected) == 4 and _fits((got[0], got[2], got[3], got[1]), expected):
        fix = "the images are channels-first; make them channels-last: np.transpose(x, (0, 2, 3, 1))."
    elif (len(got) >= 2 and None not in got[1:] and None not in image
          and int(np.prod(got[1:])) == int(np.prod(image))):
        fix = f"reshape them: x.reshape((-1,) + {tuple(image)})."
    else:
        fix = "use images of the size the model was built for (check the dataset, or resize the images)."
    raise ValueError(f"{head}; {fix}")


def check_targets(targets, clean_predictions, true_labels=None) -> None:
    """Refuses targeted attacks whose targets are the true labels: their "success" would be free.

    With ``true_labels``, every target equal to its true label is an error. Without them, the
    targets are compared with the model's clean predictions: a target the model already predicts
    is reached with no perturbation. A few such examples are legitimate (a misclassified example
    whose prediction happens to be its random target); most of them means the true labels were
    passed as targets, so that is refused when more than half the examples (and at least two)
    already sit at their target.

    Args:
        targets: target labels (N,).
        clean_predictions: the model's argmax on the clean images (N,).
        true_labels: optional true labels (N,).

    Raises:
        ValueError: naming how many and which examples, and how to choose targets.
    """
    targets = _to_numpy(targets).reshape(-1)
    advice = ("Targeted attacks take target labels different from the true class, e.g. (y + 1) % num_classes "
              "or a random other class; pass targeted=False to attack the true labels.")
    if true_labels is not None:
        same = np.flatnonzero(targets == _to_numpy(true_labels).reshape(-1))
        if same.size:
            raise ValueError(
                f"Targets equal the true labels for {same.size} of {targets.size} examples (indices "
                f"{_format_indices(same)}): success there would be reported with no attack at all. {advice}")
        return
    same = np.flatnonzero(targets == _to_numpy(clean_predictions).reshape(-1))
    if same.size >= 2 and 2 * same.size > targets.size:
        raise ValueError(
            f"Targets equal the model's clean prediction for {same.size} of {targets.size} examples (indices "
            f"{_format_indices(same)}): they look like the true labels, and success there would be reported "
            f"with no perturbation. {advice}")


def check_dataset_batched(dataset: tf.data.Dataset) -> None:
    """Refuses an unbatched ``tf.data.Dataset`` of (image, label) pairs, from its element spec.

    An unbatched dataset yields one image and a scalar label per element; read as batches it would
    treat each image's rows as examples.

    Raises:
        ValueError: the dataset is not batched, or does not yield (images, labels) pairs.
    """
    spec = dataset.element_spec
    if not isinstance(spec, (tuple, list)) or len(spec) < 2:
        raise ValueError("The Dataset must yield (images, labels) batches; batch it with .batch(n) first.")
    image_spec, label_spec = spec[0], spec[1]
    label_rank = getattr(getattr(label_spec, "shape", None), "rank", None)
    image_rank = getattr(getattr(image_spec, "shape", None), "rank", None)
    if label_rank == 0 or (image_rank is not None and image_rank < 2):
        raise ValueError(
            f"The Dataset yields single examples (images {getattr(image_spec, 'shape', '?')}, labels "
            f"{getattr(label_spec, 'shape', '?')}); batch it first, e.g. dataset.batch(256).")


def check_epsilon(eps, bounds: Sequence[float] = (0.0, 1.0), norm: str = "linf", name: str = "eps") -> float:
    """Checks that ``eps`` is a finite non-negative number that fits the bounds."""
    lo, hi = check_bounds(bounds)
    if isinstance(eps, bool) or not isinstance(eps, (Real, np.floating, np.integer)):
        if isinstance(eps, (tf.Tensor, np.ndarray)) and np.ndim(eps) == 0:
            eps = float(eps)
        else:
            raise TypeError(f"{name} must be a number, got {type(eps).__name__} {eps!r}.")
    eps = float(eps)
    if math.isnan(eps) or math.isinf(eps):
        raise ValueError(f"{name} must be finite, got {eps}.")
    if eps < 0:
        raise ValueError(f"{name} must be >= 0, got {eps}.")
    if norm == "linf" and eps > hi - lo:
        raise ValueError(
            f"{name}={eps} is larger than the whole bounds range {hi - lo} (bounds {bounds}); epsilon is in "
            f"pixel units of the [low, high] image range, e.g. 8/255 for CIFAR-10 or 0.3 for MNIST."
        )
    return eps


def check_choice(value: str, choices: Sequence[str], name: str) -> str:
    """Checks that ``value`` is one of ``choices`` (case-insensitive)."""
    if not isinstance(value, str) or value.lower() not in choices:
        raise ValueError(f"Unknown {name} {value!r}; choose one of {', '.join(choices)}.")
    return value.lower()


def check_labels(y, num_classes: int, batch_size: int | None = None) -> tf.Tensor:
    """Returns sparse int32 labels, accepting sparse labels or exact one-hot rows.

    One-hot is recognised only when ``y`` has shape (batch, num_classes) and every row has a single 1
    and zeros elsewhere; soft labels raise instead of being silently argmax-ed.

    Raises:
        ValueError: wrong shape, batch mismatch, out-of-range or non-integer labels, soft labels.
    """
    arr = _to_numpy(y)
    if arr.dtype == bool:
        raise TypeError("Labels must be integers (sparse) or one-hot rows, got booleans.")
    if batch_size is not None and (arr.ndim == 0 or arr.shape[0] != batch_size):
        raise ValueError(
            f"Batch mismatch: {batch_size} images but labels of shape {arr.shape}; pass one label per image."
        )
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim == 2:
        if arr.shape[1] != num_classes:
            raise ValueError(
                f"Labels of shape {arr.shape} are neither sparse (batch,) nor one-hot (batch, {num_classes})."
            )
        is_binary = np.all((arr == 0) | (arr == 1))
        if not (is_binary and np.all(arr.sum(axis=1) == 1)):
            raise ValueError(
                "Labels look like soft or multi-hot rows (not exactly one 1 per row). Pass sparse class "
                "indices, or exact one-hot rows; for soft targets take argmax yourself if that is meant."
            )
        arr = arr.argmax(axis=1)
    if arr.ndim != 1:
        raise ValueError(f"Labels must have shape (batch,) or (batch, {num_classes}), got {arr.shape}.")
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError("Labels must be integer class indices; got non-integer values.")
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        raise ValueError(
            f"Labels must lie in [0, {num_classes - 1}] for a model with {num_classes} outputs, "
            f"got values in [{arr.min()}, {arr.max()}]."
        )
    return tf.constant(arr.astype(np.int32))
