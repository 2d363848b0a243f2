"""The VGG-like network of seed 002 (after Simonyan and Zisserman 2015, "Very deep convolutional networks").

Three convolutional blocks, each two 3×3 "same" convolutions (32, 64, 128 filters) each followed by the
activation (optionally BatchNorm before it), then a 2×2 max-pool; Flatten - FC 128 - act - Dropout -
FC classes. On 32×32×3 the last block leaves 4×4×128 = 2,048 features.
"""
from __future__ import annotations

import tf_keras as keras

from tfrobust.models.blocks import LayerFactory, check_dropout, check_min_size

VGG_FILTERS = (32, 64, 128)


def vgg_like(x, *, num_classes: int, layers: LayerFactory, dropout=None, batch_norm: bool = False):
    """Builds seed 002's VGG-like network on the (normalised) input tensor ``x``.

    Args:
        x: symbolic input, (batch, height, width, channels), at least 8×8.
        num_classes: number of logits.
        layers: the model's ``LayerFactory`` (6 convolutions).
        dropout: rate before the decision layer (default 0.5).
        batch_norm: BatchNorm between each convolution and its activation.

    Returns:
        The logits tensor.
    """
    check_min_size(x.shape[1:], 8, "vgg_like", "three 2×2 max-pools")
    rate = check_dropout(dropout, 0.5)
    h = x
    for block, filters in enumerate(VGG_FILTERS, start=1):
        for i in (1, 2):
            h = layers.conv(filters, 3, use_bias=not batch_norm, name=f"block{block}_conv{i}")(h)
            if batch_norm:
                h = layers.batch_norm(name=f"block{block}_bn{i}")(h)
            h = layers.activation()(h)
        h = keras.layers.MaxPooling2D(2, name=f"block{block}_pool")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = layers.dense(128, name="fc1")(h)
    h = layers.activation()(h)
    h = keras.layers.Dropout(rate, name="dropout")(h)
    return layers.logits(num_classes)(h)
