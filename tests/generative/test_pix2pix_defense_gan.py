"""pix2pix pieces (sharpness, occlusion, the conditional patch discriminator) and Defense-GAN's two gradients."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrobust.defenses import DefenseGAN
from tfrobust.generative import (ImageToImageModel, inpainting_condition, inpainting_generator, occlude,
                                 patch_discriminator, sharpness)


def test_sharpness_is_the_mean_gradient_energy():
    image = np.zeros((1, 3, 3, 1))
    image[0, :, 1] = 1.0  # a vertical line: |dx| = 1 on both sides of it, dy = 0
    # forward differences over the 2 x 2 interior: dx at (i, 0) = 1, (i, 1) = -1 -> energy 1 everywhere
    assert sharpness(image) == pytest.approx(1.0)
    assert sharpness(np.full((2, 5, 5, 1), 0.3)) == 0.0
    # Inside a mask only: the column left of the line (dx = 1 into it) has energy 1; a hole away from the edge 0.
    mask = np.zeros_like(image)
    mask[0, :2, 0] = 1.0
    assert sharpness(image, mask) == pytest.approx(1.0)
    flat = np.zeros((1, 4, 4, 1))
    flat[0, :, 3] = 1.0
    hole = np.zeros_like(flat)
    hole[0, :2, :2] = 1.0
    assert sharpness(flat, hole) == 0.0 and sharpness(flat) == pytest.approx(1 / 9 * 3)
    with pytest.raises(ValueError, match="no pixel"):
        sharpness(flat, np.zeros_like(flat))


def test_occlude_cuts_one_square_hole():
    x = np.ones((4, 10, 10, 1), np.float32)
    masked, mask = occlude(x, size=3, seed=0)
    assert np.all(mask.sum(axis=(1, 2, 3)) == 9)
    np.testing.assert_array_equal(masked, 1 - mask)
    with pytest.raises(ValueError, match="larger"):
        occlude(x, size=11)


def test_inpainting_generator_paints_the_hole_only():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).uniform(size=(3, 8, 8, 1)).astype("float32")
    occluded, mask = occlude(x, size=4, seed=0)
    out = inpainting_generator((8, 8, 1), width=4)(inpainting_condition(occluded, mask)).numpy()
    np.testing.assert_allclose(out * (1 - mask), x * (1 - mask), atol=1e-6)  # known pixels pass through
    assert np.all(np.abs(out - occluded)[mask == 1] > 1e-3)  # the hole is painted (sigmoid fill, not the zeros)


def test_pix2pix_step_trains_generator_and_patch_discriminator():
    keras.utils.set_random_seed(0)
    d = patch_discriminator((8, 8, 1), width=4, condition_channels=2)
    assert d([tf.zeros([2, 8, 8, 2]), tf.zeros([2, 8, 8, 1])]).shape == (2, 2, 2, 1)
    model = ImageToImageModel(inpainting_generator((8, 8, 1), width=4), d, l1_weight=100.0)
    model.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    target = tf.random.uniform([4, 8, 8, 1])
    condition = tf.constant(inpainting_condition(*occlude(target.numpy(), size=4, seed=1)))
    before = [w.numpy().copy() for w in d.trainable_variables]
    logs = model.train_step((condition, target))
    assert float(logs["l1"]) == pytest.approx(float(tf.reduce_mean(tf.abs(target - model.generator(
        condition, training=True)))), rel=0.5)  # the step moved G a little
    assert all(np.any(b != a.numpy()) for b, a in zip(before, d.trainable_variables))
    with pytest.raises(ValueError, match="discriminator_optimizer"):
        ImageToImageModel(inpainting_generator((8, 8, 1), width=4), d).compile(keras.optimizers.Adam())


def _linear_defense(gradient):
    keras.utils.set_random_seed(0)
    z = keras.Input((3,))
    generator = keras.Model(z, keras.layers.Reshape((2, 2, 1))(keras.layers.Dense(4)(z)))
    x = keras.Input((2, 2, 1))
    classifier = keras.Model(x, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    return DefenseGAN(generator, classifier, steps=300, restarts=2, learning_rate=0.05, gradient=gradient)


def test_defense_gan_projects_onto_the_range_and_bpda_is_the_identity_backward():
    defense = _linear_defense("bpda")
    w = defense.generator.layers[1].kernel.numpy()  # (3, 4): range of G is a 3-D affine subspace of R^4
    b = defense.generator.layers[1].bias.numpy()
    x = tf.constant(np.random.default_rng(0).uniform(size=(5, 2, 2, 1)), tf.float32)
    projected, error = defense.project(x)
    # Least-squares projection onto {w^T z + b}, computed in numpy.
    flat = x.numpy().reshape(5, 4) - b
    z_star = np.linalg.lstsq(w.T, flat.T, rcond=None)[0].T
    np.testing.assert_allclose(projected.numpy().reshape(5, 4), z_star @ w + b, atol=2e-3)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = defense(x)[:, 0]
    grad = tape.gradient(out, x).numpy().reshape(5, 4)
    np.testing.assert_allclose(grad, np.tile(defense.classifier.layers[-1].kernel.numpy()[:, 0], (5, 1)), rtol=1e-5)
    naive = defense.with_gradient("none")
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = naive(x)
    assert tape.gradient(out, x) is None  # no gradient path through the projection
    with pytest.raises(ValueError, match="gradient"):
        _linear_defense("unrolled")
