"""The factorised KAF against the direct formula of Scardapane et al. (2019), written here in numpy.

The reference is evaluated in float64 straight from ``sum_i alpha_i exp(-gamma (s - d_i)^2)``
and its derivatives, never through tfrobust code, over the whole real line (inside the
dictionary, far outside it, huge values, +-inf). Errors are measured relative to
``sum_i |alpha_i| K_i(s)``, the scale a float32 evaluation of the sum can resolve.
"""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrobust.layers import KAF
from tfrobust.layers import kaf as kaf_module

D, BOUNDARY = 20, 3.0
DICTIONARY = np.linspace(-BOUNDARY, BOUNDARY, D)
GAMMA = 1.0 / (6.0 * (DICTIONARY[1] - DICTIONARY[0]) ** 2)
RTOL = 1e-5


def reference_kernels(x):
    """exp(-gamma (x - d_i)^2) in float64, shape x.shape + (D,)."""
    return np.exp(-GAMMA * (np.asarray(x, np.float64)[..., None] - DICTIONARY) ** 2)


def whole_line(channels):
    """Inputs from the centre of the dictionary to +-1e4, huge values and +-inf, per channel."""
    s = np.concatenate([np.linspace(-10, 10, 4001), np.geomspace(10, 1e4, 300), -np.geomspace(10, 1e4, 300),
                        [0.0, 1e20, -1e20, 3e38, -3e38, np.inf, -np.inf]]).astype(np.float32)
    return np.repeat(s[:, None], channels, axis=1)


@pytest.fixture(params=[False, True], ids=["tf_ops", "xla"])
def kernel_path(request, monkeypatch):
    """Runs a test on the TF-op path and on the XLA-compiled path (forced for small inputs)."""
    monkeypatch.setattr(kaf_module, "_KERNEL_XLA", request.param)
    monkeypatch.setattr(kaf_module, "_XLA_MIN_ELEMENTS", 0)
    return request.param


def test_outputs_match_float64_formula_on_the_whole_real_line(kernel_path):
    rng = np.random.default_rng(0)
    x = whole_line(3)
    alpha = rng.normal(size=(3, D))
    layer = KAF()
    layer.build(x.shape)
    layer.alpha.assign(alpha)
    out = layer(x).numpy().astype(np.float64)
    kernels = reference_kernels(np.where(np.isinf(x), 0.0, x))  # inf rows handled below
    kernels[np.isinf(x)] = 0.0
    expected = (kernels * alpha).sum(-1)
    scale = (kernels * np.abs(alpha)).sum(-1)
    error = np.abs(out - expected)
    assert np.all(np.isfinite(out))
    assert np.all(error <= RTOL * scale + 1e-37), f"max relative error {np.max(error / (scale + 1e-37)):.2e}"
    # Where the sum is a normal float32: measured 9.6e-7 (the direct float32 formula: 9e-6).
    normal = scale > 1e-30
    assert np.max(error[normal] / scale[normal]) < 2e-6
    assert np.all(out[np.abs(x) > 60] == 0.0)  # every kernel underflows there, as in float64


def test_kaf_is_nan_for_nan_inputs():
    out = KAF()(np.array([[np.nan, 1.0]], np.float32)).numpy()
    assert np.isnan(out[0, 0]) and np.isfinite(out[0, 1])


def test_gradients_match_float64_formula_and_direct_autodiff(kernel_path):
    rng = np.random.default_rng(1)
    # 1,047 rows: not a multiple of the fused path's row groups; values inside and outside.
    s = np.concatenate([rng.normal(scale=2.0, size=1000), np.linspace(-9, 9, 47)])
    x = np.stack([s, -s, 0.5 * s], axis=-1).astype(np.float32)
    weights = rng.normal(size=x.shape)
    alpha = rng.normal(size=(3, D))
    layer = KAF()
    layer.build(x.shape)
    layer.alpha.assign(alpha)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(layer(xt) * weights)
    grad_x, grad_alpha = tape.gradient(loss, [xt, layer.alpha])

    kernels = reference_kernels(x)
    difference = x.astype(np.float64)[..., None] - DICTIONARY
    expected_x = weights * (alpha * kernels * (-2.0 * GAMMA) * difference).sum(-1)
    scale_x = np.abs(weights) * (np.abs(alpha * difference) * kernels).sum(-1) * 2.0 * GAMMA
    assert np.all(np.abs(grad_x.numpy() - expected_x) <= RTOL * scale_x + 1e-30)
    expected_alpha = (weights[..., None] * kernels).sum(0)
    scale_alpha = (np.abs(weights)[..., None] * kernels).sum(0)
    assert np.all(np.abs(grad_alpha.numpy() - expected_alpha) <= RTOL * scale_alpha)

    # The direct formula in float32 differentiated by TensorFlow gives the same gradients.
    alpha_var = tf.Variable(alpha, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        direct = tf.reduce_sum(tf.exp(-GAMMA * tf.square(xt[..., None] - DICTIONARY.astype(np.float32)))
                               * alpha_var, axis=-1)
        loss = tf.reduce_sum(direct * weights)
    direct_x, direct_alpha = tape.gradient(loss, [xt, alpha_var])
    np.testing.assert_allclose(grad_x.numpy(), direct_x.numpy(), rtol=1e-4, atol=1e-5 * scale_x.max())
    np.testing.assert_allclose(grad_alpha.numpy(), direct_alpha.numpy(), rtol=1e-4,
                               atol=1e-5 * scale_alpha.max())


def test_free_kaf_gradients_match_direct_autodiff():
    """KAF_Free keeps the direct path: dictionary and bandwidth gradients against autodiff."""
    rng = np.random.default_rng(2)
    x = rng.normal(scale=2.0, size=(50, 4)).astype(np.float32)
    weights = rng.normal(size=x.shape).astype(np.float32)
    layer = KAF(trainable_dictionary=True)
    layer.build(x.shape)
    layer.alpha.assign(rng.normal(size=(4, D)))
    layer.dictionary.assign(DICTIONARY + rng.normal(scale=0.1, size=D))  # no longer equispaced
    layer.log_gamma.assign(np.log(GAMMA) - 0.3)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) * weights)
    grads = tape.gradient(loss, [layer.alpha, layer.dictionary, layer.log_gamma])
    with tf.GradientTape() as tape:
        kernel = tf.exp(-tf.exp(layer.log_gamma) * tf.square(x[..., None] - layer.dictionary))
        loss = tf.reduce_sum(tf.reduce_sum(kernel * layer.alpha, -1) * weights)
    expected = tape.gradient(loss, [layer.alpha, layer.dictionary, layer.log_gamma])
    for grad, want in zip(grads, expected):
        np.testing.assert_allclose(grad.numpy(), want.numpy(), rtol=1e-4, atol=1e-4)


def test_factorised_and_direct_kernels_agree_in_a_model_and_after_loading(tmp_path, monkeypatch):
    """Same trained model, both kernels: same outputs; and a .keras round trip keeps them."""
    monkeypatch.setattr(kaf_module, "_XLA_MIN_ELEMENTS", 0)  # the XLA path, as in training
    inputs = keras.Input((6, 6, 2))
    h = KAF(init="swish")(keras.layers.Conv2D(4, 3)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(h)))
    x = np.random.default_rng(3).normal(size=(5, 6, 6, 2)).astype(np.float32)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, np.array([0, 1, 2, 0, 1]), epochs=1, verbose=0)
    factorised = model.predict(x, verbose=0)
    path = tmp_path / "kaf.keras"
    model.save(path)
    monkeypatch.setattr(kaf_module, "_KERNEL", "direct")
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), factorised, rtol=1e-5, atol=1e-5)


def test_kernel_settings_are_validated():
    with pytest.raises(ValueError, match="KAF kernel"):
        kaf_module.set_kernel("fast")
    with pytest.raises(ValueError, match="XLA"):
        kaf_module.set_kernel_xla("sometimes")


def test_large_dictionary_uses_the_direct_formula_and_stays_exact():
    """D = 50 is beyond the factorisation's float32 range; the layer must still be exact."""
    rng = np.random.default_rng(4)
    x = rng.normal(scale=3.0, size=(200, 2)).astype(np.float32)
    dictionary = np.linspace(-BOUNDARY, BOUNDARY, 50)
    gamma = 1.0 / (6.0 * (dictionary[1] - dictionary[0]) ** 2)
    layer = KAF(num_points=50)
    layer.build(x.shape)
    alpha = rng.normal(size=(2, 50))
    layer.alpha.assign(alpha)
    kernels = np.exp(-gamma * (x.astype(np.float64)[..., None] - dictionary) ** 2)
    error = np.abs(layer(x).numpy() - (kernels * alpha).sum(-1))
    assert np.all(error <= RTOL * (kernels * np.abs(alpha)).sum(-1) + 1e-30)


def test_compiled_kernels_run_on_a_bucketed_batch_with_the_same_numbers(monkeypatch):
    """XLA compiles per shape, so the compiled path pads the batch to a bucket and cuts the padding off. The
    buckets are few and waste little, and a batch of 77 (run at 80) or 5 (run at 8) of unknown size at trace
    time gives the TF-op path's outputs, input gradient and alpha gradient."""
    sizes = [kaf_module._bucket(b) for b in range(1, 2049)]
    assert all(s >= b for b, s in zip(range(1, 2049), sizes))
    assert all(s <= 1.125 * b for b, s in zip(range(65, 2049), sizes[64:]))
    assert len(set(sizes)) == 7 + 8 * 5  # 1, 2, ..., 64, then 8 sizes per octave up to 2048
    assert sizes[127] == 128 and sizes[99] == 104 and sizes[76] == 80 and sizes[4] == 8
    for b in (1, 3, 5, 64, 65, 77, 100, 129, 1000, 1025):
        assert int(kaf_module._bucket(tf.constant(b))) == kaf_module._bucket(b)

    rng = np.random.default_rng(7)
    layer = KAF(init="elu")
    layer.build((None, 3, 3, 4))
    layer.alpha.assign(layer.alpha + rng.normal(scale=0.1, size=layer.alpha.shape))
    weights = tf.constant(rng.normal(size=(1, 3, 3, 4)), tf.float32)

    def value_and_gradients(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * weights)
        return (y, *tape.gradient(loss, [x, layer.alpha]))

    monkeypatch.setattr(kaf_module, "_XLA_MIN_ELEMENTS", 0)
    for batch in (77, 5):
        x = tf.constant(rng.normal(scale=2.0, size=(batch, 3, 3, 4)), tf.float32)
        results = {}
        for xla in (False, True):
            monkeypatch.setattr(kaf_module, "_KERNEL_XLA", xla)
            run = tf.function(value_and_gradients, input_signature=[tf.TensorSpec((None, 3, 3, 4))])
            results[xla] = [t.numpy() for t in run(x)]
        assert results[True][0].shape == (batch, 3, 3, 4)
        for compiled, ops in zip(results[True], results[False]):
            np.testing.assert_allclose(compiled, ops, rtol=1e-5, atol=1e-5)  # float32 rounding of O(1) values
