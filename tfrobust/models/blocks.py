"""The layer factory shared by all model builders: activations, convolutions and batch norm.

Every builder asks a ``LayerFactory`` for its activations and k×k convolutions instead of making them
itself, so that one ``activation=`` choice (seed 002: ReLU, ELU, Swish and the KAF variants of
Scardapane et al. 2019, "Kafnets: kernel-based non-parametric activation functions") and one ``conv=``
choice (seed 004: Tai et al. 2016 low-rank separable convolutions) reach every slot of the model.
Each activation slot gets a fresh layer (KAF holds per-channel coefficients, so layers are never shared).
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import tf_keras as keras

from tfrobust.layers import ACTIVATIONS, LowRankConv2D, make_activation
from tfrobust.validation import check_choice

# PyTorch's BatchNorm defaults (momentum 0.1 there is 0.9 here), as in the reference ResNets of
# He et al. and Wong et al.; Keras' 0.99 lags behind the weights during short (15-epoch) trainings.
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5


class LayerFactory:
    """Makes the activation, convolution and batch-norm layers of one model.

    Args:
        activation: one of ``tfrobust.layers.ACTIVATIONS``.
        ranks: ``None`` for standard convolutions, or one entry per k×k convolution of the model in
            forward order: an int rank (``LowRankConv2D``) or ``None`` (full ``Conv2D``).
        low_rank_batch_norm: put a BatchNorm between the vertical and horizontal convolutions of each
            ``LowRankConv2D`` (Tai et al. 2016; seed 004 relies on it against vanishing gradients).

    Raises:
        ValueError: unknown activation.
    """

    def __init__(self, activation: str = "relu", ranks: Optional[Sequence[Optional[int]]] = None,
                 low_rank_batch_norm: bool = True):
        self.activation_name = check_choice(activation, ACTIVATIONS, "activation")
        self.ranks: Optional[List[Optional[int]]] = None if ranks is None else list(ranks)
        self.low_rank_batch_norm = bool(low_rank_batch_norm)
        self.num_convs = 0

    def activation(self) -> keras.layers.Layer:
        """Returns a fresh activation layer."""
        return make_activation(self.activation_name)

    def conv(self, filters: int, kernel_size: int, *, strides: int = 1, padding: str = "same",
             use_bias: bool = True, name: Optional[str] = None) -> keras.layers.Layer:
        """Returns the next k×k convolution: ``LowRankConv2D`` when its scheduled rank is set, else ``Conv2D``.

        Raises:
            ValueError: the model asks for more convolutions than the rank list holds.
        """
        index = self.num_convs
        self.num_convs += 1
        rank = None
        if self.ranks is not None:
            if index >= len(self.ranks):
                raise ValueError(
                    f"The model has more convolutions than the {len(self.ranks)} ranks given."
                )
            rank = self.ranks[index]
        if rank is None:
            return keras.layers.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                                       use_bias=use_bias, name=name)
        return LowRankConv2D(filters, kernel_size, rank, strides=(strides, strides), padding=padding,
                             use_bias=use_bias, batch_norm=self.low_rank_batch_norm,
                             batch_norm_momentum=BN_MOMENTUM, batch_norm_epsilon=BN_EPSILON, name=name)

    @staticmethod
    def batch_norm(name: Optional[str] = None) -> keras.layers.Layer:
        """Returns a BatchNormalization layer with PyTorch's momentum and epsilon."""
        return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)

    @staticmethod
    def dense(units: int, name: Optional[str] = None) -> keras.layers.Layer:
        """Returns a fully-connected layer (no activation: activations are separate layers)."""
        return keras.layers.Dense(units, name=name)

    def logits(self, num_classes: int) -> keras.layers.Layer:
        """Returns the decision layer: a Dense without softmax, computed in float32 even under a
        mixed-precision policy so that losses and attacks see float32 logits."""
        return keras.layers.Dense(num_classes, name="logits", dtype="float32")


def check_dropout(rate, default: float) -> float:
    """Returns ``default`` when ``rate`` is None, else ``rate`` checked to lie in [0, 1).

    Raises:
        ValueError: a rate outside [0, 1) or not a number.
    """
    if rate is None:
        return default
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout must be a rate in [0, 1) (or None for the model's default), got {rate!r}.")
    return float(rate)


def check_min_size(input_shape: Sequence[int], min_size: int, model_name: str, why: str) -> None:
    """Raises a clear ValueError when the images are too small for the model's downsampling."""
    if min(input_shape[0], input_shape[1]) < min_size:
        raise ValueError(
            f"{model_name} needs images of at least {min_size}×{min_size} ({why}), "
            f"got {input_shape[0]}×{input_shape[1]}."
        )
