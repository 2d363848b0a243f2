"""tfrobust.layers: trainable Keras layers (tf_keras), serializable and prunable by tfmot.

- :class:`KAF`: kernel-based activation function (Scardapane et al. 2019), and
  :func:`make_activation` for the activation names of seed 002.
- :class:`LowRankConv2D`: vertical-then-horizontal low-rank convolution (Tai et al. 2016), with
  :func:`conv_complexity` / :func:`low_rank_complexity` cost counts.
- :class:`GradientReversal`: identity forward, -lambda * gradient backward (Ganin & Lempitsky 2015).

Importing this package registers the layers for ``keras.models.load_model``.
"""
from tfrobust.layers.activations import ACTIVATIONS, make_activation
from tfrobust.layers.complexity import ConvCost, conv_complexity, low_rank_complexity
from tfrobust.layers.gradient_reversal import GradientReversal, GradientReversalSchedule, ganin_lambda
from tfrobust.layers.kaf import KAF, kaf_dictionary, ridge_coefficients
from tfrobust.layers.low_rank_conv import LowRankConv2D, low_rank_factors
from tfrobust.layers.traversal import find_layers

__all__ = [
    "ACTIVATIONS", "ConvCost", "GradientReversal", "GradientReversalSchedule", "KAF",
    "LowRankConv2D", "conv_complexity", "find_layers", "ganin_lambda",
    "kaf_dictionary", "low_rank_complexity", "low_rank_factors", "make_activation",
    "ridge_coefficients",
]
