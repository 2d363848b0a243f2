"""LeNet-5 as used by the weight generator of seed 000 (Ballarin 2020; after LeCun et al. 1998).

Conv(8, 5×5) - MaxPool 2 - act - Conv(16, 5×5) - MaxPool 2 - act - Dropout 0.25 - Flatten - FC 64 - act -
Dropout 0.5 - FC classes, all "valid" padding. On 28×28×1 images: 208 + 3,216 + 16,448 + 650 = 20,522
parameters (4×4×16 = 256 features after the two conv/pool stages).

With ``activation="relu"`` and ``conv="standard"``, ``model.trainable_weights`` is, in this order:
``conv1/kernel (5,5,C,8)``, ``conv1/bias (8,)``, ``conv2/kernel (5,5,8,16)``, ``conv2/bias (16,)``,
``fc1/kernel (256,64)``, ``fc1/bias (64,)``, ``logits/kernel (64,classes)``, ``logits/bias (classes,)``;
the hypernetwork of seed 000 loads its flat θ in that order.
"""
from __future__ import annotations

import tf_keras as keras

from tfrobust.models.blocks import LayerFactory, check_dropout, check_min_size


def lenet5(x, *, num_classes: int, layers: LayerFactory, dropout=None):
    """Builds the LeNet-5 of seed 000 on the (normalised) input tensor ``x``.

    Args:
        x: symbolic input, (batch, height, width, channels), at least 16×16.
        num_classes: number of logits.
        layers: the model's ``LayerFactory`` (2 convolutions).
        dropout: None for the seed's rates (0.25 after the convs, 0.5 after FC 64), or one rate for both.

    Returns:
        The logits tensor.

    Raises:
        ValueError: images smaller than 16×16, or a bad dropout rate.
    """
    check_min_size(x.shape[1:], 16, "lenet5", "two valid 5×5 convolutions each followed by a 2×2 pool")
    conv_rate = check_dropout(dropout, 0.25)
    fc_rate = check_dropout(dropout, 0.5)
    h = layers.conv(8, 5, padding="valid", name="conv1")(x)
    h = keras.layers.MaxPooling2D(2, name="pool1")(h)
    h = layers.activation()(h)
    h = layers.conv(16, 5, padding="valid", name="conv2")(h)
    h = keras.layers.MaxPooling2D(2, name="pool2")(h)
    h = layers.activation()(h)
    h = keras.layers.Dropout(conv_rate, name="dropout1")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = layers.dense(64, name="fc1")(h)
    h = layers.activation()(h)
    h = keras.layers.Dropout(fc_rate, name="dropout2")(h)
    return layers.logits(num_classes)(h)
