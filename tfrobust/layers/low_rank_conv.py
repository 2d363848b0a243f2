"""Low-rank separable convolution: a k x k convolution as a vertical then a horizontal one.

Tai, Xiao, Zhang, Wang, E (2016), "Convolutional neural networks with low-rank regularization"
(ICLR), used in seed 004. A k x k kernel ``W`` with C input channels and N filters is
constrained to

    W[i, j, c, n] = sum_r V[i, c, r] * H[j, r, n],    r = 1..K (the rank),

which is a vertical ``k x 1`` convolution with K filters followed by a horizontal ``1 x k``
convolution with N filters. Cost per output position: d^2 N C -> d K (N + C).
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
import tensorflow as tf
import tf_keras as keras
from tensorflow_model_optimization.sparsity.keras import PrunableLayer

from tfrobust.layers.complexity import PADDINGS, as_pair, conv_output_size
from tfrobust.validation import check_choice, check_positive


def low_rank_factors(kernel: np.ndarray, rank: int) -> Tuple[np.ndarray, np.ndarray]:
    """Best rank-K vertical/horizontal factors of a conv kernel by truncated SVD (Tai et al. 2016).

    The kernel ``W`` of shape ``(kh, kw, C, N)`` is read as the matrix
    ``M[(i, c), (j, n)] = W[i, j, c, n]`` of shape ``(kh C, kw N)``; with ``M = U S V^T``,
    the vertical factor is ``U_K sqrt(S_K)`` and the horizontal one ``sqrt(S_K) V_K^T``. Their
    product is the best rank-K approximation of ``M`` in Frobenius norm, and at
    ``K = min(kh C, kw N)`` it reproduces ``W`` exactly.

    Args:
        kernel: array of shape ``(kh, kw, C, N)`` (Keras ``Conv2D`` layout).
        rank: K, at most ``min(kh C, kw N)``.

    Returns:
        ``(vertical, horizontal)`` float64 kernels of shapes ``(kh, 1, C, K)`` and ``(1, kw, K, N)``.

    Raises:
        ValueError: if the kernel is not 4-D or the rank exceeds ``min(kh C, kw N)``.
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 4:
        raise ValueError(f"kernel must have shape (kh, kw, C, N), got {kernel.shape}.")
    kh, kw, channels, filters = kernel.shape
    rank = check_positive(rank, "rank", integer=True)
    full_rank = min(kh * channels, kw * filters)
    if rank > full_rank:
        raise ValueError(f"rank {rank} exceeds the largest possible rank min(kh*C, kw*N) = {full_rank} "
                         f"of a {kernel.shape} kernel; use rank <= {full_rank}.")
    matrix = kernel.transpose(0, 2, 1, 3).reshape(kh * channels, kw * filters)
    u, s, vt = np.linalg.svd(matrix, full_matrices=False)
    root = np.sqrt(s[:rank])
    vertical = (u[:, :rank] * root).reshape(kh, 1, channels, rank)
    horizontal = (root[:, None] * vt[:rank]).reshape(rank, kw, filters).transpose(1, 0, 2)
    return vertical, horizontal.reshape(1, kw, rank, filters)


@keras.utils.register_keras_serializable(package="tfrobust")
class LowRankConv2D(keras.layers.Layer, PrunableLayer):
    """k x k convolution factorised into a vertical k x 1 and a horizontal 1 x k convolution.

    Tai et al. (2016), "Convolutional neural networks with low-rank regularization": a vertical
    ``(kh, 1)`` convolution with ``rank`` filters and no bias, optionally a BatchNormalization,
    then a horizontal ``(1, kw)`` convolution with ``filters`` filters, its bias and the
    activation. Input ``(batch, height, width, C)`` (channels last).

    Strides and padding: the vertical convolution takes stride ``(sh, 1)`` and the horizontal
    one ``(1, sw)``; each pads only along its own axis with the same rule as ``Conv2D``
    (``"same"``: output ``ceil(n / s)``, TensorFlow's split of the padding; ``"valid"``: none).
    Without BatchNormalization the layer therefore computes exactly ``Conv2D`` with the
    same strides and padding and the kernel ``W[i, j, c, n] = sum_r V[i, 0, c, r] H[0, j, r, n]``
    (see :meth:`full_kernel`). With BatchNormalization it is a different (non-linear in training)
    layer, as in the paper.

    Parameters: ``kh K C + kw K N`` = ``k K (N + C)`` for a square kernel, plus N biases and,
    with BatchNormalization, 2 K trainable and 2 K non-trainable values. Multiply-adds: see
    :func:`tfrobust.layers.low_rank_complexity`.

    Pruning (tensorflow-model-optimization): both factor kernels are prunable.

    Args:
        filters: N, the number of output channels.
        kernel_size: k or ``(kh, kw)``.
        rank: K, the number of intermediate channels.
        strides: s or ``(sh, sw)``.
        padding: ``"same"`` or ``"valid"``.
        use_bias: add a bias after the horizontal convolution.
        batch_norm: put a BatchNormalization between the two convolutions.
        batch_norm_momentum, batch_norm_epsilon: that BatchNormalization's moving-average momentum and
            epsilon (Keras defaults; tfrobust's model zoo passes PyTorch's 0.9 and 1e-5 like its other
            BatchNorms, since 0.99 leaves the moving statistics far off after a few hundred steps).
        kernel_initializer: initialiser of both factor kernels.
        activation: activation applied to the output (default: none).
        kernel_regularizer: regulariser applied to both factor kernels.
        **kwargs: standard Keras layer arguments (``name``, ``dtype``, ...).

    Raises:
        ValueError: for non-positive sizes or an unknown padding.
    """

    def __init__(self, filters: int, kernel_size, rank: int, strides=(1, 1), padding: str = "same",
                 use_bias: bool = True, batch_norm: bool = False,
                 kernel_initializer="glorot_uniform", activation=None, kernel_regularizer=None,
                 batch_norm_momentum: float = 0.99, batch_norm_epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.filters = check_positive(filters, "filters", integer=True)
        self.kernel_size = as_pair(kernel_size, "kernel_size")
        self.rank = check_positive(rank, "rank", integer=True)
        self.strides = as_pair(strides, "strides")
        self.padding = check_choice(padding, PADDINGS, "padding")
        self.use_bias = bool(use_bias)
        self.batch_norm = bool(batch_norm)
        self.batch_norm_momentum = float(batch_norm_momentum)
        self.batch_norm_epsilon = float(batch_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.activation = keras.activations.get(activation)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.input_spec = keras.layers.InputSpec(ndim=4)
        self.normalization = (keras.layers.BatchNormalization(name="normalization",
                                                                 momentum=self.batch_norm_momentum,
                                                                 epsilon=self.batch_norm_epsilon,
                                                                 dtype=self.dtype_policy)
                              if self.batch_norm else None)

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank != 4 or input_shape[-1] is None:
            raise ValueError("LowRankConv2D needs inputs of shape (batch, height, width, channels) with "
                             f"a known number of channels; got {input_shape}.")
        channels = int(input_shape[-1])
        kh, kw = self.kernel_size
        self.vertical_kernel = self.add_weight(
            "vertical_kernel", shape=(kh, 1, channels, self.rank),
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer)
        self.horizontal_kernel = self.add_weight(
            "horizontal_kernel", shape=(1, kw, self.rank, self.filters),
            # A copy: one unseeded initializer instance called twice repeats its values.
            initializer=self.kernel_initializer.__class__.from_config(
                self.kernel_initializer.get_config()),
            regularizer=self.kernel_regularizer)
        self.bias = (self.add_weight("bias", shape=(self.filters,), initializer="zeros")
                     if self.use_bias else None)
        if self.normalization is not None:
            self.normalization.build(input_shape[:-1].concatenate([self.rank]))
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: channels})
        super().build(input_shape)

    def call(self, inputs, training=None):
        padding = self.padding.upper()
        h = tf.nn.conv2d(inputs, self.vertical_kernel, strides=(1, self.strides[0], 1, 1),
                         padding=padding)
        if self.normalization is not None:
            h = self.normalization(h, training=training)
        h = tf.nn.conv2d(h, self.horizontal_kernel, strides=(1, 1, self.strides[1], 1),
                         padding=padding)
        if self.bias is not None:
            h = tf.nn.bias_add(h, self.bias)
        return self.activation(h)

    def compute_output_shape(self, input_shape):
        input_shape = tf.TensorShape(input_shape).as_list()
        out = [None if n is None else conv_output_size(n, k, s, self.padding)
               for n, k, s in zip(input_shape[1:3], self.kernel_size, self.strides)]
        return tf.TensorShape([input_shape[0], *out, self.filters])

    def full_kernel(self) -> np.ndarray:
        """The equivalent ``(kh, kw, C, N)`` kernel ``sum_r V[i, 0, c, r] H[0, j, r, n]`` (numpy)."""
        vertical = self.vertical_kernel.numpy()[:, 0]
        horizontal = self.horizontal_kernel.numpy()[0]
        return np.einsum("icr,jrn->ijcn", vertical, horizontal)

    def get_prunable_weights(self):
        """Both factor kernels (pruned by magnitude like a Conv2D kernel); not the bias or BN."""
        return [self.vertical_kernel, self.horizontal_kernel]

    @classmethod
    def from_conv2d(cls, conv: keras.layers.Conv2D, rank: int, batch_norm: bool = False,
                    **kwargs) -> "LowRankConv2D":
        """Builds a low-rank layer from a trained ``Conv2D`` by truncated SVD of its kernel.

        The factors come from :func:`low_rank_factors`; the bias, strides, padding and
        activation are copied. At ``rank = min(kh C, kw N)`` and without BatchNormalization the
        new layer reproduces the convolution up to float32 round-off. A BatchNormalization
        between the factors starts as the identity at inference (up to its epsilon) but
        normalises by batch statistics in training.

        Args:
            conv: a built ``keras.layers.Conv2D`` (channels last, no dilation, no groups).
            rank: K.
            batch_norm: put a BatchNormalization between the two factors.
            **kwargs: further layer arguments (e.g. ``name``).

        Returns:
            A built :class:`LowRankConv2D`.

        Raises:
            TypeError: if ``conv`` is not a ``Conv2D``.
            ValueError: if it is not built, dilated, grouped, channels-first, or the rank is too big.
        """
        if not isinstance(conv, keras.layers.Conv2D) or isinstance(conv, keras.layers.Conv2DTranspose):
            raise TypeError(f"from_conv2d needs a tf_keras Conv2D layer, got {type(conv).__name__}.")
        if not conv.built:
            raise ValueError("from_conv2d needs a built Conv2D (call it on an input or build it first).")
        if tuple(conv.dilation_rate) != (1, 1) or conv.groups != 1 or conv.data_format != "channels_last":
            raise ValueError("from_conv2d supports Conv2D with dilation_rate 1, groups 1 and "
                             f"channels_last only; got dilation {conv.dilation_rate}, groups "
                             f"{conv.groups}, {conv.data_format}.")
        kernel = conv.kernel.numpy()
        vertical, horizontal = low_rank_factors(kernel, rank)
        layer = cls(conv.filters, conv.kernel_size, rank, strides=conv.strides, padding=conv.padding,
                    use_bias=conv.use_bias, batch_norm=batch_norm,
                    activation=keras.activations.serialize(conv.activation),
                    kernel_regularizer=conv.kernel_regularizer, dtype=conv.dtype_policy, **kwargs)
        layer.build((None, None, None, kernel.shape[2]))
        layer.vertical_kernel.assign(vertical.astype(kernel.dtype))
        layer.horizontal_kernel.assign(horizontal.astype(kernel.dtype))
        if conv.use_bias:
            layer.bias.assign(conv.bias.numpy())
        return layer

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters, kernel_size=self.kernel_size, rank=self.rank, strides=self.strides,
            padding=self.padding, use_bias=self.use_bias, batch_norm=self.batch_norm,
            batch_norm_momentum=self.batch_norm_momentum, batch_norm_epsilon=self.batch_norm_epsilon,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            activation=keras.activations.serialize(self.activation),
            kernel_regularizer=keras.regularizers.serialize(self.kernel_regularizer))
        return config
