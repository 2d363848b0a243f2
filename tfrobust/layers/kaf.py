"""Kernel-based activation function (KAF), a trainable non-linearity.

Scardapane, Van Vaerenbergh, Totaro, Uncini (2019), "Kafnets: kernel-based non-parametric
activation functions for neural networks", Neural Networks 110. Used with fast adversarial
training in seed 002 (rows KAF, KAF_ReLU, KAF_ELU, KAF_Swish, KAF_Free).

For every channel ``c`` the layer applies

    KAF_c(s) = sum_i alpha[c, i] * exp(-gamma * (s - d_i)**2),    i = 1..D

with a dictionary ``d = linspace(-boundary, boundary, D)`` of step ``Delta`` and bandwidth
``gamma = 1 / (6 Delta**2)``. The mixing coefficients ``alpha`` (shape ``(channels, D)``) are
trained; one set per channel of the last axis, shared over space (convolutions) or one per unit
(dense layers).
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf
import tf_keras as keras
from tensorflow_model_optimization.sparsity.keras import PrunableLayer

from tfrobust.validation import check_choice, check_positive

KAF_INITS = ("random", "relu", "elu", "swish")

_TARGETS = {
    "relu": lambda t: np.maximum(t, 0.0),
    "elu": lambda t: np.where(t > 0, t, np.expm1(np.minimum(t, 0.0))),
    "swish": lambda t: t / (1.0 + np.exp(-t)),
}


def kaf_dictionary(num_points: int, boundary: float) -> tuple[np.ndarray, float]:
    """Returns the KAF dictionary ``linspace(-boundary, boundary, D)`` and ``gamma = 1/(6 Delta^2)``.

    Args:
        num_points: dictionary size D (>= 2).
        boundary: half-width of the dictionary interval.

    Returns:
        ``(dictionary, gamma)``: float64 array of shape ``(D,)`` and the bandwidth heuristic of
        Scardapane et al. (2019).

    Raises:
        ValueError: if ``num_points < 2`` or ``boundary <= 0``.
    """
    num_points = int(check_positive(num_points, "num_points", integer=True))
    if num_points < 2:
        raise ValueError(f"num_points must be >= 2 (a dictionary needs a step), got {num_points}.")
    boundary = check_positive(boundary, "boundary")
    dictionary = np.linspace(-boundary, boundary, num_points)
    step = dictionary[1] - dictionary[0]
    return dictionary, 1.0 / (6.0 * step**2)


def ridge_coefficients(target: str, num_points: int = 20, boundary: float = 3.0,
                       ridge: float = 1e-4) -> np.ndarray:
    """Mixing coefficients that make a KAF approximate a fixed activation (Scardapane et al. 2019).

    Solves the ridge regression ``alpha = (K + ridge * I)^-1 sigma(d)`` with
    ``K_ij = exp(-gamma (d_i - d_j)^2)`` in float64.

    Args:
        target: ``"relu"``, ``"elu"`` or ``"swish"``.
        num_points: dictionary size D.
        boundary: half-width of the dictionary interval.
        ridge: diagonal regulariser epsilon (> 0).

    Returns:
        float64 array of shape ``(D,)``.

    Raises:
        ValueError: for an unknown target or non-positive sizes.
    """
    target = check_choice(target, tuple(_TARGETS), "ridge target")
    ridge = check_positive(ridge, "ridge")
    dictionary, gamma = kaf_dictionary(num_points, boundary)
    gram = np.exp(-gamma * (dictionary[:, None] - dictionary[None, :]) ** 2)
    return np.linalg.solve(gram + ridge * np.eye(num_points), _TARGETS[target](dictionary))


def _gaussian_kernel(columns, dictionary, gamma):
    """``K[c, n, i] = exp(-gamma (x[c, n] - d_i)^2)`` for ``columns`` x of shape (C, N)."""
    return tf.exp(-gamma * tf.math.squared_difference(columns[..., None], dictionary))


def _kaf_function(trainable_dictionary: bool):
    """Builds ``f(x, alpha, dictionary, log_gamma)`` for x of shape (C, N) with a hand-written gradient.

    Channels lead so that every reduction against the kernel tensor ``K`` (C, N, D) is a batched
    matrix product over the C channels, which needs no second (C, N, D) tensor. ``K`` is not kept
    between the passes: the backward pass recomputes it from the input. So each pass builds one
    (C, N, D) tensor that is freed at its end, and only the input is saved for the backward pass;
    automatic differentiation of the formula would keep three (differences, squares, K).
    """

    @tf.custom_gradient
    def kaf(x, alpha, dictionary, log_gamma):
        gamma = tf.exp(log_gamma)
        y = tf.linalg.matvec(_gaussian_kernel(x, dictionary, gamma), alpha)

        def grad(upstream):
            kernel = _gaussian_kernel(x, dictionary, gamma)
            # dy/dx = -2 gamma sum_i alpha_i K_i (x - d_i) = -2 gamma (x * (K alpha) - K (alpha * d))
            mixed = tf.matmul(kernel, tf.stack([alpha, alpha * dictionary], axis=-1))  # (C, N, 2)
            grad_x = -2.0 * gamma * upstream * (x * mixed[..., 0] - mixed[..., 1])
            if not trainable_dictionary:
                return grad_x, tf.linalg.matvec(kernel, upstream, transpose_a=True), None, None
            # The moments sum_n g x^p K for p = 0, 1, 2 in one pass over K: each (C, D).
            weighted = tf.stack([upstream, upstream * x, upstream * x * x], axis=-1)
            moments = tf.matmul(kernel, weighted, transpose_a=True)
            m0, m1, m2 = moments[..., 0], moments[..., 1], moments[..., 2]
            grad_dictionary = 2.0 * gamma * tf.reduce_sum(alpha * (m1 - dictionary * m0), axis=0)
            # dK/dgamma = -(x - d)^2 K, and dgamma/dlog_gamma = gamma.
            grad_gamma = -tf.reduce_sum(alpha * (m2 - 2.0 * dictionary * m1 + dictionary**2 * m0))
            return grad_x, m0, grad_dictionary, grad_gamma * gamma

        return y, grad

    return kaf


@keras.utils.register_keras_serializable(package="tfrobust")
class KAF(keras.layers.Layer, PrunableLayer):
    """Kernel-based activation function with per-channel mixing coefficients.

    Scardapane et al. (2019), "Kafnets: kernel-based non-parametric activation functions for
    neural networks": ``KAF_c(s) = sum_i alpha[c, i] exp(-gamma (s - d_i)^2)``, dictionary
    ``d = linspace(-boundary, boundary, D)``, ``gamma = 1 / (6 Delta^2)``.

    ``alpha`` has shape ``(channels, D)``, built from the last input axis: one set per channel
    of a convolution (shared over space) or per unit of a dense layer.

    With ``trainable_dictionary=True`` (the "KAF_Free" row of seed 002) the dictionary ``d``
    (one shared ``(D,)`` vector per layer) and the bandwidth are trained too. The bandwidth is
    stored as ``log_gamma`` so that ``gamma = exp(log_gamma)`` stays positive.

    Cost: for an input of N = batch * spatial positions and C channels, O(N C D) time, and
    memory: each pass (forward, backward) builds one float32 (C, N, D) kernel tensor,
    4 N C D bytes (128x32x32x16 with D = 20: 168 MB), freed at the end of the pass; only the
    input is kept from the forward to the backward pass, so a network of KAF layers holds
    O(N C) per layer like ReLU, at the price of computing the Gaussians twice. Without XLA one
    more temporary of that size lives while the kernel tensor is formed. The gradient is written
    by hand (checked against finite differences in the tests); second derivatives through this
    layer are not supported.

    Mixed precision: inputs are cast to the variable dtype (float32 under ``mixed_float16``),
    the function is evaluated there and the result is cast back to the compute dtype, because
    ``exp(-gamma (s - d)^2)`` summed over 20 terms loses too much in float16.

    Pruning (tensorflow-model-optimization): ``get_prunable_weights()`` returns ``[]``; the
    coefficients shape an activation per channel, they are not connections between units.

    Args:
        num_points: dictionary size D (seed 002: 20).
        boundary: the dictionary spans ``[-boundary, boundary]``.
        init: ``"random"`` (normal with std ``init_std``) or ``"relu"``, ``"elu"``, ``"swish"``
            (ridge regression, the same coefficients for every channel).
        trainable_dictionary: also train the dictionary and the bandwidth.
        ridge: diagonal regulariser of the ridge-regression initialisation.
        init_std: standard deviation of the random initialisation.
        **kwargs: standard Keras layer arguments (``name``, ``dtype``, ...).

    Raises:
        ValueError: for an unknown ``init`` or non-positive sizes.

    Example:
        >>> h = keras.layers.Conv2D(16, 3)(inputs)
        >>> h = KAF(init="relu")(h)
    """

    def __init__(self, num_points: int = 20, boundary: float = 3.0, init: str = "random",
                 trainable_dictionary: bool = False, ridge: float = 1e-4, init_std: float = 0.3,
                 **kwargs):
        super().__init__(**kwargs)
        dictionary, gamma = kaf_dictionary(num_points, boundary)
        self.num_points = int(num_points)
        self.boundary = float(boundary)
        self.init = check_choice(init, KAF_INITS, "KAF init")
        self.trainable_dictionary = bool(trainable_dictionary)
        self.ridge = check_positive(ridge, "ridge")
        self.init_std = check_positive(init_std, "init_std")
        self._initial_dictionary = dictionary
        self._initial_log_gamma = math.log(gamma)
        self._kaf = _kaf_function(self.trainable_dictionary)

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank is None or input_shape.rank < 2 or input_shape[-1] is None:
            raise ValueError("KAF needs inputs of shape (batch, ..., channels) with a known number "
                             f"of channels; got shape {input_shape}.")
        channels = int(input_shape[-1])
        if self.init == "random":
            alpha_init = keras.initializers.RandomNormal(stddev=self.init_std)
        else:
            alpha = ridge_coefficients(self.init, self.num_points, self.boundary, self.ridge)
            alpha_init = keras.initializers.Constant(np.tile(alpha, (channels, 1)))
        # experimental_autocast=False: read the float32 variables under mixed precision.
        self.alpha = self.add_weight("alpha", shape=(channels, self.num_points),
                                     initializer=alpha_init, experimental_autocast=False)
        if self.trainable_dictionary:
            self.dictionary = self.add_weight(
                "dictionary", shape=(self.num_points,),
                initializer=keras.initializers.Constant(self._initial_dictionary),
                experimental_autocast=False)
            self.log_gamma = self.add_weight(
                "log_gamma", shape=(), initializer=keras.initializers.Constant(self._initial_log_gamma),
                experimental_autocast=False)
        else:
            # Plain numpy values: a tensor made here could belong to a graph that build ran in.
            self.dictionary = self._initial_dictionary
            self.log_gamma = np.float64(self._initial_log_gamma)
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: channels})
        super().build(input_shape)

    @property
    def gamma(self) -> tf.Tensor:
        """The kernel bandwidth ``gamma`` (a tensor; trained when ``trainable_dictionary``)."""
        return tf.exp(tf.cast(self.log_gamma, self.dtype))

    def call(self, inputs):
        compute_dtype = self.dtype  # the variable dtype: float32 also under mixed precision
        x = tf.cast(inputs, compute_dtype)
        shape = tf.shape(x)
        columns = tf.transpose(tf.reshape(x, (-1, self.alpha.shape[0])))  # (C, N)
        y = self._kaf(columns, tf.convert_to_tensor(self.alpha),
                      tf.cast(self.dictionary, compute_dtype), tf.cast(self.log_gamma, compute_dtype))
        return tf.cast(tf.reshape(tf.transpose(y), shape), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_prunable_weights(self):
        """No prunable weights: the coefficients define per-channel activations, not connections."""
        return []

    def get_config(self):
        config = super().get_config()
        config.update(num_points=self.num_points, boundary=self.boundary, init=self.init,
                      trainable_dictionary=self.trainable_dictionary, ridge=self.ridge,
                      init_std=self.init_std)
        return config
