"""KAF against an independent numpy evaluation of Scardapane et al.'s formula and its derivatives."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrobust.layers import KAF, make_activation

D, BOUNDARY = 20, 3.0


def numpy_kaf(x, alpha, dictionary=None, gamma=None):
    """sum_i alpha[c, i] exp(-gamma (x - d_i)^2), written directly from the paper (float64)."""
    if dictionary is None:
        dictionary = np.linspace(-BOUNDARY, BOUNDARY, D)
        gamma = 1.0 / (6.0 * (dictionary[1] - dictionary[0]) ** 2)
    x = np.asarray(x, np.float64)
    out = np.zeros_like(x)
    for i, d_i in enumerate(dictionary):
        out += alpha[:, i] * np.exp(-gamma * (x - d_i) ** 2)
    return out


@pytest.mark.parametrize("shape", [(6, 7), (2, 4, 5, 3)], ids=["dense", "conv"])
def test_kaf_matches_numpy_formula_per_channel(shape):
    rng = np.random.default_rng(0)
    x = rng.normal(scale=2.0, size=shape).astype(np.float32)
    layer = KAF()
    layer.build(shape)
    alpha = rng.normal(size=(shape[-1], D))
    layer.alpha.assign(alpha)
    np.testing.assert_allclose(layer(x).numpy(), numpy_kaf(x, alpha), rtol=1e-5, atol=1e-5)
    assert layer.alpha.shape == (shape[-1], D)
    np.testing.assert_allclose(layer.gamma.numpy(), 19.0**2 / (6 * 6.0**2), rtol=1e-6)


def _scalar_loss(layer, x, weights):
    return tf.reduce_sum(layer(x) * weights)


def _finite_difference(fn, value, h=1e-6):
    value = np.array(value, dtype=np.float64)  # 0-d arrays too (log_gamma)
    grad = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        plus, minus = value.copy(), value.copy()
        plus[index] += h
        minus[index] -= h
        grad[index] = (fn(plus) - fn(minus)) / (2 * h)
    return grad


@pytest.mark.parametrize("trainable_dictionary", [False, True], ids=["fixed", "free"])
def test_kaf_gradients_match_finite_differences(trainable_dictionary):
    rng = np.random.default_rng(1)
    x = rng.normal(scale=2.0, size=(3, 2, 2, 4))
    weights = rng.normal(size=x.shape)
    layer = KAF(trainable_dictionary=trainable_dictionary, dtype="float64")
    layer.build(x.shape)
    layer.alpha.assign(rng.normal(size=(4, D)))
    params = [layer.alpha] + ([layer.dictionary, layer.log_gamma] if trainable_dictionary else [])
    if trainable_dictionary:  # move off the default so the test does not depend on it
        layer.dictionary.assign(layer.dictionary + rng.normal(scale=0.05, size=D))
        layer.log_gamma.assign(layer.log_gamma - 0.2)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = _scalar_loss(layer, xt, weights)
    grads = tape.gradient(loss, [xt] + params)
    compiled_loss = tf.function(lambda value: _scalar_loss(layer, value, weights))  # reads the variables

    def loss_at_x(value):
        return float(compiled_loss(tf.constant(value)))

    np.testing.assert_allclose(grads[0].numpy(), _finite_difference(loss_at_x, x), rtol=1e-6, atol=1e-7)
    for param, grad in zip(params, grads[1:]):
        original = param.numpy()

        def loss_at_param(value, param=param):
            param.assign(value)
            return float(compiled_loss(xt))

        expected = _finite_difference(loss_at_param, original)
        param.assign(original)
        np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-6, atol=1e-7)


# Measured max |KAF - target| on [-3, 3] with D = 20, ridge 1e-4: relu 0.052 (at the kink),
# elu 0.017, swish 0.017; bounds are set a little above.
@pytest.mark.parametrize("target,bound", [("relu", 0.06), ("elu", 0.02), ("swish", 0.02)])
def test_ridge_initialisation_approximates_target(target, bound):
    s = np.linspace(-3, 3, 601, dtype=np.float32)
    x = np.stack([s, s], axis=-1)  # two channels: both start from the same coefficients
    out = KAF(init=target)(x).numpy()
    targets = {"relu": np.maximum(s, 0), "elu": np.where(s > 0, s, np.expm1(np.minimum(s, 0))),
               "swish": s / (1 + np.exp(-s))}
    error = np.abs(out - targets[target][:, None]).max()
    assert error < bound, f"kaf_{target} max error {error:.4f} >= {bound}"
    assert error > 1e-3  # a D = 20 Gaussian expansion is not exact: guards against comparing to itself


def test_kaf_mixed_precision_computes_in_float32():
    rng = np.random.default_rng(2)
    x = rng.normal(scale=2.0, size=(4, 3, 3, 5)).astype(np.float32)
    full = KAF(init="swish")
    half = KAF(init="swish", dtype="mixed_float16")
    reference = full(x).numpy()
    out = half(x)
    assert out.dtype == tf.float16
    assert half.alpha.dtype == tf.float32
    # The float16 input rounding (rel. 5e-4) dominates; the output rounds once more.
    np.testing.assert_allclose(out.numpy().astype(np.float32), reference, rtol=5e-3, atol=5e-3)


def test_trainable_dictionary_trains_dictionary_and_bandwidth():
    free, fixed = KAF(trainable_dictionary=True), KAF()
    x = tf.random.stateless_normal((8, 3), seed=(1, 2)) * 2
    for layer in (free, fixed):
        layer.build(x.shape)
    assert [w.name.split("/")[-1] for w in fixed.trainable_weights] == ["alpha:0"]
    assert len(free.trainable_weights) == 3
    before = [free.dictionary.numpy(), free.log_gamma.numpy()]
    optimizer = keras.optimizers.SGD(0.1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(free(x) - x))
    optimizer.apply_gradients(zip(tape.gradient(loss, free.trainable_weights), free.trainable_weights))
    assert np.abs(free.dictionary.numpy() - before[0]).max() > 1e-4
    assert abs(free.log_gamma.numpy() - before[1]) > 1e-4


def test_kaf_rejects_bad_arguments():
    with pytest.raises(ValueError, match="init"):
        KAF(init="tanh")
    with pytest.raises(ValueError, match="num_points"):
        KAF(num_points=1)
    with pytest.raises(ValueError, match="channels"):
        KAF().build((None,))


def test_make_activation_maps_names_to_layers():
    relu = make_activation("relu")
    assert isinstance(relu, keras.layers.Activation) and relu.get_config()["activation"] == "relu"
    expected = {"kaf": ("random", False), "kaf_relu": ("relu", False), "kaf_elu": ("elu", False),
                "kaf_swish": ("swish", False), "kaf_free": ("random", True)}
    for name, (init, free) in expected.items():
        layer = make_activation(name)
        assert isinstance(layer, KAF) and (layer.init, layer.trainable_dictionary) == (init, free)
    assert make_activation("kaf") is not make_activation("kaf")
    with pytest.raises(ValueError, match="activation"):
        make_activation("tanh")
