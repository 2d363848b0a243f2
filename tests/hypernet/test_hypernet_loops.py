"""The generator training loops on a tiny problem: direct (V-free) and through the value network."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrobust.hypernet import (DirectGeneratorModel, Generator, GeneratorValueModel, PGDSettings, RobustnessMeter,
                               ValueNetwork, flatten_from, pretrain_generator, sample_latent)

SMALL_PGD = PGDSettings(eps=0.175, step_size=0.07, steps=4)


@pytest.fixture(scope="module")
def meter(lenet5_target):
    return RobustnessMeter(lenet5_target, SMALL_PGD)


@pytest.fixture(scope="module")
def pretrained_generator(trained_lenet5, lenet5_target):
    """A small generator (hidden 16, 32) pretrained to the trained LeNet-5's weights."""
    keras.utils.set_random_seed(0)
    theta = flatten_from(trained_lenet5)
    generator = Generator(lenet5_target.theta_size, hidden_units=(16, 32))
    generator.set_output_scale(theta, lenet5_target.shapes)
    pretrain_generator(generator, theta, steps=150, batch_size=8, learning_rate=3e-3)
    return generator


def _copy(generator):
    clone = Generator.from_config(generator.get_config())
    clone.set_weights(generator.get_weights())
    return clone


@pytest.fixture(scope="module")
def train_batches(mnist5k):
    subset = np.random.default_rng(0).permutation(len(mnist5k[1]))[:512]  # mnist5k is sorted by class
    x, y = mnist5k[0][subset], mnist5k[1][subset]
    return tf.data.Dataset.from_tensor_slices((x, y)).shuffle(512, seed=0).repeat().batch(64)


def _objective(generator, meter, latent, test_batch):
    return float(np.mean(meter(generator(latent), *test_batch).objective()))


def test_pretrained_generator_reproduces_the_network(pretrained_generator, trained_lenet5, meter, test_batch):
    latent = sample_latent(3, seed=0)
    accuracy = meter(pretrained_generator(latent), *test_batch).accuracy
    reference = meter(flatten_from(trained_lenet5), *test_batch).accuracy[0]
    assert np.all(np.abs(accuracy - reference) < 0.03)


def test_direct_mode_raises_accuracy_plus_robustness(pretrained_generator, meter, train_batches, test_batch):
    keras.utils.set_random_seed(1)
    generator = _copy(pretrained_generator)
    latent = sample_latent(4, seed=3)
    before = _objective(generator, meter, latent, test_batch)
    model = DirectGeneratorModel(generator, meter, samples_per_step=2)
    model.compile(optimizer=keras.optimizers.Adam(3e-4))
    history = model.fit(train_batches, steps_per_epoch=12, epochs=1, verbose=0)
    after = _objective(generator, meter, latent, test_batch)
    assert after > before + 0.05, (before, after)
    assert set(history.history) >= {"loss", "clean_loss", "adversarial_loss", "accuracy", "robustness", "objective"}


def test_value_mode_learns_the_measurements_and_the_generator_climbs_the_estimate(
        pretrained_generator, lenet5_target, meter, train_batches):
    """The two halves of seed 000's loop: V fits measured (A, R); G ascends αÂ + βR̂.

    (That the whole value loop raises the *measured* α·A + β·R needs more steps than a unit test can afford;
    the quick preset of experiments/robust_generator.py measures it.)
    """
    keras.utils.set_random_seed(2)
    generator = _copy(pretrained_generator)
    value = ValueNetwork(lenet5_target.theta_size)
    model = GeneratorValueModel(generator, value, meter, samples_per_step=4, value_updates_per_step=4,
                                generator_start_step=6)
    model.compile(generator_optimizer=keras.optimizers.Adam(1e-3), value_optimizer=keras.optimizers.Adam(3e-4))
    start_weights = [w.numpy() for w in generator.trainable_weights]
    thetas = generator(model.sample_latent())
    accuracy, robustness, _ = meter.measure_batch(thetas, *next(iter(train_batches)))
    measured = np.stack([accuracy.numpy(), robustness.numpy()], axis=-1)
    error_before = np.mean((value(thetas).numpy() - measured) ** 2)
    history = model.fit(train_batches, steps_per_epoch=6, epochs=1, verbose=0).history
    # While only V trains, G is unchanged and V's error on these samples falls (from about 0.15).
    for w, w0 in zip(generator.trainable_weights, start_weights):
        np.testing.assert_array_equal(w.numpy(), w0)
    estimate = value(thetas).numpy()
    assert np.mean((estimate - measured) ** 2) < 0.2 * error_before
    # Now G trains through V (held fixed here, to see G's half alone): the estimated objective rises.
    model.value_optimizer.learning_rate.assign(0.0)
    latent = model.sample_latent()
    predicted = value(generator(latent)).numpy()
    before = np.mean(0.5 * predicted[:, 0] + 0.5 * predicted[:, 1])
    model.fit(train_batches, steps_per_epoch=4, epochs=1, verbose=0)
    predicted = value(generator(latent)).numpy()
    assert np.mean(0.5 * predicted[:, 0] + 0.5 * predicted[:, 1]) > before + 1e-3
    assert {"estimated_accuracy", "estimated_robustness", "value_loss", "generator_loss"} <= set(history)


def test_loops_reject_mismatched_parts(pretrained_generator, meter):
    with pytest.raises(ValueError, match="alpha"):
        DirectGeneratorModel(pretrained_generator, meter, alpha=0.7, beta=0.7)
    with pytest.raises(ValueError, match="output_size|weights"):
        DirectGeneratorModel(Generator(10, hidden_units=(4,)), meter)
    with pytest.raises(ValueError, match="value network"):
        GeneratorValueModel(pretrained_generator, ValueNetwork(10), meter)
