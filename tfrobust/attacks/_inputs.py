"""Eager checks and preparation shared by every attack entry point.

Each attack validates its arguments here before any ``tf.function`` runs, so bad input fails with a
message that names the argument, instead of a silently wrong number or a graph-time stack trace.
"""
from __future__ import annotations

from typing import List, NamedTuple, Optional

import numpy as np
import tensorflow as tf

from tfrobust.logits import LogitsModel, as_logits_model
from tfrobust.validation import check_bounds, check_finite_logits, check_images, check_labels, check_targets

MAX_FLOATS_PER_CHUNK = 1 << 19  # input floats per default chunk: 512 MNIST or 128 CIFAR-10 images
MAX_DEFAULT_BATCH = 1024
DEFAULT_CHUNK = 512  # examples per chunk when only the count is known


class AttackInputs(NamedTuple):
    """Validated inputs: the logits model, images (float32), sparse int32 labels and the bounds.

    ``clean_logits`` are the model's logits on ``x`` (computed once in bounded chunks by ``prepare``). ``x`` is
    a float32 tensor, or the caller's own float32 numpy array when ``prepare(..., keep_numpy=True)`` got one.
    """
    model: LogitsModel
    x: "tf.Tensor | np.ndarray"
    labels: tf.Tensor
    lo: float
    hi: float
    clean_logits: Optional[tf.Tensor] = None


def prepare(model, x, y, bounds, *, targeted: bool = False, true_labels=None,
            keep_numpy: bool = False) -> AttackInputs:
    """Checks images, bounds and labels and wraps ``model`` so that it returns logits.

    In order: the images (dtype, finite, inside ``bounds``); their shape against the input shape the
    model declares, before the model is first called (a wrong rank can abort the process in oneDNN);
    the labels; then the clean logits, computed in chunks of ``default_batch_size`` examples, must
    be finite for every example. In targeted mode the targets are checked with
    ``tfrobust.validation.check_targets``: targets equal to ``true_labels`` (when given), or mostly
    equal to the clean predictions (the true labels passed as targets), are refused.

    Args:
        model: any callable images -> logits (see ``tfrobust.logits``).
        x: images, batch first.
        y: labels (untargeted) or target labels (targeted), sparse or one-hot.
        bounds: (low, high) pixel range.
        targeted: whether ``y`` are target labels.
        true_labels: optional true labels, for the exact targeted check.
        keep_numpy: a float32 numpy ``x`` is checked chunk by chunk and kept as it is (``check_images_chunked``)
            instead of copied into one float32 tensor: for attacks that read ``x`` chunk by chunk and write
            their output into one preallocated array, so that memory holds x once whatever N.

    Returns:
        ``AttackInputs``.

    Raises:
        TypeError / ValueError: from ``tfrobust.validation`` (bad images, image shape, bounds, labels,
            batch mismatch, non-finite logits, targets equal to the true labels).
    """
    lo, hi = check_bounds(bounds)
    x = check_images_chunked(x, (lo, hi)) if keep_numpy else check_images(x, (lo, hi))
    logits_model = as_logits_model(model, x)
    labels = check_labels(y, logits_model.num_classes, batch_size=int(x.shape[0]))
    clean_logits = clean_logits_of(logits_model, x)
    check_finite_logits(clean_logits, "on the clean images")
    if targeted:
        predictions = tf.argmax(clean_logits, axis=-1, output_type=tf.int32)
        true = None if true_labels is None else check_labels(true_labels, logits_model.num_classes, int(x.shape[0]))
        check_targets(labels, predictions, true)
    return AttackInputs(logits_model, x, labels, lo, hi, clean_logits)


def check_images_chunked(x, bounds):
    """``tfrobust.validation.check_images`` without a copy of the whole input when ``x`` is float32 numpy.

    A float32 ``np.ndarray`` is checked one chunk of ``default_batch_size`` examples at a time (each chunk's
    float32 tensor is bounded) and returned unchanged; anything else goes to ``check_images`` (a tensor). On a
    refused chunk the whole input is checked again, so the error names every bad example and the whole range.
    """
    if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.ndim < 2 or x.shape[0] == 0:
        return check_images(x, bounds)
    try:
        for part in chunks(tuple(x.shape), None):
            check_images(x[part], bounds)
    except ValueError:
        check_images(x, bounds)  # the message over the whole input
        raise
    return x


def chunk_tensor(x, part: slice) -> tf.Tensor:
    """The float32 tensor of ``x[part]`` (a numpy chunk is converted alone, a tensor is sliced)."""
    return tf.convert_to_tensor(x[part], tf.float32)


def clean_logits_of(logits_model: LogitsModel, x: tf.Tensor) -> tf.Tensor:
    """The model's logits on ``x``, computed in chunks of ``default_batch_size`` (memory flat in N)."""
    parts = [logits_model(chunk_tensor(x, part)) for part in chunks(tuple(x.shape), None)]
    return parts[0] if len(parts) == 1 else tf.concat(parts, axis=0)


def check_flag(value, name: str) -> bool:
    """Checks a boolean option (numpy booleans allowed)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}.")
    return bool(value)


def check_seed(seed) -> Optional[int]:
    """Checks that ``seed`` is None or a non-negative integer."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be None or a non-negative integer, got {seed!r}.")
    return int(seed)


def make_generator(seed: Optional[int]) -> tf.random.Generator:
    """A random generator: reproducible across calls when ``seed`` is given."""
    if seed is None:
        return tf.random.Generator.from_non_deterministic_state()
    return tf.random.Generator.from_seed(seed)


def check_batch_size(batch_size) -> Optional[int]:
    """Checks the optional chunk size for large inputs."""
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"batch_size must be None or a positive integer, got {batch_size!r}.")
    return int(batch_size)


def default_batch_size(x_shape) -> int:
    """Examples per chunk when the caller gives no ``batch_size``: memory stays flat in N.

    The chunk holds at most ``MAX_FLOATS_PER_CHUNK`` input values (and at most
    ``MAX_DEFAULT_BATCH`` examples), rounded down to a power of two so that repeated chunks reuse
    one compiled shape: 512 for 28x28x1 images, 128 for 32x32x3, 16 for 96x96x3.

    Args:
        x_shape: the images' shape, batch first.
    """
    per_example = max(1, int(np.prod([int(d) for d in tuple(x_shape)[1:]])))
    size = max(1, min(MAX_DEFAULT_BATCH, MAX_FLOATS_PER_CHUNK // per_example))
    return 1 << (size.bit_length() - 1)


def chunks(n, batch_size: Optional[int]) -> List[slice]:
    """Slices that split the examples into chunks of at most ``batch_size``.

    Args:
        n: the number of examples, or the images' shape (or the images) to size the default chunk.
        batch_size: chunk size; when None, a bounded default so memory stays flat in N:
            ``default_batch_size(shape)`` when a shape is given, else ``DEFAULT_CHUNK`` examples.
    """
    shape = None
    if isinstance(n, (tf.Tensor, np.ndarray)):
        shape = tuple(n.shape)
    elif isinstance(n, (tuple, list, tf.TensorShape)):
        shape = tuple(n)
    if shape is not None:
        n = int(shape[0])
    n = int(n)
    if batch_size is not None:
        size = int(batch_size)
    else:
        size = default_batch_size(shape) if shape is not None else DEFAULT_CHUNK
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def check_loss_classes(loss: str, num_classes: int, targeted: bool) -> None:
    """DLR sorts the logits and needs at least 3 classes (4 when targeted)."""
    needed = 4 if targeted else 3
    if loss == "dlr" and num_classes < needed:
        raise ValueError(
            f"loss='dlr' needs at least {needed} classes, the model has {num_classes}; use loss='ce' or 'margin'.")
