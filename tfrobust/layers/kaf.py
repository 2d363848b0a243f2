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

Fast exact evaluation (fixed dictionary). With the equispaced dictionary ``d_i = d_0 + i Delta``
and ``gamma Delta^2 = 1/6``, write ``z = (s - d_0) / Delta`` (the input in dictionary steps). Then

    exp(-gamma (s - d_i)^2) = exp(-(z - i)^2 / 6) = K_0 * c_i * W^i,
    K_0 = exp(-z^2 / 6),   W = exp(z / 3),   c_i = exp(-i^2 / 6),

so the D Gaussians of one element cost two exponentials instead of D, and the whole expansion is
a polynomial in W evaluated by Horner's rule, one multiply-add per coefficient:

    KAF(s) = K_0 * sum_i a_i W^i,      a_i = c_i alpha_i,
    dKAF/ds = -(K_0 / (3 Delta)) * sum_i (z - i) a_i W^i.

Three things keep it exact in float32 over the whole real line:

- Mirror: the dictionary is symmetric (``d_i = -d_{D-1-i}``), so ``KAF(s)`` with coefficients
  ``alpha`` equals ``KAF(-s)`` with the reversed coefficients. Every element is mapped to
  ``-|s|``, i.e. onto the left half of the dictionary or beyond its left end: there
  ``z <= (D - 1) / 2``, so ``K_0 >= exp(-((D - 1)/2)^2 / 6)`` (``e^-15`` for D = 20) and
  ``W <= exp((D - 1) / 6)``; far outside the dictionary ``W -> 0`` makes every higher term vanish
  with the true kernels (no ``0 * inf``).
- Float64 exponents: ``z`` and the exponents ``-z^2 / 6`` and ``z / 3`` are computed in float64.
  Far outside the dictionary ``z^2 / 6`` reaches ~100 before the kernels underflow; rounded in
  float32 that exponent alone would cost ~1e-5 relative (the direct float32 formula has this
  error: measured 9e-6). The exponentials are float32 ones that carry the exponent's rounding
  error, ``exp(e) = exp(e_hi) (1 + e_lo)`` (:func:`_split_exp`): a float64 exponential costs
  several float32 ones (forward 9.3 -> 6.3 ms on 2M elements, with the coefficients ``c_i alpha_i``
  formed once per call instead of per element), for about one more float32 rounding of ``W``.
- Range: ``c_{D-1} = exp(-(D - 1)^2 / 6)`` and the partial sums (at most ``1 / K_0`` times the
  scale of the result) must stay normal float32 numbers, which holds for D <= 23
  (``_MAX_FACTORISED_POINTS``; ``c_22 = 2.5e-36``); larger dictionaries use the direct formula.

Measured against float64 (tests): error below 1e-6 of ``sum_i |alpha_i| K_i`` for s in
[-1e4, 1e4] and at +-1e20, +-3e38, +-inf (where the result is 0); input gradient below 2.1e-6 of
``sum_i |alpha_i (s - d_i)| K_i 2 gamma`` (from ``z P - W P'``, see ``forward_and_slope``); alpha
gradient below 1.3e-7 of ``sum_n |upstream_n| K_i(s_n)``. (With float64 exponentials: output
5.2e-7; now 9.6e-7. The input gradient stayed at 1.4e-6 compiled and 2.1e-6 as TF ops.)
No truncation is needed: a kernel weight ``exp(-m^2/6)`` drops below float32 resolution
(2^-24 ~ 6e-8) only beyond m ~ 10 dictionary steps (at m = 8 it is still 2.3e-5), i.e. after
about the whole D = 20 dictionary, so all D terms are kept and the result equals the direct
formula up to rounding.

Fusion: each element-wise step as a separate TF op is memory-bound, so the activation runs as two
XLA-compiled functions (``jit_compile=True``; on CPU too, while the rest of the model stays
un-jitted; see :func:`set_kernel_xla`). Inputs whose size is known when the layer is traced and
below ``_XLA_MIN_ELEMENTS`` (65,536) run the same formulas as TF ops (an XLA compilation costs
seconds per shape). An input of unknown size (a ``None`` batch dimension, as in ``fit`` and the
attacks) always runs compiled, with its batch padded by zero rows to one of a few sizes
(:func:`_bucket`) so that the compilations stay few. (It used to choose at run time between both
versions with a ``tf.cond``; every graph of every new model then held both, and building them
cost more: seed-002 VGG-like, KAF_ReLU, the second model of a process, 2 cores under load, first
call of PGD-10 on 500 images 16.0 s -> 7.2 s, of AutoAttack on 50 images 38.4 s -> 19.2 s.)
What decided the design (measured on a 2-core CPU, 2M elements):

- XLA:CPU emits one loop per fusion output and never fuses sibling outputs, so the forward value
  and ``dy/dx`` are returned as the real and imaginary parts of ONE complex tensor, both from the
  same Horner loop; the backward's input gradient is then ``upstream * imag``. (Two real outputs
  ran two loops: 40 ms instead of 19 ms.)
- The coefficients enter transposed, ``alpha^T`` of shape (D, C), because the compiled loop is
  vectorised over the channel axis: a row of ``alpha^T`` is one vector load, a column
  ``alpha[:, i]`` one scalar load and insert per lane (forward 25 ms -> 15.5 ms).
- The alpha gradient ``sum_n upstream_n K_i(x_n)`` is one sum over all elements per
  coefficient. XLA:CPU does not fuse a reduction over the major axis with its producer, and
  without multi-output fusion the D sums cannot share one pass over the factorised kernels
  (D separate reductions: 57 ms). It is an element-wise loop over a complex (N / 16, D / 2, C)
  array that adds 16 row slabs' kernel pairs: ``upstream * exp(-(z - 2j)^2 / 6)`` (one exponential
  per pair) as the real part and that times ``W exp(-(4j + 1) / 6)`` (kernel 2j + 1) as the imaginary
  part, then a small reduction: 30 ms under load with one exponential per kernel, now 9.5 ms idle.

No (N, C, D) tensor is ever stored; the forward keeps the input and the packed (value, slope)
tensor for the backward. A trainable dictionary (``trainable_dictionary=True``, KAF_Free) need not
stay equispaced or tied to gamma, so it cannot use the factorisation: it keeps the direct formula
(one exponential per kernel) with its own hand-written gradient.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import tensorflow as tf
import tf_keras as keras
from tensorflow_model_optimization.sparsity.keras import PrunableLayer

from tfrobust import config
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
        # Unrecorded by an eager GradientTape, which would otherwise keep K for a gradient the custom one replaces.
        x, alpha, dictionary, log_gamma = (tf.stop_gradient(t) for t in (x, alpha, dictionary, log_gamma))
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


# ----------------------------------------------------------------- fast path (fixed dictionary)
KERNELS = ("factorised", "direct")
_KERNEL = "factorised"
_KERNEL_XLA: config.XlaSetting = True
# Below z = -1e4 (the input 1e4 dictionary steps left of d_0) every kernel is exp(-1.6e7) = 0 in
# float32 and float64; flooring z there keeps inf inputs finite (output 0, no inf * 0).
_Z_FLOOR = -1.0e4
# Every kernel exp(-(z - i)^2 / 6) is 0 in float32 (below exp(-103)) more than 25 steps from d_i: the fused
# alpha gradient clips z to [-30, D - 1 + 30], which keeps W = exp(z / 3) finite and changes no kernel.
_KERNEL_ZERO_STEPS = 30.0
_MAX_FACTORISED_POINTS = 23  # c_22 = exp(-22^2 / 6) = 2.5e-36 stays a normal float32
# XLA compiles each new input shape once (seconds on a 2-core CPU), which pays off only on large
# tensors; smaller ones of a size known at trace time run the same formula as TF ops.
_XLA_MIN_ELEMENTS = 1 << 16
_POWER_OF_TWO_BATCHES = 64  # batches up to this size are padded to a power of two, larger ones to 8 sizes/octave
_ROW_GROUPS = 16  # slabs summed element-wise in the fused alpha gradient (8, 16, 32 measured alike)


def _bucket(batch):
    """The batch size a compiled KAF runs ``batch`` examples at (a Python int or an int32 scalar tensor).

    XLA compiles once per input shape, and evaluation meets many batch sizes: an attack with early stop runs
    the still-unfooled examples of each batch, so nearly every call has a new size, and each costs one
    compilation per KAF layer shape. Padding the batch with zero rows bounds the compilations (seed-002
    VGG-like, KAF_ReLU, the second model of a process, 2 cores under load, first call against the same call
    again: PGD-10 on 500 images 16.0 s / 3.2 s exact, 11.5 s / 3.3 s bucketed; AutoAttack on 50 images 38.4 s /
    14.3 s exact, 31.5 s / 16.0 s bucketed). Batches up to 64 are padded to the next power of two (their
    compute is small), larger ones to a multiple of 2^(floor(log2 batch) - 3), i.e. 8 sizes per octave and at
    most 12.5% padding. Powers of two and their small multiples (32, 100 ->
    104, 128, 256) are kept or padded little, so training batches pay almost nothing. The compiled functions
    are shared by all KAF layers of one dictionary, so the buckets are compiled once per process.
    """
    if isinstance(batch, int):
        power = 1 << max(batch - 1, 0).bit_length()
        if batch <= _POWER_OF_TWO_BATCHES:
            return power
        unit = power // 16
        return -(-batch // unit) * unit
    shifted = batch - 1
    for shift in (1, 2, 4, 8, 16):
        shifted = tf.bitwise.bitwise_or(shifted, tf.bitwise.right_shift(shifted, shift))
    power = tf.maximum(shifted + 1, 1)
    unit = tf.maximum(power // 16, 1)
    return tf.where(batch <= _POWER_OF_TWO_BATCHES, power, (batch + unit - 1) // unit * unit)


def set_kernel_xla(setting: config.XlaSetting) -> None:
    """Chooses whether the fixed-dictionary KAF runs as XLA-compiled kernels.

    Default ``True``, also on CPU: the activation is fused into one compiled forward and one
    compiled backward function while the rest of the model keeps the global
    :mod:`tfrobust.config` setting. ``False`` runs the same factorised formula as separate TF
    ops (slower; for platforms without XLA). ``"auto"``: on only with a GPU. Affects layers
    called (traced) after the change.

    Args:
        setting: ``True``, ``False`` or ``"auto"``.

    Raises:
        ValueError: for any other value.
    """
    global _KERNEL_XLA
    config.use_xla(setting)  # validates
    _KERNEL_XLA = setting


def set_kernel(kind: str) -> None:
    """Chooses how a fixed-dictionary KAF is evaluated: ``"factorised"`` (default) or ``"direct"``.

    ``"direct"`` is the formula with one exponential per kernel (the implementation before the
    factorisation, kept for KAF_Free); benchmarks use it as the baseline. Affects layers called
    (traced) after the change.

    Args:
        kind: ``"factorised"`` or ``"direct"``.

    Raises:
        ValueError: for any other value.
    """
    global _KERNEL
    _KERNEL = check_choice(kind, KERNELS, "KAF kernel")


def kernel_xla() -> bool:
    """Whether the fixed-dictionary KAF currently runs as XLA-compiled kernels."""
    return config.use_xla(_KERNEL_XLA)


def _split_exp(exponent, dtype):
    """``exp(exponent)`` of a float64 exponent as float32 exponentials: ``exp(hi) * (1 + lo)``.

    ``hi`` is the exponent rounded to ``dtype`` and ``lo`` its rounding error, so the result is
    exact to first order in ``lo`` (``|lo| <= 2^-24 |exponent|``): as accurate as a float64
    exponential rounded to float32 up to about one float32 rounding, for the cost of a float32 one.
    """
    high = tf.cast(exponent, dtype)
    low = tf.cast(exponent - tf.cast(high, exponent.dtype), dtype)
    return tf.exp(high) * (1.0 + low)


@functools.lru_cache(maxsize=None)
def _uniform_kaf_function(num_points: int, boundary: float, dtype: str, xla: bool):
    """Builds ``f(x, alpha)`` for x of shape (N, C), alpha (C, D), on the fixed dictionary.

    See the module docstring for the factorisation. One function per (D, boundary, dtype, xla),
    shared by all layers; XLA compiles it once per input shape.
    """
    size = num_points
    step = 2.0 * boundary / (size - 1)
    # c_i = exp(-i^2 / 6) = prod_{j<=i} r_j: kernel i is K_0 c_i W^i.
    powers = [float(np.exp(-i * i / 6.0)) for i in range(size)]
    ratios = [float(np.exp(-(2 * i - 1) / 6.0)) for i in range(size)]  # r_i (TF-op alpha gradient)
    slope_scale = 1.0 / (3.0 * step)  # 2 gamma Delta

    def mirrored(x):
        """Mirror flag, z = (-|x| - d_0) / Delta, K_0 = exp(-z^2/6) and W = exp(z/3)."""
        right = x > 0.0
        # z and the two exponents in float64: far outside the dictionary z^2 / 6 reaches ~100
        # before the kernels underflow, and float32 would round that exponent alone to ~1e-5
        # relative (as the direct float32 formula does). The exponentials themselves are float32
        # (a float64 one costs several times more): exp(e) = exp(e_hi) (1 + e_lo) with e_hi the
        # exponent rounded to float32 and e_lo = e - e_hi its rounding error (|e_lo| <= 2^-24 |e|,
        # at most 6e-6 where exp(e) is a normal float32, so the dropped e_lo^2 / 2 is below 2e-11).
        wide = tf.cast(x, tf.float64)
        z = tf.maximum((boundary - tf.abs(wide)) * (1.0 / step), _Z_FLOOR)
        return right, tf.cast(z, dtype), _split_exp(tf.square(z) * (-1.0 / 6.0), dtype), _split_exp(
            z * (1.0 / 3.0), dtype)

    def forward_and_slope(x, alpha_t):
        """``y + i * dy/dx`` as one complex tensor: both from one loop over the elements.

        ``alpha_t`` is alpha transposed, (D, C): row i is contiguous over the channels, so that the
        compiled loop (vectorised over the channel axis) loads each coefficient row as a vector;
        a column ``alpha[:, i]`` is strided and would cost one scalar load per lane. With
        ``P(W) = sum_i a_i W^i``, ``a_i = c_i alpha'_i`` (alpha' reversed for mirrored elements):
        ``y = K_0 P(W)`` and ``dy/dz = -(K_0 / 3) sum_i (z - i) a_i W^i = -(K_0 / 3) (z P(W) - W P'(W))``,
        with P and P' from one Horner loop (``P' <- P' W + P``, ``P <- P W + a_i``: two multiply-adds
        per coefficient instead of four operations for a separate ``sum_i (z - i) a_i W^i``). The
        difference ``z P - W P'`` rounds relative to ``z sum_i |a_i| W^i`` rather than to
        ``sum_i |z - i| |a_i| W^i``: measured 2e-6 of the latter's scale (tests: 1e-5). XLA:CPU makes
        one loop per fusion output, so two real outputs would run (and load the coefficients) twice;
        the real and imaginary parts of one complex output come from one loop.
        """
        right, z, k0, w = mirrored(x)
        last = size - 1
        # a_i for both orders, (D, C) each, formed once per call rather than per element.
        scales = tf.constant(np.reshape(powers, (size, 1)), dtype)
        left_coefficients, right_coefficients = alpha_t * scales, tf.reverse(alpha_t, [0]) * scales

        def coefficient(i):
            return tf.where(right, right_coefficients[i], left_coefficients[i])

        value, derivative = coefficient(last), None
        for i in range(last - 1, -1, -1):
            derivative = value if derivative is None else derivative * w + value
            value = value * w + coefficient(i)
        # d/ds at s = -|x| is -slope_scale * K_0 * (z P - W P'); ds/dx = -1 left, +1 right (mirrored).
        slope = tf.where(right, k0, -k0) * (z * value - w * derivative) * slope_scale
        return tf.complex(k0 * value, slope)

    def kernels(x):
        """Mirror flag and the D kernels exp(-gamma (-|x| - d_i)^2), each shaped like x."""
        right, _, kernel, w = mirrored(x)
        values = [kernel]
        for i in range(1, size):
            kernel = kernel * (w * ratios[i])
            values.append(kernel)
        return right, values

    def alpha_gradient_by_ops(x, upstream):
        """sum_n upstream_n K_i(x_n) from the factorised kernels, one reduction per coefficient."""
        right, values = kernels(x)
        upstream_right = tf.where(right, upstream, 0.0)
        upstream_left = upstream - upstream_right
        # Mirrored elements (x > 0) contributed their K_i to coefficient D-1-i.
        return tf.stack([tf.reduce_sum(upstream_left * values[i] + upstream_right * values[size - 1 - i],
                                       axis=0) for i in range(size)], axis=-1)

    pairs = (size + 1) // 2  # an odd D computes one kernel past the end and drops it
    # K_{2j+1} = K_{2j} * W * q_j with W = exp(z / 3), q_j = exp(-(4j + 1) / 6): (z-2j-1)^2 = (z-2j)^2 - 2(z-2j) + 1
    odd_ratios = np.exp(-(4.0 * np.arange(pairs) + 1.0) / 6.0)

    def alpha_gradient_fused(x, upstream):
        """The same sum as one vectorised XLA loop over coefficient pairs, one exponential per pair.

        XLA:CPU makes one loop per fusion output and does not fuse a reduction over the major axis
        with its producer, so the D sums cannot share one pass over the factorised kernels. Here
        ``z`` is computed once and clipped to [-30, D + 29], beyond which every kernel is already 0
        in float32 (exp(-150)); ``W = exp(z / 3)`` once per element. The N rows are split into ``_ROW_GROUPS``
        slabs, and one element-wise loop over a complex (N / groups, D / 2, C) array (channels
        innermost and contiguous; the pairs of one row next to each other, so that the row's z, W and
        upstream are read from cache for every pair) adds the slabs' even kernel
        ``upstream * exp(-(z - 2j)^2 / 6)`` as the real part and the odd one, that value times
        ``W q_j``, as the imaginary part (one loop output carrying two sums); a small reduction
        finishes them. Measured (2M elements, D = 20, 2 idle cores): 9.5 ms, against 10.7 ms with the
        pair axis first (every pair re-reads all rows), 11.6 ms with one exponential per kernel (real
        output over (D, N / groups, C)), 86 ms for the same sum with the coefficient axis last (a
        168 MB broadcast of ``z - i`` was materialised) and 57 ms for D reductions over the factorised
        kernels (under load).
        """
        padding = (-tf.shape(x)[0]) % _ROW_GROUPS  # zero upstream rows add nothing
        x = tf.pad(x, [[0, padding], [0, 0]])
        upstream = tf.pad(upstream, [[0, padding], [0, 0]])
        # z = (x - d_0) / Delta in float32 (float64 cost 0.8 ms more): its rounding, ~1.2e-7 |z| with |z| <= D + 29,
        # changes exp(-(z - i)^2 / 6) by ~4e-8 |z - i| |z| relative, which is large only where that kernel is tiny
        # (measured: alpha gradient within 3e-8 of its scale on [-10, 10], tests 1e-5).
        z = tf.clip_by_value((x + boundary) * (1.0 / step), -_KERNEL_ZERO_STEPS, size - 1 + _KERNEL_ZERO_STEPS)
        w = tf.exp(z * (1.0 / 3.0))
        channels = x.shape[1]
        z, w, upstream = (tf.reshape(t, (_ROW_GROUPS, -1, 1, channels)) for t in (z, w, upstream))
        even_index = tf.reshape(tf.range(0, 2 * pairs, 2, dtype=dtype), (1, pairs, 1))
        ratios_odd = tf.constant(odd_ratios.reshape(1, pairs, 1), dtype)

        def slab(group):
            even = upstream[group] * tf.exp(tf.square(z[group] - even_index) * (-1.0 / 6.0))
            return tf.complex(even, even * w[group] * ratios_odd)

        total = slab(0)  # (N / groups, pairs, C): all pairs of a row while its z, W and upstream are in cache
        for group in range(1, _ROW_GROUPS):
            total += slab(group)
        total = tf.reduce_sum(total, axis=0)  # (pairs, C)
        interleaved = tf.reshape(tf.stack([tf.math.real(total), tf.math.imag(total)], axis=1), (2 * pairs, channels))
        return tf.transpose(interleaved[:size])

    plain = [tf.function(fn) for fn in (forward_and_slope, alpha_gradient_by_ops)]
    if not xla:
        compiled = plain
    else:
        compiled = [tf.function(fn, jit_compile=True) for fn in (forward_and_slope, alpha_gradient_fused)]

    def run(index, x, *args):
        """Calls function ``index``: compiled for large inputs, as TF ops for small ones."""
        if compiled is plain:
            return plain[index](x, *args)
        elements = x.shape.num_elements()
        if elements is not None:
            return (compiled if elements >= _XLA_MIN_ELEMENTS else plain)[index](x, *args)
        return compiled[index](x, *args)

    @tf.custom_gradient
    def kaf(x, alpha):
        # The forward keeps dy/dx (the imaginary part) for the backward: the input gradient is
        # then one product, and the alpha gradient reads only x and the upstream gradient.
        # (Recomputing the slope in the backward instead, with P' in a second Horner loop, was
        # faster for the activation alone, 16.2 -> 14.3 ms wall on 2M elements, but slower inside
        # a model: ResNet20 training step 422 -> 455 ms.)
        # stop_gradient: an eager GradientTape would otherwise record the compiled call, and
        # TensorFlow then returns every intermediate of it for a gradient that the custom one
        # replaces (35 float tensors of the input's size, the XLA loop split at each; eager
        # forward + backward 80 -> 25 ms on 2M elements).
        x = tf.stop_gradient(x)
        packed = run(0, x, tf.stop_gradient(tf.transpose(alpha)))

        def grad(upstream):
            return upstream * tf.math.imag(packed), run(1, x, upstream)

        return tf.math.real(packed), grad

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

    Evaluation (fixed dictionary, D <= 23): the factorised kernels of the module docstring, two
    exponentials and O(D) multiply-adds per element instead of D exponentials, exact to the
    direct formula (tested against float64 over the whole real line). Inputs of at least 65,536
    elements run as XLA-compiled forward and backward functions (compiled once per input shape,
    a few seconds on a 2-core CPU), smaller ones as TF ops; see :func:`set_kernel_xla` and
    :func:`set_kernel`. The forward keeps the input and its value-and-slope tensor (3 floats
    per element) for the backward pass, and no (N, C, D) tensor is ever stored, so a network of
    KAF layers holds O(N C) per layer like ReLU (which keeps 1 float per element).

    KAF_Free (``trainable_dictionary=True``): the direct formula. Each pass (forward, backward)
    builds one float32 (C, N, D) kernel tensor, 4 N C D bytes (128x32x32x16 with D = 20:
    168 MB), freed at the end of the pass, at the price of computing the Gaussians twice.

    Both gradients are written by hand (checked against finite differences and the direct
    formula's autodiff in the tests); second derivatives through this layer are not supported.

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
        if (not self.trainable_dictionary and _KERNEL == "factorised"
                and self.num_points <= _MAX_FACTORISED_POINTS):
            xla = kernel_xla()
            kaf = _uniform_kaf_function(self.num_points, self.boundary, compute_dtype, xla)
            alpha = tf.convert_to_tensor(self.alpha)
            # Compiled, the batch is padded with zero rows to a bucket (_bucket) and the padding cut off again;
            # the padded rows get a zero upstream gradient, so they add nothing to the alpha gradient.
            padding = 0
            if xla and x.shape.rank:
                batch = x.shape[0] if x.shape[0] is not None else shape[0]
                padding = _bucket(batch) - batch
            if isinstance(padding, int) and padding == 0:  # TF ops, or a static batch at a bucket: no copies
                y = kaf(tf.reshape(x, (-1, self.alpha.shape[0])), alpha)
                return tf.cast(tf.reshape(y, shape), self.compute_dtype)
            padded = tf.pad(x, [[0, padding]] + [[0, 0]] * (x.shape.rank - 1))
            y = kaf(tf.reshape(padded, (-1, self.alpha.shape[0])), alpha)
            y = tf.slice(tf.reshape(y, tf.shape(padded)), tf.zeros_like(shape), shape)
            return tf.cast(y, self.compute_dtype)
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
