"""LowRankConv2D against a full Conv2D with the product kernel, SVD initialisation and cost counts."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrobust.layers import LowRankConv2D, conv_complexity, low_rank_complexity, low_rank_factors


def full_conv(x, kernel, bias, strides, padding):
    conv = keras.layers.Conv2D(kernel.shape[-1], kernel.shape[:2], strides=strides, padding=padding)
    conv.build(x.shape)
    conv.set_weights([kernel, bias])
    return conv(x).numpy()


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("strides", [1, 2, (2, 1)])
def test_low_rank_conv_equals_conv_with_product_kernel(padding, strides):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 9, 10, 3)).astype(np.float32)
    layer = LowRankConv2D(5, (3, 5), rank=2, strides=strides, padding=padding)
    layer.build(x.shape)
    vertical, horizontal = rng.normal(size=(3, 1, 3, 2)), rng.normal(size=(1, 5, 2, 5))
    bias = rng.normal(size=5)
    layer.set_weights([vertical, horizontal, bias])
    # W[i, j, c, n] = sum_r V[i, c, r] H[j, r, n], written out with loops (independent of einsum).
    kernel = np.zeros((3, 5, 3, 5))
    for i in range(3):
        for j in range(5):
            kernel[i, j] = vertical[i, 0] @ horizontal[0, j]
    expected = full_conv(x, kernel.astype(np.float32), bias, strides, padding)
    out = layer(x).numpy()
    assert out.shape == expected.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.full_kernel(), kernel, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("strides,padding", [(1, "same"), (2, "same"), (2, "valid")])
def test_from_conv2d_full_rank_reproduces_the_conv(strides, padding):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(1).uniform(size=(2, 11, 11, 4)).astype(np.float32)
    conv = keras.layers.Conv2D(6, 3, strides=strides, padding=padding, activation="relu")
    conv.build(x.shape)
    conv.bias.assign(np.linspace(-0.5, 0.5, 6))
    layer = LowRankConv2D.from_conv2d(conv, rank=min(3 * 4, 3 * 6))
    expected = conv(x).numpy()
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    # A fresh BatchNorm between the factors scales by 1/sqrt(1 + 1e-3) at inference.
    with_norm = LowRankConv2D.from_conv2d(conv, rank=12, batch_norm=True)
    np.testing.assert_allclose(with_norm(x, training=False).numpy(), expected, rtol=1e-3,
                               atol=1e-3 * np.abs(expected).max())


def test_truncated_svd_error_is_the_discarded_singular_values():
    kernel = np.random.default_rng(2).normal(size=(3, 3, 4, 6))
    singular = np.linalg.svd(kernel.transpose(0, 2, 1, 3).reshape(12, 18), compute_uv=False)
    for rank in (1, 5, 12):
        vertical, horizontal = low_rank_factors(kernel, rank)
        approx = np.einsum("icr,jrn->ijcn", vertical[:, 0], horizontal[0])
        np.testing.assert_allclose(np.linalg.norm(approx - kernel), np.sqrt(np.sum(singular[rank:] ** 2)),
                                   atol=1e-10)
    with pytest.raises(ValueError, match="rank"):
        low_rank_factors(kernel, 13)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_parameter_count_is_dK_N_plus_C(batch_norm):
    k, rank, channels, filters = 3, 7, 16, 32
    layer = LowRankConv2D(filters, k, rank, batch_norm=batch_norm)
    layer.build((None, 8, 8, channels))
    expected = k * rank * (filters + channels) + filters + (4 * rank if batch_norm else 0)
    assert layer.count_params() == expected
    assert low_rank_complexity((8, 8, channels), filters, k, rank, batch_norm=batch_norm).params == expected


def test_multiply_adds_follow_tai_et_al():
    h, w, c, n, k, rank = 16, 12, 32, 64, 3, 10
    full, low = conv_complexity((h, w, c), n, k), low_rank_complexity((h, w, c), n, k, rank)
    assert full.macs == h * w * k * k * n * c and full.params == k * k * c * n + n
    assert low.macs == h * w * k * rank * (n + c)
    # Stride 2 'valid' on a 9x9 input: vertical conv on 4x9 positions, horizontal on 4x4.
    strided = low_rank_complexity((9, 9, c), n, k, rank, strides=2, padding="valid")
    assert strided.output_shape == (4, 4, n)
    assert strided.macs == 4 * 9 * k * c * rank + 4 * 4 * k * rank * n


def test_low_rank_conv_rejects_bad_input():
    with pytest.raises(ValueError, match="padding"):
        LowRankConv2D(4, 3, 2, padding="full")
    with pytest.raises(ValueError, match="rank"):
        LowRankConv2D(4, 3, 0)
    with pytest.raises(TypeError, match="Conv2D"):
        LowRankConv2D.from_conv2d(keras.layers.Dense(3), 2)
    with pytest.raises(ValueError, match="built"):
        LowRankConv2D.from_conv2d(keras.layers.Conv2D(3, 3), 2)
