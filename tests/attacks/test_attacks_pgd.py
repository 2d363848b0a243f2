"""PGD: strength ordering, targeted success, restarts, per-example early stop, L2 projection, no retracing."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrobust.attacks import _compiled, fgsm, pgd
from tfrobust.attacks.norms import perturbation_norm


@pytest.mark.parametrize("eps", [0.1, 0.2])
def test_pgd_at_most_fgsm_at_most_clean(trained_cnn, test_batch, accuracy, eps):
    x, y = test_batch
    clean = accuracy(trained_cnn, x, y)
    acc_fgsm = accuracy(trained_cnn, fgsm(trained_cnn, x, y, eps=eps), y)
    acc_pgd = accuracy(trained_cnn, pgd(trained_cnn, x, y, eps=eps, step_size=eps / 8, steps=20, seed=0), y)
    assert clean > 0.9
    assert acc_pgd <= acc_fgsm < clean
    assert acc_pgd < acc_fgsm - 0.02 or acc_pgd == 0.0  # iterative is clearly stronger when there is room


def test_pgd40_at_eps_03_breaks_undefended_model(trained_cnn, test_batch, accuracy):
    x, y = test_batch
    x_adv = pgd(trained_cnn, x, y, eps=0.3, step_size=0.01, steps=40, seed=0)
    assert accuracy(trained_cnn, x_adv, y) <= 0.02


@pytest.mark.parametrize("loss", ["ce", "margin"])
def test_targeted_pgd_reaches_target(trained_cnn, small_batch, loss):
    x, y = small_batch
    target = (y + 3) % 10
    x_adv, info = pgd(trained_cnn, x, target, eps=0.3, step_size=0.02, steps=30, targeted=True, loss=loss,
                      seed=0, return_info=True)
    reached = np.argmax(trained_cnn(x_adv, training=False), axis=1) == target
    assert reached.mean() >= 0.9
    np.testing.assert_array_equal(info["success"], reached)


def test_dlr_loss_is_as_strong_as_ce(trained_cnn, small_batch, accuracy):
    x, y = small_batch
    x_adv = pgd(trained_cnn, x, y, eps=0.15, step_size=0.02, steps=20, loss="dlr", seed=0)
    assert accuracy(trained_cnn, x_adv, y) < 0.3


def test_more_restarts_never_worse(trained_cnn, small_batch):
    x, y = small_batch
    kwargs = dict(eps=0.08, step_size=0.01, steps=10, seed=5, return_info=True)
    _, one = pgd(trained_cnn, x, y, restarts=1, **kwargs)
    _, three = pgd(trained_cnn, x, y, restarts=3, **kwargs)
    assert 0.05 < one["success"].mean() < 0.95  # a regime where restarts can matter
    # The first of three restarts is the single restart (same seed), so per example: still fooled, and
    # where neither fooled, a loss at least as high.
    assert np.all(three["success"][one["success"]])
    neither = ~one["success"] & ~three["success"]
    assert np.all(three["loss"][neither] >= one["loss"][neither] - 1e-6)
    assert three["success"].sum() >= one["success"].sum()


def test_returned_example_is_best_iterate_not_last(trained_cnn, small_batch):
    """With a huge step the iterates bounce around; the reported loss must be the one of the returned
    example, and no lower than the loss of the last iterate."""
    x, y = small_batch
    x_adv, info = pgd(trained_cnn, x, y, eps=0.05, step_size=0.05, steps=6, seed=1, return_info=True)
    logits = trained_cnn(x_adv, training=False)
    fooled = np.argmax(logits, axis=1) != y
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y.astype(np.int32), logits=logits).numpy()
    np.testing.assert_array_equal(info["success"], fooled)
    np.testing.assert_allclose(info["loss"], ce, rtol=1e-4, atol=1e-4)
    clean_ce = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=y.astype(np.int32), logits=trained_cnn(x, training=False)).numpy()
    assert np.all(info["loss"][~fooled] >= clean_ce[~fooled] - 1e-5)


def test_early_stop_same_robust_accuracy_fewer_steps(trained_cnn, test_batch):
    x, y = test_batch
    kwargs = dict(eps=0.1, step_size=0.01, steps=20, restarts=2, seed=2, return_info=True)
    x_naive, naive = pgd(trained_cnn, x, y, **kwargs)
    x_early, early = pgd(trained_cnn, x, y, early_stop=True, **kwargs)
    np.testing.assert_array_equal(early["success"], naive["success"])
    assert early["example_steps"] < 0.7 * naive["example_steps"]
    assert naive["example_steps"] == len(y) * 20 * 2
    np.testing.assert_allclose(np.asarray(x_early), np.asarray(x_naive), atol=1e-5)


def test_l2_pgd_projection_holds(trained_cnn, small_batch):
    x, y = small_batch
    eps = 1.0
    x_adv = np.asarray(pgd(trained_cnn, x, y, eps=eps, step_size=0.5, steps=10, norm="l2", seed=0))
    norms = perturbation_norm(x_adv - x, "l2").numpy()
    assert norms.max() <= eps + 1e-5
    assert np.median(norms) > 0.9 * eps  # large steps push the iterate onto the sphere


def test_repeated_calls_do_not_retrace(trained_cnn, small_batch):
    x, y = small_batch
    pgd(trained_cnn, x, y, eps=0.1, step_size=0.01, steps=3, seed=0)
    steps_fn = _compiled.cached_function(
        _compiled.LogitsModel(trained_cnn, "logits"), "pgd_steps", ("linf", "ce", False), None)
    traces = steps_fn.experimental_get_tracing_count()
    for eps, step_size, steps in [(0.2, 0.02, 4), (0.05, 0.003, 7)]:
        pgd(trained_cnn, x, y, eps=eps, step_size=step_size, steps=steps, seed=1)
    assert steps_fn.experimental_get_tracing_count() == traces


def test_attack_runs_model_in_inference_mode(small_batch):
    """Dropout and BatchNorm must be in inference mode: the attack is deterministic and leaves the
    BatchNorm statistics alone."""
    x, y = small_batch
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(32),
                              keras.layers.BatchNormalization(), keras.layers.Dropout(0.5), keras.layers.Dense(10)])
    moving_mean = model.layers[2].moving_mean.numpy().copy()
    first = pgd(model, x, y, eps=0.1, step_size=0.02, steps=3, random_start=False)
    second = pgd(model, x, y, eps=0.1, step_size=0.02, steps=3, random_start=False)
    np.testing.assert_array_equal(np.asarray(first), np.asarray(second))
    np.testing.assert_array_equal(model.layers[2].moving_mean.numpy(), moving_mean)
