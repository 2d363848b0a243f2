"""The fused KAF kernels (Horner in W, value and slope packed in one complex tensor) at their limits.

Against the float64 formula of Scardapane et al. (2019) written here in numpy: the largest
factorised dictionary (D = 23, where c_22 = exp(-22^2/6) is close to the float32 range), run as
TF ops: the same Horner formula as the XLA path, which test_layers_kaf_exact.py checks at D = 20
(an XLA compilation here would cost ~20 s of the suite). The float64 layer (complex128 packing)
is checked against finite differences in test_layers_kaf.py.
"""
import numpy as np
import tensorflow as tf

from tfrobust.layers import KAF
from tfrobust.layers import kaf as kaf_module


def _reference(x, alpha, num_points, boundary=3.0):
    """Output, input gradient and alpha gradient (upstream ``weights``) and their error scales."""
    dictionary = np.linspace(-boundary, boundary, num_points)
    gamma = 1.0 / (6.0 * (dictionary[1] - dictionary[0]) ** 2)
    difference = np.asarray(x, np.float64)[..., None] - dictionary
    kernels = np.exp(-gamma * difference**2)
    slope = -2.0 * gamma * difference * kernels
    return ((kernels * alpha).sum(-1), (kernels * np.abs(alpha)).sum(-1),
            (slope * alpha).sum(-1), (np.abs(slope * alpha)).sum(-1), kernels)


def _layer_gradients(x, alpha, weights, num_points, dtype="float32"):
    """The KAF layer's output and the gradients of sum(output * weights) for the input and alpha."""
    layer = KAF(num_points=num_points, dtype=dtype)
    layer.build(x.shape)
    layer.alpha.assign(alpha)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        out = layer(xt)
        loss = tf.reduce_sum(out * weights)
    return (out, *tape.gradient(loss, [xt, layer.alpha]))


def test_largest_factorised_dictionary_matches_float64_formula(monkeypatch):
    num_points, dtype, rtol = 23, "float32", 2e-6
    monkeypatch.setattr(kaf_module, "_KERNEL_XLA", False)
    assert num_points <= kaf_module._MAX_FACTORISED_POINTS
    rng = np.random.default_rng(7)
    s = np.concatenate([np.linspace(-12.0, 12.0, 961), [-60.0, 60.0, 1e4, -1e4]])
    x = np.stack([s, -0.7 * s], axis=-1).astype(dtype)
    weights = rng.normal(size=x.shape)
    alpha = rng.normal(size=(2, num_points))
    out, grad_x, grad_alpha = _layer_gradients(x, alpha, weights, num_points, dtype)

    value, value_scale, slope, slope_scale, kernels = _reference(x, alpha, num_points)
    tiny = 1e-37  # float32 flushes what lies below its normal range (1.2e-38), as the formula
    assert np.all(np.abs(out.numpy() - value) <= rtol * value_scale + tiny)
    # The slope is K_0 times up to |z - i| / (3 Delta) ~ 70 here: its float32 floor is ~70x higher.
    assert np.all(np.abs(grad_x.numpy() - weights * slope) <= rtol * np.abs(weights) * slope_scale + 100 * tiny)
    # measured 8.8e-7 (1.2e-6 with float64 exponentials): the slope is -(K_0 / 3)(z P - W P'), a difference that
    # rounds relative to z sum_i |a_i| W^i (z up to (D - 1) / 2 = 11); the separate sum of (z - i) a_i W^i it
    # replaced gave 4.6e-7 at twice the operations
    normal = slope_scale > 1e-30
    assert np.max(np.abs(grad_x.numpy() - weights * slope)[normal] / (np.abs(weights) * slope_scale)[normal]) < rtol
    expected_alpha = (weights[..., None] * kernels).sum(0)
    scale_alpha = (np.abs(weights)[..., None] * kernels).sum(0)
    assert np.all(np.abs(grad_alpha.numpy() - expected_alpha) <= rtol * scale_alpha)


def test_dictionaries_beyond_the_factorised_range_use_the_direct_formula():
    """D = 24: c_23 = exp(-23^2/6) is subnormal in float32, so the layer must not factorise."""
    assert kaf_module._MAX_FACTORISED_POINTS == 23
    x = np.linspace(-5.0, 5.0, 41, dtype=np.float32)[:, None]
    alpha = np.random.default_rng(8).normal(size=(1, 24))
    layer = KAF(num_points=24)
    layer.build(x.shape)
    layer.alpha.assign(alpha)
    value, value_scale, *_ = _reference(x, alpha, 24)
    assert np.max(np.abs(layer(x).numpy() - value) / value_scale) < 1e-5


def test_odd_dictionary_on_the_compiled_path_drops_the_extra_kernel(monkeypatch):
    """The compiled alpha gradient sums kernel pairs (2j, 2j + 1); an odd D computes one kernel past the end."""
    monkeypatch.setattr(kaf_module, "_KERNEL_XLA", True)
    monkeypatch.setattr(kaf_module, "_XLA_MIN_ELEMENTS", 0)
    num_points = 7
    rng = np.random.default_rng(3)
    x = rng.normal(scale=2.0, size=(64, 5)).astype("float32")
    weights = rng.normal(size=x.shape)
    alpha = rng.normal(size=(5, num_points))
    _, grad_x, grad_alpha = _layer_gradients(x, alpha, weights, num_points)
    _, _, slope, slope_scale, kernels = _reference(x, alpha, num_points)
    assert grad_alpha.shape == (5, num_points)
    scale_alpha = (np.abs(weights)[..., None] * kernels).sum(0)
    assert np.all(np.abs(grad_alpha.numpy() - (weights[..., None] * kernels).sum(0)) <= 1e-5 * scale_alpha)  # 1.4e-7
    assert np.all(np.abs(grad_x.numpy() - weights * slope) <= 1e-5 * np.abs(weights) * slope_scale)
