"""Per-channel input normalisation as the first layer of every tfrobust model.

tfrobust models take images in [0, 1] (so that ε is in pixel units for every attack) and standardise
them inside the graph: ``Normalize(mean, std)(x) = (x - mean) / std`` per channel. Keeping the
normalisation in the model means an attack's gradient flows through it and nobody has to remember the
dataset statistics when evaluating.

The layer holds its statistics as Python constants, not weights: it adds 0 parameters, so
``count_params()`` of a model equals the count of its learnable layers (LeNet-5 of seed 000 has exactly
20,522), and loading a flat weight vector into ``model.trainable_weights`` is not disturbed.

Default statistics (``default_normalization``):

* 1 channel (MNIST-like): mean 0.1307, std 0.3081 (MNIST training set).
* 3 channels, images at most 32 px: CIFAR-10 mean (0.4914, 0.4822, 0.4465), std (0.2471, 0.2435, 0.2616).
* 3 channels, larger images (Imagenette, ImageNet): ImageNet mean (0.485, 0.456, 0.406),
  std (0.229, 0.224, 0.225).
* any other channel count: identity (mean 0, std 1).
"""
from __future__ import annotations

import math
from numbers import Real
from typing import Sequence, Tuple, Union

import tensorflow as tf
import tf_keras as keras

MNIST_STATS = ((0.1307,), (0.3081,))
CIFAR10_STATS = ((0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616))
IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
IDENTITY_STATS = ((0.0,), (1.0,))

Stats = Union[float, Sequence[float]]


def _as_float_tuple(values: Stats, name: str) -> Tuple[float, ...]:
    """Turns a number or a sequence of numbers into a non-empty tuple of finite floats."""
    if isinstance(values, bool):
        raise TypeError(f"Normalize {name} must be a number or a list of numbers, got {values!r}.")
    if isinstance(values, (Real, int)):
        values = (values,)
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise TypeError(f"Normalize {name} must be a number or a list of numbers, got {values!r}.") from None
    if not out:
        raise ValueError(f"Normalize {name} is empty; give one value, or one per channel.")
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"Normalize {name} must be finite, got {out}.")
    return out


@keras.utils.register_keras_serializable(package="tfrobust")
class Normalize(keras.layers.Layer):
    """Standardises images per channel: ``(x - mean) / std``.

    Args:
        mean: one number (shared by all channels) or one number per channel (last axis).
        std: one positive number or one per channel.
        **kwargs: standard Keras layer arguments (``name``, ``dtype``...).

    Raises:
        TypeError: ``mean`` or ``std`` are not numbers.
        ValueError: non-finite values, ``std <= 0``, or (when built) a length that is neither 1 nor the
            number of input channels.
    """

    def __init__(self, mean: Stats, std: Stats, **kwargs):
        super().__init__(**kwargs)
        self.mean = _as_float_tuple(mean, "mean")
        self.std = _as_float_tuple(std, "std")
        if min(self.std) <= 0:
            raise ValueError(f"Normalize std must be > 0 for every channel, got {self.std}.")

    def build(self, input_shape):
        channels = tf.TensorShape(input_shape)[-1]
        for name, values in (("mean", self.mean), ("std", self.std)):
            if len(values) != 1 and channels is not None and len(values) != channels:
                raise ValueError(
                    f"Normalize {name} has {len(values)} values but the input has {channels} channels; "
                    f"give one value or one per channel."
                )
        super().build(input_shape)

    def call(self, inputs):
        mean = tf.constant(self.mean, dtype=inputs.dtype)
        std = tf.constant(self.std, dtype=inputs.dtype)
        return (inputs - mean) / std

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"mean": list(self.mean), "std": list(self.std)})
        return config

    def get_prunable_weights(self):
        """tensorflow-model-optimization hook: nothing to prune (the layer has no weights)."""
        return []


def default_normalization(input_shape: Sequence[int]) -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
    """Returns the default (mean, std) for images of ``input_shape`` = (height, width, channels).

    See the module docstring for the rule (MNIST for 1 channel, CIFAR-10 for 3 channels up to 32 px,
    ImageNet for larger 3-channel images, identity otherwise).
    """
    height, width, channels = input_shape
    if channels == 1:
        return MNIST_STATS
    if channels == 3:
        return CIFAR10_STATS if max(height, width) <= 32 else IMAGENET_STATS
    return IDENTITY_STATS


def normalization_layer(normalization, input_shape: Sequence[int]) -> Normalize:
    """Makes the first layer of a model from the ``normalization`` argument of ``build``.

    Args:
        normalization: ``"auto"`` (``default_normalization``), ``None`` (identity: mean 0, std 1, so
            the model still starts with a ``Normalize`` layer), or a pair ``(mean, std)``.
        input_shape: (height, width, channels) of the images.

    Returns:
        A ``Normalize`` layer named ``"normalize"``.

    Raises:
        ValueError: any other value of ``normalization``.
    """
    if normalization is None:
        mean, std = IDENTITY_STATS
    elif isinstance(normalization, str):
        if normalization.lower() != "auto":
            raise ValueError(
                f"Unknown normalization {normalization!r}; pass 'auto', None, or a pair (mean, std)."
            )
        mean, std = default_normalization(input_shape)
    else:
        try:
            mean, std = normalization
        except (TypeError, ValueError):
            raise ValueError(
                f"normalization must be 'auto', None, or a pair (mean, std), got {normalization!r}."
            ) from None
    return Normalize(mean, std, name="normalize")
