"""GAN losses, the optimal discriminator, GANModel's logged gradients, classifier FID and score."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from scipy import linalg

from tfrobust.generative import (GANModel, classifier_fid, classifier_score, dcgan_discriminator, dcgan_generator,
                                 discriminator_loss, frechet_distance, generator_loss, image_grid)


def _normal_pdf(x, std):
    return np.exp(-0.5 * (x / std) ** 2) / (std * np.sqrt(2 * np.pi))


@pytest.mark.parametrize("kind", ["minimax", "non_saturating"])
def test_discriminator_optimum_is_p_data_over_p_data_plus_p_g(kind):
    # p_data = N(0, 1), p_g = N(0, 2^2): log(p_data / p_g) = log 2 - 3 x^2 / 8 lies in the family
    # d(x) = a x^2 + b x + c, so minimising the discriminator loss on samples must reach D*.
    rng = np.random.default_rng(0)
    real = tf.constant(rng.normal(0, 1, 20000), tf.float32)
    fake = tf.constant(rng.normal(0, 2, 20000), tf.float32)
    w = tf.Variable([0.0, 0.0, 0.0])
    opt = keras.optimizers.Adam(0.05)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            logit = lambda x: w[0] * x ** 2 + w[1] * x + w[2]  # noqa: E731
            loss = discriminator_loss(kind, logit(real), logit(fake))
        opt.apply_gradients([(tape.gradient(loss, w), w)])

    for _ in range(1500):
        step()
    grid = np.linspace(-3, 3, 61).astype(np.float32)
    d = 1 / (1 + np.exp(-(w[0].numpy() * grid ** 2 + w[1].numpy() * grid + w[2].numpy())))
    d_star = _normal_pdf(grid, 1) / (_normal_pdf(grid, 1) + _normal_pdf(grid, 2))
    assert np.max(np.abs(d - d_star)) < 0.03


def test_generator_loss_gradients_saturate_only_for_minimax():
    logits = tf.constant([-6.0, 0.0, 3.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(logits)
        mm, ns, hinge = (generator_loss(k, logits) for k in ("minimax", "non_saturating", "hinge"))
    d = 1 / (1 + np.exp(-logits.numpy()))
    np.testing.assert_allclose(tape.gradient(mm, logits).numpy(), -d / 3, rtol=1e-5)  # -D(G(z)): vanishes at -6
    np.testing.assert_allclose(tape.gradient(ns, logits).numpy(), -(1 - d) / 3, rtol=1e-5)
    np.testing.assert_allclose(tape.gradient(hinge, logits).numpy(), -np.ones(3) / 3, rtol=1e-6)
    real, fake = tf.constant([2.0, 0.5]), tf.constant([-2.0, 0.0])
    assert float(discriminator_loss("hinge", real, fake)) == pytest.approx((0 + 0.5) / 2 + (0 + 1) / 2)
    with pytest.raises(ValueError, match="minimax"):
        generator_loss("wasserstein", logits)


@pytest.mark.parametrize("kind,expected", [("minimax", lambda d: d), ("non_saturating", lambda d: 1 - d)])
def test_gan_model_logs_the_generator_logit_gradient(kind, expected):
    keras.utils.set_random_seed(0)
    model = GANModel(dcgan_generator(8, (8, 8, 1), width=4), dcgan_discriminator((8, 8, 1), width=4), 8, loss=kind)
    model.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    before = [w.numpy().copy() for w in model.generator.trainable_variables + model.discriminator.trainable_variables]
    logs = model.train_step(tf.random.uniform([6, 8, 8, 1]))
    after = model.generator.trainable_variables + model.discriminator.trainable_variables
    assert all(np.any(b != a.numpy()) for b, a in zip(before, after))  # both players stepped
    assert float(logs["g_logit_grad"]) == pytest.approx(expected(float(logs["d_fake"])), rel=1e-4)
    assert float(logs["g_grad_norm"]) > 0
    assert model(tf.zeros([2, 8])).shape == (2, 8, 8, 1)


def test_frechet_distance_matches_the_scipy_sqrtm_formula():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    s1, s2 = a @ a.T + 0.1 * np.eye(5), b @ b.T + 0.1 * np.eye(5)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-8)


def test_classifier_fid_and_score_on_a_fixed_classifier():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4, 4, 1))
    h = keras.layers.Dense(6, activation="tanh")(keras.layers.Flatten()(inputs))
    classifier = keras.Model(inputs, keras.layers.Dense(3)(h))
    rng = np.random.default_rng(0)
    real = rng.uniform(size=(300, 4, 4, 1)).astype("float32")
    assert classifier_fid(classifier, real, real) == pytest.approx(0.0, abs=1e-6)
    assert classifier_fid(classifier, real, real * 0.2) > 0.05
    # A classifier that always gives the same distribution has score exactly 1.
    constant = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                                 keras.layers.Dense(3, kernel_initializer="zeros")])
    assert classifier_score(constant, real) == pytest.approx(1.0, abs=1e-6)
    assert 1.0 < classifier_score(classifier, real) <= 3.0
    grid = image_grid(np.ones((5, 2, 2, 1)))
    assert grid.shape == (4, 6, 1) and grid.sum() == 20  # 3 columns, 2 rows
