"""Universal adversarial perturbations (Moosavi-Dezfooli et al. 2017) on the quickstart LeNet-5."""
import numpy as np
import pytest
import tf_keras as keras

from tfrobust import models
from tfrobust.attacks import Attack
from tfrobust.attacks.universal import fooling_rate, uap, universal_perturbation


@pytest.fixture(scope="module")
def lenet(mnist5k):
    """The quickstart LeNet-5, trained briefly (3 epochs) on mnist5k."""
    x_train, y_train, _, _ = mnist5k
    keras.utils.set_random_seed(0)
    model = models.build("lenet5", (28, 28, 1), 10)
    model.compile(keras.optimizers.Adam(2e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x_train, y_train, batch_size=64, epochs=3, verbose=0)
    return model


def test_uap_is_projected_and_fools_beyond_random_noise(lenet, mnist5k, test_batch):
    """Algorithm 1 at L-inf xi = 0.3 on 200 training digits: v stays in the ball, fools about half of the digits
    it was computed on, and more held-out digits than a random sign vector of the same size.

    The issue's bound (xi = 0.2 fooling >= 50% of held-out digits) does not hold for this model: measured 2-9%
    at 0.2 (see the issue 12 report)."""
    x_train, _, _, _ = mnist5k
    result = universal_perturbation(lenet, x_train[:200], xi=0.3, norm="linf", max_passes=1, chunk=10,
                                    deepfool_norm="linf", seed=0)
    assert np.abs(result.v).max() <= 0.3 + 1e-6  # the projection holds
    assert np.abs(result.v).max() >= 0.29  # and v uses its budget
    assert result.fooling_rate >= 0.4
    assert result.fooling_rate == pytest.approx(fooling_rate(lenet, x_train[:200], result.v))
    x, _ = test_batch  # held out: not among the digits v was computed on
    noise = 0.3 * np.sign(np.random.default_rng(0).normal(size=result.v.shape)).astype(np.float32)
    held_out, baseline = fooling_rate(lenet, x, result.v), fooling_rate(lenet, x, noise)
    assert held_out >= baseline + 0.1  # measured 0.19 against 0.03


def test_l2_uap_stays_in_its_ball_and_the_spec_runs(lenet, test_batch):
    x, y = test_batch
    result = universal_perturbation(lenet, x[:40], xi=3.0, norm="l2", max_passes=1, deepfool_steps=5, seed=0)
    assert np.linalg.norm(result.v) <= 3.0 + 1e-4
    x_adv, info = Attack("uap", max_passes=1, deepfool_steps=5)(lenet, x[:40], y[:40], eps=0.2, return_info=True)
    delta = np.asarray(x_adv) - x[:40]
    np.testing.assert_allclose(delta, np.clip(x[:40] + info["extra"]["v"], 0, 1) - x[:40], atol=1e-6)
    assert info["example_steps"] > 0


def test_uap_refuses_targeted_and_bad_rates(lenet, test_batch):
    x, y = test_batch
    with pytest.raises(ValueError, match="untargeted"):
        uap(lenet, x[:4], (y[:4] + 1) % 10, eps=0.1, targeted=True)
    with pytest.raises(ValueError, match="target_fooling_rate"):
        universal_perturbation(lenet, x[:4], xi=0.1, target_fooling_rate=1.5)
