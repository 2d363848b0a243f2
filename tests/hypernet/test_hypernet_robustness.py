"""RobustnessMeter: accuracy A and PGD robustness R of batches of weight vectors (seed 000)."""
import numpy as np
import pytest
import tensorflow as tf

from tfrobust import attacks
from tfrobust.hypernet import PGDSettings, RobustnessMeter, flatten_from

PGD = PGDSettings(eps=0.175, step_size=0.02, steps=10)


@pytest.fixture(scope="module")
def meter(lenet5_target):
    return RobustnessMeter(lenet5_target, PGD)


def test_seed_defaults_and_with_steps():
    seed = PGDSettings()
    assert (seed.eps, seed.step_size, seed.steps, seed.random_start) == (0.175, 0.00225, 160, True)
    short = seed.with_steps(20)
    assert short.steps == 20 and np.isclose(short.step_size * 20, 0.00225 * 160)
    with pytest.raises(ValueError, match="eps"):
        PGDSettings(eps=-0.1)
    with pytest.raises(ValueError, match="steps"):
        PGDSettings(steps=0)
    with pytest.raises(ValueError, match="norm"):
        PGDSettings(norm="l7")


def test_accuracy_matches_keras_and_robustness_matches_library_pgd(trained_lenet5, meter, test_batch):
    x, y = test_batch
    result = meter(flatten_from(trained_lenet5), x, y, batch_size=100)
    predictions = np.argmax(trained_lenet5.predict(x, verbose=0), axis=1)
    correct = predictions == y
    assert result.accuracy[0] == pytest.approx(correct.mean(), abs=1e-6)
    assert result.robust_accuracy[0] == pytest.approx(result.accuracy[0] * result.robustness[0], abs=1e-6)
    assert result.robustness[0] < 0.6  # an undefended LeNet-5 at eps = 0.175
    x_adv = attacks.pgd(trained_lenet5, x, y, eps=PGD.eps, step_size=PGD.step_size, steps=PGD.steps)
    survived = np.argmax(trained_lenet5.predict(np.asarray(x_adv), verbose=0), axis=1) == y
    library_robustness = np.mean(survived[correct])  # R counts only the examples classified correctly
    assert abs(result.robustness[0] - library_robustness) < 0.08


def test_batched_measurement_equals_one_network_at_a_time(trained_lenet5, lenet5_target, test_batch):
    x, y = test_batch[0][:100], test_batch[1][:100]
    theta = flatten_from(trained_lenet5).numpy()
    thetas = np.stack([theta, 0.6 * theta, theta + np.random.default_rng(0).normal(0, 0.02, theta.shape)])
    no_attack = RobustnessMeter(lenet5_target, PGDSettings(eps=0.0, step_size=0.01, steps=2))
    batched = no_attack(thetas.astype(np.float32), x, y, theta_batch_size=2)
    for i in range(3):
        single = no_attack(thetas[i].astype(np.float32), x, y)
        assert batched.accuracy[i] == pytest.approx(single.accuracy[0], abs=1e-6)
    np.testing.assert_allclose(batched.robustness, 1.0)  # eps = 0: nothing can be flipped


def test_robustness_counts_only_correct_examples(lenet5_target, meter, test_batch):
    """A constant classifier (all weights 0, bias of class 3) has A = share of 3s and R = 1 (never flipped)."""
    x, y = test_batch
    theta = np.zeros(lenet5_target.theta_size, np.float32)
    theta[-10 + 3] = 1.0  # last 10 entries: bias of the logits layer
    result = meter(theta, x, y)
    assert result.accuracy[0] == pytest.approx(np.mean(y == 3))
    assert result.robustness[0] == pytest.approx(1.0)
    assert result.robust_accuracy[0] == pytest.approx(np.mean(y == 3))
    theta[-10 + 3] = 0.0
    theta[-10 + 4] = 1.0
    only_fours = y != 4
    wrong = meter(theta, x[only_fours], y[only_fours])
    assert wrong.accuracy[0] == 0.0 and wrong.robustness[0] == 0.0  # nothing correct: R defined as 0


def test_meter_rejects_bad_input(lenet5_target, meter, test_batch):
    x, y = test_batch
    theta = np.zeros(lenet5_target.theta_size, np.float32)
    with pytest.raises(ValueError, match="theta"):
        meter(theta[:-1], x, y)
    with pytest.raises(TypeError, match="integer"):
        meter(theta, (x * 255).astype(np.uint8), y)
    with pytest.raises(ValueError, match="Batch mismatch"):
        meter(theta, x, y[:-1])
    with pytest.raises(TypeError, match="TargetNetwork"):
        RobustnessMeter(lambda z: z, PGD)
    assert tf.is_tensor(meter.measure_batch(theta[None], x[:4], y[:4])[0])
