"""Parameter and multiply-add counts of a full k x k convolution and of its low-rank factorisation.

Tai, Xiao, Zhang, Wang, E (2016), "Convolutional neural networks with low-rank regularization"
(ICLR): a k x k convolution with C input channels and N filters costs d^2 N C multiply-adds
per output position (d = k); the vertical k x 1 convolution with K filters followed by the
horizontal 1 x k convolution with N filters costs d K (N + C). With strides the two factors run
at different numbers of positions (the vertical one is only strided vertically), which the
counts below take into account exactly.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence, Tuple, Union

from tfrobust.validation import check_choice, check_positive

IntPair = Union[int, Sequence[int]]
PADDINGS = ("same", "valid")


@dataclasses.dataclass(frozen=True)
class ConvCost:
    """Cost of one convolution layer for one example.

    Attributes:
        params: number of weights (kernels, biases and, for BatchNorm, its 4 vectors of size K
            including the non-trainable moving statistics, as ``keras.Model.count_params``).
        macs: multiply-adds for one example.
        output_shape: ``(height, width, filters)`` of the output.
    """

    params: int
    macs: int
    output_shape: Tuple[int, int, int]


def as_pair(value: IntPair, name: str) -> Tuple[int, int]:
    """Turns an int or a pair of ints into a checked pair of positive ints.

    Raises:
        ValueError: if the values are not positive or not a pair.
        TypeError: if they are not integers.
    """
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else tuple(value)
    if len(pair) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}.")
    return tuple(check_positive(v, name, integer=True) for v in pair)


def conv_output_size(size: int, kernel: int, stride: int, padding: str) -> int:
    """Output length of a convolution along one axis ('same': ceil(n/s); 'valid': ceil((n-k+1)/s))."""
    padding = check_choice(padding, PADDINGS, "padding")
    if padding == "same":
        return -(-size // stride)
    if size < kernel:
        raise ValueError(f"'valid' convolution with kernel {kernel} needs inputs of size >= {kernel}, "
                         f"got {size}.")
    return -(-(size - kernel + 1) // stride)


def _check_input_shape(input_shape: Sequence[int]) -> Tuple[int, int, int]:
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels) without the batch axis, "
                         f"got {tuple(input_shape)}.")
    return tuple(check_positive(v, "input_shape entries", integer=True) for v in input_shape)


def conv_complexity(input_shape: Sequence[int], filters: int, kernel_size: IntPair,
                    strides: IntPair = 1, padding: str = "same", use_bias: bool = True) -> ConvCost:
    """Parameters and multiply-adds of a full ``Conv2D`` (cost ``kh kw C N`` per output position).

    Args:
        input_shape: ``(height, width, channels)``.
        filters: N.
        kernel_size: k or ``(kh, kw)``.
        strides: s or ``(sh, sw)``.
        padding: ``"same"`` or ``"valid"``.
        use_bias: whether the layer has a bias.

    Returns:
        A :class:`ConvCost`.
    """
    height, width, channels = _check_input_shape(input_shape)
    filters = check_positive(filters, "filters", integer=True)
    (kh, kw), (sh, sw) = as_pair(kernel_size, "kernel_size"), as_pair(strides, "strides")
    out_h, out_w = conv_output_size(height, kh, sh, padding), conv_output_size(width, kw, sw, padding)
    params = kh * kw * channels * filters + (filters if use_bias else 0)
    return ConvCost(params, out_h * out_w * kh * kw * channels * filters, (out_h, out_w, filters))


def low_rank_complexity(input_shape: Sequence[int], filters: int, kernel_size: IntPair, rank: int,
                        strides: IntPair = 1, padding: str = "same", use_bias: bool = True,
                        batch_norm: bool = False) -> ConvCost:
    """Parameters and multiply-adds of a :class:`~tfrobust.layers.LowRankConv2D` (Tai et al. 2016).

    The vertical ``kh x 1`` convolution (K = ``rank`` filters, stride ``(sh, 1)``) runs at
    ``out_h * width`` positions, the horizontal ``1 x kw`` one (N filters, stride ``(1, sw)``)
    at ``out_h * out_w``; without strides and with a square kernel this is ``k K (N + C)`` per
    position. Parameters: ``kh K C + kw K N`` (+ N biases, + 4 K for BatchNorm).

    Args:
        input_shape: ``(height, width, channels)``.
        filters: N.
        kernel_size: k or ``(kh, kw)``.
        rank: K.
        strides: s or ``(sh, sw)``.
        padding: ``"same"`` or ``"valid"``.
        use_bias: whether the layer has a bias (after the horizontal convolution).
        batch_norm: whether a BatchNormalization sits between the two convolutions.

    Returns:
        A :class:`ConvCost`.
    """
    height, width, channels = _check_input_shape(input_shape)
    filters = check_positive(filters, "filters", integer=True)
    rank = check_positive(rank, "rank", integer=True)
    (kh, kw), (sh, sw) = as_pair(kernel_size, "kernel_size"), as_pair(strides, "strides")
    out_h, out_w = conv_output_size(height, kh, sh, padding), conv_output_size(width, kw, sw, padding)
    params = kh * rank * channels + kw * rank * filters
    params += (filters if use_bias else 0) + (4 * rank if batch_norm else 0)
    macs = out_h * width * kh * channels * rank + out_h * out_w * kw * rank * filters
    return ConvCost(params, macs, (out_h, out_w, filters))
