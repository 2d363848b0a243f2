"""AlexNet (Krizhevsky, Sutskever, Hinton 2012), with the stem adapted to the image size as in seed 004.

Five convolutions with 64, 192, 384, 256, 256 filters (the single-tower widths of the common
re-implementations), each followed by the activation, then Dropout - FC - act - Dropout - FC - act -
FC classes. The first two convolutions and the last one are followed by max-pooling. No BatchNorm
(AlexNet predates it; a ``LowRankConv2D`` carries its own BatchNorm by default).

The downsampling depends on the smaller image side ``s`` so that the feature maps never shrink to zero:

======================  ==================  ==============  ========  ====================
image side s            conv1               pools           FC units  features at 32/64/224
======================  ==================  ==============  ========  ====================
s < 64 (CIFAR, 32 px)   5×5, stride 1       2×2, stride 2   1024      4×4×256
64 <= s < 128           5×5, stride 2       2×2, stride 2   1024      4×4×256 (64 px)
s >= 128 (ImageNet)     11×11, stride 4     3×3, stride 2   4096      6×6×256 (224 px)
======================  ==================  ==============  ========  ====================

conv2 is 5×5 and conv3-5 are 3×3, all with "same" padding. The two hidden FC layers are narrowed to 1024
units for small images, whose 4,096 features do not justify the 4096-wide classifier of the original
(that would hold 33M parameters for 4,096 inputs); pass ``fc_units`` to override.
"""
from __future__ import annotations

from typing import Optional

import tf_keras as keras

from tfrobust.models.blocks import LayerFactory, check_dropout, check_min_size

ALEXNET_FILTERS = (64, 192, 384, 256, 256)


def alexnet(x, *, num_classes: int, layers: LayerFactory, dropout=None, fc_units: Optional[int] = None):
    """Builds AlexNet adapted to the size of the (normalised) input tensor ``x``.

    Args:
        x: symbolic input, (batch, height, width, channels), at least 8×8.
        num_classes: number of logits.
        layers: the model's ``LayerFactory`` (5 convolutions).
        dropout: rate before each hidden FC layer (default 0.5, as in the original).
        fc_units: width of the two hidden FC layers (default 1024 below 128 px, 4096 from 128 px).

    Returns:
        The logits tensor.

    Raises:
        ValueError: too small images, a bad dropout rate or ``fc_units``.
    """
    check_min_size(x.shape[1:], 8, "alexnet", "three 2×2 max-pools")
    rate = check_dropout(dropout, 0.5)
    side = min(x.shape[1], x.shape[2])
    if side >= 128:
        kernel1, stride1, pool, default_units = 11, 4, 3, 4096
    else:
        kernel1, stride1, pool, default_units = 5, (2 if side >= 64 else 1), 2, 1024
    units = default_units if fc_units is None else fc_units
    if isinstance(units, bool) or not isinstance(units, int) or units < 1:
        raise ValueError(f"fc_units must be a positive integer, got {fc_units!r}.")

    kernels = (kernel1, 5, 3, 3, 3)
    pooled_after = (1, 2, 5)
    h = x
    for i, (filters, kernel) in enumerate(zip(ALEXNET_FILTERS, kernels), start=1):
        h = layers.conv(filters, kernel, strides=stride1 if i == 1 else 1, name=f"conv{i}")(h)
        h = layers.activation()(h)
        if i in pooled_after:
            h = keras.layers.MaxPooling2D(pool, strides=2, name=f"pool{i}")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    for i in (1, 2):
        h = keras.layers.Dropout(rate, name=f"dropout{i}")(h)
        h = layers.dense(units, name=f"fc{i}")(h)
        h = layers.activation()(h)
    return layers.logits(num_classes)(h)
