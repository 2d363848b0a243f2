"""FC5, the five-layer perceptron of seed 004: Flatten - 1344 - 672 - 588 - 294 - classes.

Each hidden Dense layer is followed by the activation (and by Dropout when ``dropout > 0``; the seed uses
none). On 28×28×1 images: 784·1344+1344 + 1344·672+672 + 672·588+588 + 588·294+294 + 294·10+10 parameters.
"""
from __future__ import annotations

import tf_keras as keras

from tfrobust.models.blocks import LayerFactory, check_dropout

FC5_UNITS = (1344, 672, 588, 294)


def fc5(x, *, num_classes: int, layers: LayerFactory, dropout=None):
    """Builds FC5 on the (normalised) input tensor ``x`` of any image size.

    Args:
        x: symbolic input, (batch, height, width, channels).
        num_classes: number of logits.
        layers: the model's ``LayerFactory`` (no convolutions).
        dropout: rate after each hidden activation; None or 0 for none (the seed's choice).

    Returns:
        The logits tensor.
    """
    rate = check_dropout(dropout, 0.0)
    h = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(FC5_UNITS, start=1):
        h = layers.dense(units, name=f"fc{i}")(h)
        h = layers.activation()(h)
        if rate > 0:
            h = keras.layers.Dropout(rate, name=f"dropout{i}")(h)
    return layers.logits(num_classes)(h)
