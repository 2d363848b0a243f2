"""Generator G and value network V of seed 000: architecture, formulas, fitting, pretraining."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrobust.hypernet import Generator, ValueNetwork, pretrain_generator, sample_latent


def _leaky(h, slope):
    return np.where(h > 0, h, slope * h)


def _mlp_numpy(dense_layers, x, slope):
    h = x
    for layer in dense_layers:
        kernel, bias = (w.numpy().astype(np.float64) for w in layer.weights)
        h = h @ kernel + bias
        if layer is not dense_layers[-1]:
            h = _leaky(h, slope)
    return h


def test_generator_matches_seed_architecture_and_formula():
    keras.utils.set_random_seed(0)
    big = Generator(20522)
    widths = [layer.units for layer in big.hidden] + [big.out.units]
    assert widths == [32, 128, 512, 20522]
    expected_params = (2 * 32 + 32) + (32 * 128 + 128) + (128 * 512 + 512) + (512 * 20522 + 20522) + 20522
    assert big.count_params() == expected_params

    gen = Generator(40, output_scale="per_output", scale_init=0.5)
    gen.scale.assign(np.linspace(0.1, 2.0, 40).astype(np.float32))
    s = sample_latent(5, seed=1).numpy()
    assert s.min() >= -10 and s.max() <= 10
    expected = np.tanh(_mlp_numpy(gen.hidden + [gen.out], s.astype(np.float64), 0.07)) * np.linspace(0.1, 2.0, 40)
    np.testing.assert_allclose(gen(s).numpy(), expected, rtol=1e-4, atol=1e-5)

    plain = Generator(40, output_scale="none")
    assert np.abs(plain(s * 100).numpy()).max() <= 1.0


def test_generator_config_round_trip_and_bad_arguments():
    gen = Generator(30, hidden_units=(8, 16), output_scale="scalar", scale_init=0.3)
    clone = Generator.from_config(gen.get_config())
    clone.set_weights(gen.get_weights())
    s = sample_latent(4, seed=2)
    np.testing.assert_allclose(clone(s).numpy(), gen(s).numpy(), atol=1e-6)
    assert clone.scale.shape == () and clone.hidden_units == (8, 16)
    with pytest.raises(ValueError, match="output_scale"):
        Generator(30, output_scale="huge")
    with pytest.raises(ValueError, match="output_size"):
        Generator(0)
    with pytest.raises(ValueError, match="margin"):
        gen.set_output_scale(np.ones(30), [(30,)], margin=0.5)


def test_set_output_scale_is_per_weight_tensor():
    gen = Generator(6, hidden_units=(4,))
    ref = np.array([0.1, -0.4, 0.2, 2.0, -1.0, 0.5], np.float32)
    scale = gen.set_output_scale(ref, [(3,), (3,)], margin=2.0)
    np.testing.assert_allclose(scale, [0.8, 0.8, 0.8, 4.0, 4.0, 4.0])
    np.testing.assert_allclose(gen.scale.numpy(), scale)


def test_value_network_formula_and_config():
    keras.utils.set_random_seed(0)
    value = ValueNetwork(50)
    assert [layer.units for layer in value.hidden] + [value.out.units] == [512, 32, 2]
    theta = np.random.default_rng(0).normal(size=(3, 50))
    expected = 1.0 / (1.0 + np.exp(-_mlp_numpy(value.hidden + [value.out], theta, 0.02)))
    np.testing.assert_allclose(value(theta.astype(np.float32)).numpy(), expected, rtol=1e-4, atol=1e-6)
    clone = ValueNetwork.from_config(value.get_config())
    assert clone.input_size == 50 and clone.negative_slope == 0.02


def test_value_network_fits_a_known_function_of_theta():
    """V learns (sigmoid(w1·θ), sigmoid(w2·θ)) for θ on a 3-D manifold, as G's samples are (2-D in the seed)."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    dim = 2000
    center = rng.normal(0, 0.1, dim)
    basis = rng.normal(0, 0.05, (3, dim))
    w = rng.normal(0, 1, (dim, 2))
    w /= np.std(basis @ w, axis=0) * np.sqrt(3) / 1.5  # w·θ varies with std ~1.5 over the manifold

    def sample(n):
        theta = center + rng.normal(size=(n, 3)) @ basis
        logits = (theta - center) @ w
        return theta.astype(np.float32), (1 / (1 + np.exp(-logits))).astype(np.float32)

    x_train, y_train = sample(512)
    x_test, y_test = sample(256)
    value = ValueNetwork(dim)
    value.compile(keras.optimizers.Adam(3e-4), "mse")
    before = value.evaluate(x_test, y_test, verbose=0)
    value.fit(x_train, y_train, batch_size=32, epochs=8, verbose=0)
    after = value.evaluate(x_test, y_test, verbose=0)
    baseline = float(np.mean((y_test - y_train.mean(axis=0)) ** 2))  # predicting the mean
    assert baseline > 0.02
    assert after < 0.1 * baseline < before


def test_pretraining_fits_the_generator_to_a_weight_vector():
    keras.utils.set_random_seed(0)
    target = np.random.default_rng(1).uniform(-0.3, 0.3, 300).astype(np.float32)
    gen = Generator(300, hidden_units=(16, 32))
    gen.set_output_scale(target, [(300,)])
    start = float(np.mean((gen(sample_latent(64)).numpy() - target) ** 2))
    losses = pretrain_generator(gen, target, steps=300, batch_size=16, learning_rate=3e-3, log_every=100)
    assert len(losses) == 3
    end = float(np.mean((gen(sample_latent(64)).numpy() - target) ** 2))
    assert end < 0.01 * np.var(target) < start
    with pytest.raises(ValueError, match="shape"):
        pretrain_generator(gen, target[:10], steps=1)
