"""DANN (Ganin & Lempitsky 2015): the reversed gradient reaches the features, the schedules follow the paper."""
import math

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrobust.adaptation import (DANN, AnnealedLearningRate, dann_callbacks, domain_accuracy, domain_head,
                                 domain_probe_accuracy, label_head, paired_dataset, pca_2d)


def _tiny(lam, seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    features = keras.Model(inputs, keras.layers.Dense(6, activation="tanh")(inputs))
    return DANN(features, label_head(6, 3), domain_head(6), lam=lam)


def test_train_step_descends_label_loss_and_ascends_domain_loss_in_the_features():
    lam = 0.7
    model = _tiny(lam)
    model.compile(optimizer=keras.optimizers.SGD(1.0))
    rng = np.random.default_rng(0)
    xs, xt = rng.normal(size=(8, 4)).astype("float32"), rng.normal(1.0, 1.0, size=(8, 4)).astype("float32")
    ys = rng.integers(0, 3, 8)
    # Expected update computed without the reversal layer: θ_f -= ∇L_y − λ ∇L_d, θ_d -= ∇L_d, θ_y -= ∇L_y.
    f_vars, d_vars = model.features.trainable_variables, model.domain_classifier.trainable_variables
    y_vars = model.label_predictor.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        feats = model.features(np.concatenate([xs, xt]))
        l_y = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(ys, model.label_predictor(feats[:8]))
        domains = np.concatenate([np.zeros((8, 1)), np.ones((8, 1))]).astype("float32")
        l_d = keras.losses.BinaryCrossentropy(from_logits=True)(domains, model.domain_classifier(feats))
    expected_f = [w.numpy() - (gy.numpy() - lam * gd.numpy())
                  for w, gy, gd in zip(f_vars, tape.gradient(l_y, f_vars), tape.gradient(l_d, f_vars))]
    expected_d = [w.numpy() - g.numpy() for w, g in zip(d_vars, tape.gradient(l_d, d_vars))]
    expected_y = [w.numpy() - g.numpy() for w, g in zip(y_vars, tape.gradient(l_y, y_vars))]
    logs = model.train_step(((tf.constant(xs), tf.constant(ys)), tf.constant(xt)))
    for got, want in zip(f_vars + d_vars + y_vars, expected_f + expected_d + expected_y):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-5)
    assert float(logs["lambda"]) == pytest.approx(lam)
    assert float(logs["loss"]) == pytest.approx(float(l_y + l_d), rel=1e-5)


def test_annealed_learning_rate_is_the_papers_formula():
    schedule = AnnealedLearningRate(0.01, total_steps=100)
    for step in (0, 10, 50, 100, 150):
        p = min(step / 100, 1.0)
        assert float(schedule(step)) == pytest.approx(0.01 / (1 + 10 * p) ** 0.75, rel=1e-6)
    assert AnnealedLearningRate.from_config(schedule.get_config()).get_config() == schedule.get_config()


def test_fit_sets_lambda_by_the_ganin_schedule_each_step():
    model = _tiny(0.0)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    rng = np.random.default_rng(1)
    data = paired_dataset(rng.normal(size=(16, 4)), rng.integers(0, 3, 16), rng.normal(size=(16, 4)), batch_size=4)
    history = model.fit(data, epochs=1, steps_per_epoch=5, callbacks=dann_callbacks(10), verbose=0)
    # λ of the 5th step (step index 4 of 10): 2 / (1 + exp(-10 * 0.4)) - 1
    assert float(model.reversal.lam.numpy()) == pytest.approx(2 / (1 + math.exp(-4.0)) - 1, rel=1e-6)
    assert set(history.history) >= {"label_loss", "domain_loss", "domain_accuracy", "accuracy"}
    acc = domain_accuracy(model, rng.normal(size=(10, 4)), rng.normal(size=(6, 4)))
    assert 0.0 <= acc <= 1.0 and acc * 16 == pytest.approx(round(acc * 16))


def test_paired_dataset_refuses_a_domain_smaller_than_a_batch():
    with pytest.raises(ValueError, match="batch_size=8"):
        paired_dataset(np.zeros((4, 2)), np.zeros(4), np.zeros((20, 2)), batch_size=8)


def test_pca_2d_keeps_the_direction_of_largest_variance():
    rng = np.random.default_rng(0)
    a = np.stack([rng.normal(0, 5, 200), rng.normal(0, 0.1, 200), rng.normal(0, 1, 200)], axis=1)
    pa, pb = pca_2d(a[:150], a[150:])
    assert pa.shape == (150, 2) and pb.shape == (50, 2)
    # The first axis is the x axis (std 5): its projection is ±x (up to the common mean).
    first = np.concatenate([pa, pb])[:, 0]
    assert abs(np.corrcoef(first, a[:, 0])[0, 1]) > 0.99


def test_train_step_normalises_each_domain_by_its_own_batch_statistics():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    features = keras.Model(inputs, keras.layers.BatchNormalization()(keras.layers.Dense(6)(inputs)))
    model = DANN(features, label_head(6, 3), domain_head(6), lam=1.0)
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(8, 4)).astype("float32")
    xt = xs + 3.0  # the target batch is the source batch shifted: per-domain BN makes their features equal
    ys = rng.integers(0, 3, 8)
    domains = np.concatenate([np.zeros((8, 1)), np.ones((8, 1))]).astype("float32")
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    fs, ft = features(xs, training=True), features(xt, training=True)
    np.testing.assert_allclose(fs.numpy(), ft.numpy(), atol=1e-4)
    separate = ce(ys, model.label_predictor(fs)) + bce(domains, model.domain_classifier(tf.concat([fs, ft], 0)))
    joint = features(np.concatenate([xs, xt]), training=True)
    mixed = ce(ys, model.label_predictor(joint[:8])) + bce(domains, model.domain_classifier(joint))
    logs = model.train_step(((tf.constant(xs), tf.constant(ys)), tf.constant(xt)))
    assert float(logs["loss"]) == pytest.approx(float(separate), rel=1e-5)
    assert abs(float(separate) - float(mixed)) > 1e-2  # one pass over both domains would give another loss
    assert float(logs["domain_accuracy"]) == pytest.approx(0.5)  # equal features: one of each pair is wrong


def test_domain_probe_is_chance_on_one_distribution_and_high_on_two():
    rng = np.random.default_rng(0)
    same = domain_probe_accuracy(rng.normal(size=(300, 8)), rng.normal(size=(300, 8)))
    shifted = domain_probe_accuracy(rng.normal(size=(300, 8)), rng.normal(size=(300, 8)) + np.eye(8)[0] * 4.0)
    assert abs(same - 0.5) < 0.08 and shifted > 0.93  # Bayes accuracy Phi(2) = 0.977
    with pytest.raises(ValueError, match="at least 4"):
        domain_probe_accuracy(np.zeros((3, 2)), np.zeros((10, 2)))
