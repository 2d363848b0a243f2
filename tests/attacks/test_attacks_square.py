"""Square attack: breaks an undefended CNN without gradients, and a model whose gradient is zero or missing."""
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.attacks.pgd import pgd
from tfrobust.attacks.square import square, square_fraction


def test_schedule_halves_p_at_the_papers_iterations():
    # 10,000-query schedule: p_init until 10, /2 until 50, /4 until 200, /8 until 500, /16 until 1000, ...
    values = [float(square_fraction(i, 0.8, 10000)) for i in (10, 11, 50, 51, 500, 501, 9000)]
    np.testing.assert_allclose(values, [0.8, 0.4, 0.4, 0.2, 0.1, 0.05, 0.8 / 512], rtol=1e-6)
    assert float(square_fraction(2500, 0.8, 5000)) == pytest.approx(0.8 / 128)  # = iteration 5000 of 10,000


def test_square_breaks_undefended_cnn_without_gradients(trained_cnn, small_batch, accuracy):
    x, y = small_batch
    x_adv, info = square(trained_cnn, x, y, eps=0.3, n_queries=1000, seed=0, return_info=True)
    assert accuracy(trained_cnn, x, y) > 0.9
    assert accuracy(trained_cnn, x_adv, y) <= 0.05
    assert info["example_steps"] == 0  # no gradient was computed
    assert info["perturbation_norm"].max() <= 0.3 + 1e-6
    assert info["forward_passes"] == int(info["extra"]["queries"].sum()) < len(y) * 1000


def test_square_breaks_models_pgd_cannot(trained_cnn, small_batch, accuracy):
    x, y = small_batch
    x, y = x[:50], y[:50]

    def zero_gradient(z):  # same outputs, input gradient exactly zero
        return trained_cnn(tf.stop_gradient(z), training=False) + 0.0 * tf.reduce_sum(z, axis=[1, 2, 3])[:, None]

    def quantised(z):  # tf.round: TensorFlow has no gradient at all
        return trained_cnn(tf.round(z * 255.0) / 255.0, training=False)

    clean = accuracy(trained_cnn, x, y)
    acc_pgd = accuracy(trained_cnn, pgd(zero_gradient, x, y, eps=0.3, step_size=0.01, steps=40, seed=0), y)
    assert acc_pgd >= clean - 0.1  # PGD is stuck at its random start
    with pytest.raises(ValueError, match="gradient"):
        pgd(quantised, x, y, eps=0.3, step_size=0.01, steps=5)
    for blocked in (zero_gradient, quantised):
        _, info = square(blocked, x, y, eps=0.3, n_queries=1000, seed=0, return_info=True)
        assert 1.0 - info["success"].mean() <= 0.05


def test_l2_square_stays_in_ball_and_batching_does_not_change_it(trained_cnn, small_batch, accuracy):
    x, y = small_batch
    x, y = x[:30], y[:30]
    whole, info = square(trained_cnn, x, y, eps=3.0, norm="l2", n_queries=300, seed=1, return_info=True)
    chunked = square(trained_cnn, x, y, eps=3.0, norm="l2", n_queries=300, seed=1, batch_size=11)
    np.testing.assert_allclose(whole.numpy(), chunked.numpy(), atol=1e-6)
    assert info["perturbation_norm"].max() <= 3.0 + 1e-4
    assert accuracy(trained_cnn, whole, y) <= accuracy(trained_cnn, x, y) - 0.3


def test_square_refuses_flat_inputs_and_other_losses(linear_model):
    model, _, _ = linear_model
    x = np.random.default_rng(0).uniform(size=(4, 4, 4, 1)).astype(np.float32)
    with pytest.raises(ValueError, match="loss"):
        square(model, x, np.zeros(4, np.int64), eps=0.1, loss="ce")
    with pytest.raises(ValueError, match="n_queries"):
        square(model, x, np.zeros(4, np.int64), eps=0.1, n_queries=0)
