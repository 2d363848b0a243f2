"""The small MNIST CNN of Wong, Rice and Kolter 2020 ("Fast is better than free", ICLR 2020).

Conv(16, 4×4, stride 2, padding 1) - act - Conv(32, 4×4, stride 2, padding 1) - act - Flatten - FC 100 -
act - FC classes. For even image sizes Keras' "same" padding with a 4×4 kernel and stride 2 pads one
pixel on each side, exactly PyTorch's ``padding=1``: 28×28 → 14×14 → 7×7, 166,406 parameters on MNIST.
"""
from __future__ import annotations

import tf_keras as keras

from tfrobust.models.blocks import LayerFactory, check_min_size


def mnist_small(x, *, num_classes: int, layers: LayerFactory):
    """Builds Wong et al.'s MNIST network on the (normalised) input tensor ``x``.

    Args:
        x: symbolic input, (batch, height, width, channels), at least 4×4.
        num_classes: number of logits.
        layers: the model's ``LayerFactory`` (2 convolutions).

    Returns:
        The logits tensor.
    """
    check_min_size(x.shape[1:], 4, "mnist_small", "two stride-2 convolutions")
    h = layers.conv(16, 4, strides=2, padding="same", name="conv1")(x)
    h = layers.activation()(h)
    h = layers.conv(32, 4, strides=2, padding="same", name="conv2")(h)
    h = layers.activation()(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = layers.dense(100, name="fc1")(h)
    h = layers.activation()(h)
    return layers.logits(num_classes)(h)
