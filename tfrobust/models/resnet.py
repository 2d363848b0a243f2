"""Residual networks: ResNet20 for CIFAR, ResNet18 and the pre-activation ResNet18 of fast AT.

* ``resnet20``: He, Zhang, Ren, Sun 2016, "Deep residual learning for image recognition", §4.2 (CIFAR-10):
  3×3 conv 16 - BN - act, then 3 stages of 3 basic blocks with 16, 32, 64 filters (the first block of
  stages 2 and 3 has stride 2), global average pooling, FC. Basic block: conv-BN-act-conv-BN, add the
  shortcut, act. Shortcut option "A" (the paper's CIFAR choice, the default): identity, or, where the
  shape changes, the input subsampled by 2 with zero channels appended (``ChannelPadShortcut``, no
  parameters). Option "B": a 1×1 stride-2 conv + BN projection where the shape changes. With option A
  and 10 classes: 269,722 trainable parameters (271,098 with the BatchNorm moving statistics).
* ``resnet18``: the [2, 2, 2, 2] basic-block ResNet of He et al. 2016 with 64, 128, 256, 512 filters and
  1×1 conv + BN projections where the shape changes (option B). Stem: for images up to 64 px the 3×3
  stride-1 conv without max-pool used for CIFAR-sized inputs (11,173,962 trainable parameters with 10
  classes); for larger images the ImageNet stem, 7×7 stride-2 conv, BN, act, 3×3 stride-2 max-pool.
* ``preact_resnet18``: He, Zhang, Ren, Sun 2016b, "Identity mappings in deep residual networks", as used
  by Wong, Rice, Kolter 2020 for fast adversarial training on CIFAR-10: 3×3 conv 64, [2, 2, 2, 2]
  pre-activation blocks (BN-act-conv-BN-act-conv plus shortcut; the 1×1 projection shortcut, where the
  shape changes, takes the block's first activation), final BN-act, global average pooling, FC
  (11,172,170 trainable parameters with 10 classes; 11,171,146 in re-implementations without the final
  BN).

Convolutions carry no bias where a BatchNorm follows. The "conv layers" that ``conv=`` schedules address
are the k×k convolutions in forward order (stem, then two per block); 1×1 projections are always
standard ``Conv2D``: ResNet20 has 19, ResNet18 and PreActResNet18 have 17.
"""
from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from tfrobust.models.blocks import LayerFactory, check_min_size
from tfrobust.validation import check_choice


@keras.utils.register_keras_serializable(package="tfrobust")
class ChannelPadShortcut(keras.layers.Layer):
    """Parameter-free shortcut of ResNet option A (He et al. 2016, §4.2).

    Subsamples the input spatially by ``strides`` and appends zero channels (half before, half after)
    up to ``filters`` channels.

    Args:
        filters: number of output channels (>= input channels).
        strides: spatial subsampling factor.

    Raises:
        ValueError: ``filters`` smaller than the input channels.
    """

    def __init__(self, filters: int, strides: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.strides = int(strides)

    def build(self, input_shape):
        channels = tf.TensorShape(input_shape)[-1]
        if channels is not None and channels > self.filters:
            raise ValueError(f"ChannelPadShortcut cannot shrink {channels} channels to {self.filters}.")
        super().build(input_shape)

    def call(self, inputs):
        h = inputs[:, ::self.strides, ::self.strides, :]
        missing = self.filters - inputs.shape[-1]
        return tf.pad(h, [[0, 0], [0, 0], [0, 0], [missing // 2, missing - missing // 2]])

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "strides": self.strides})
        return config

    def get_prunable_weights(self):
        """tensorflow-model-optimization hook: nothing to prune (the layer has no weights)."""
        return []


def _projection(x, filters: int, strides: int, layers: LayerFactory, prefix: str, batch_norm: bool = True):
    """1×1 conv projection shortcut (option B), never low-rank."""
    h = keras.layers.Conv2D(filters, 1, strides=strides, use_bias=False, name=f"{prefix}_shortcut")(x)
    if batch_norm:
        h = layers.batch_norm(name=f"{prefix}_shortcut_bn")(h)
    return h


def _basic_block(x, filters: int, strides: int, layers: LayerFactory, prefix: str, shortcut: str):
    """Post-activation basic block: conv-BN-act-conv-BN, add shortcut, act."""
    h = layers.conv(filters, 3, strides=strides, use_bias=False, name=f"{prefix}_conv1")(x)
    h = layers.batch_norm(name=f"{prefix}_bn1")(h)
    h = layers.activation()(h)
    h = layers.conv(filters, 3, use_bias=False, name=f"{prefix}_conv2")(h)
    h = layers.batch_norm(name=f"{prefix}_bn2")(h)
    if strides == 1 and x.shape[-1] == filters:
        skip = x
    elif shortcut == "A":
        skip = ChannelPadShortcut(filters, strides, name=f"{prefix}_shortcut")(x)
    else:
        skip = _projection(x, filters, strides, layers, prefix)
    h = keras.layers.Add(name=f"{prefix}_add")([h, skip])
    return layers.activation()(h)


def _preact_block(x, filters: int, strides: int, layers: LayerFactory, prefix: str):
    """Pre-activation basic block (He et al. 2016b): BN-act-conv-BN-act-conv, add shortcut."""
    out = layers.batch_norm(name=f"{prefix}_bn1")(x)
    out = layers.activation()(out)
    if strides == 1 and x.shape[-1] == filters:
        skip = x
    else:
        skip = _projection(out, filters, strides, layers, prefix, batch_norm=False)
    h = layers.conv(filters, 3, strides=strides, use_bias=False, name=f"{prefix}_conv1")(out)
    h = layers.batch_norm(name=f"{prefix}_bn2")(h)
    h = layers.activation()(h)
    h = layers.conv(filters, 3, use_bias=False, name=f"{prefix}_conv2")(h)
    return keras.layers.Add(name=f"{prefix}_add")([h, skip])


def resnet20(x, *, num_classes: int, layers: LayerFactory, shortcut: str = "A"):
    """Builds He et al.'s CIFAR ResNet20 on the (normalised) input tensor ``x``.

    Args:
        x: symbolic input, (batch, height, width, channels), at least 4×4.
        num_classes: number of logits.
        layers: the model's ``LayerFactory`` (19 convolutions).
        shortcut: "A" (zero-padding identity, the paper's CIFAR choice) or "B" (1×1 conv projections).

    Returns:
        The logits tensor.

    Raises:
        ValueError: an unknown shortcut option or too small images.
    """
    check_min_size(x.shape[1:], 4, "resnet20", "two stride-2 stages")
    shortcut = check_choice(shortcut, ("a", "b"), "shortcut").upper()
    h = layers.conv(16, 3, use_bias=False, name="stem_conv")(x)
    h = layers.batch_norm(name="stem_bn")(h)
    h = layers.activation()(h)
    for stage, filters in enumerate((16, 32, 64), start=1):
        for block in range(1, 4):
            strides = 2 if stage > 1 and block == 1 else 1
            h = _basic_block(h, filters, strides, layers, f"stage{stage}_block{block}", shortcut)
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    return layers.logits(num_classes)(h)


RESNET18_FILTERS = (64, 128, 256, 512)
SMALL_STEM_MAX_SIZE = 64


def resnet18(x, *, num_classes: int, layers: LayerFactory, stem: str = "auto"):
    """Builds ResNet18 on the (normalised) input tensor ``x``.

    Args:
        x: symbolic input, (batch, height, width, channels), at least 8×8 (small stem) or 32×32.
        num_classes: number of logits.
        layers: the model's ``LayerFactory`` (17 convolutions).
        stem: "auto" (small for images up to 64 px, large above), "small" (3×3 stride-1 conv) or
            "large" (7×7 stride-2 conv and 3×3 stride-2 max-pool).

    Returns:
        The logits tensor.

    Raises:
        ValueError: an unknown stem or too small images.
    """
    stem = check_choice(stem, ("auto", "small", "large"), "stem")
    if stem == "auto":
        stem = "small" if max(x.shape[1], x.shape[2]) <= SMALL_STEM_MAX_SIZE else "large"
    if stem == "small":
        check_min_size(x.shape[1:], 8, "resnet18", "three stride-2 stages")
        h = layers.conv(64, 3, use_bias=False, name="stem_conv")(x)
        h = layers.batch_norm(name="stem_bn")(h)
        h = layers.activation()(h)
    else:
        check_min_size(x.shape[1:], 32, "resnet18 with the large stem", "five stride-2 downsamplings")
        h = layers.conv(64, 7, strides=2, use_bias=False, name="stem_conv")(x)
        h = layers.batch_norm(name="stem_bn")(h)
        h = layers.activation()(h)
        h = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(h)
    for stage, filters in enumerate(RESNET18_FILTERS, start=1):
        for block in (1, 2):
            strides = 2 if stage > 1 and block == 1 else 1
            h = _basic_block(h, filters, strides, layers, f"stage{stage}_block{block}", "B")
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    return layers.logits(num_classes)(h)


def preact_resnet18(x, *, num_classes: int, layers: LayerFactory):
    """Builds the PreActResNet18 of Wong et al. 2020 on the (normalised) input tensor ``x``.

    Args:
        x: symbolic input, (batch, height, width, channels), at least 8×8.
        num_classes: number of logits.
        layers: the model's ``LayerFactory`` (17 convolutions).

    Returns:
        The logits tensor.
    """
    check_min_size(x.shape[1:], 8, "preact_resnet18", "three stride-2 stages")
    h = layers.conv(64, 3, use_bias=False, name="stem_conv")(x)
    for stage, filters in enumerate(RESNET18_FILTERS, start=1):
        for block in (1, 2):
            strides = 2 if stage > 1 and block == 1 else 1
            h = _preact_block(h, filters, strides, layers, f"stage{stage}_block{block}")
    h = layers.batch_norm(name="final_bn")(h)
    h = layers.activation()(h)
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    return layers.logits(num_classes)(h)
