"""DANN (Ganin & Lempitsky 2015): the reversed gradient reaches the features, the schedules follow the paper."""
import math

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrobust.adaptation import (DANN, AnnealedLearningRate, HeldOutDomainAccuracy, averaged_weights,
                                 dann_callbacks, domain_accuracy, domain_head, domain_probe_accuracy, label_head,
                                 paired_dataset, pca_2d)


def _tiny(lam, seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    features = keras.Model(inputs, keras.layers.Dense(6, activation="tanh")(inputs))
    return DANN(features, label_head(6, 3), domain_head(6), lam=lam, **kwargs)


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
        d_logits = model.domain_classifier(feats)
        bce = keras.losses.BinaryCrossentropy(from_logits=True)
        # The paper's domain loss: mean over the source batch + mean over the target batch.
        l_d = bce(np.zeros((8, 1), "float32"), d_logits[:8]) + bce(np.ones((8, 1), "float32"), d_logits[8:])
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


def test_domain_loss_is_the_sum_of_per_domain_means_or_the_pooled_mean():
    rng = np.random.default_rng(2)
    xs, xt = rng.normal(size=(8, 4)).astype("float32"), rng.normal(2.0, 1.0, size=(4, 4)).astype("float32")
    ys = rng.integers(0, 3, 8)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    for kind in ("per_domain", "pooled"):
        model = _tiny(1.0, domain_loss=kind)
        model.compile(optimizer=keras.optimizers.SGD(0.0))
        d = model.domain_classifier(model.features(np.concatenate([xs, xt]))).numpy()
        per_domain = float(bce(np.zeros((8, 1)), d[:8]) + bce(np.ones((4, 1)), d[8:]))
        pooled = float(bce(np.concatenate([np.zeros((8, 1)), np.ones((4, 1))]), d))
        logs = model.train_step(((tf.constant(xs), tf.constant(ys)), tf.constant(xt)))
        want = per_domain if kind == "per_domain" else pooled
        assert float(logs["domain_loss"]) == pytest.approx(want, rel=1e-5)
    assert abs(per_domain - pooled) > 0.1  # the two weightings differ (2x for equal halves)
    with pytest.raises(ValueError, match="domain_loss"):
        _tiny(1.0, domain_loss="mean")


def test_fit_sets_lambda_by_the_ganin_schedule_and_held_out_domain_accuracy_sees_the_deployed_weights():
    model = _tiny(0.0)
    model.compile(optimizer=keras.optimizers.SGD(0.05, use_ema=True, ema_momentum=0.5))
    rng = np.random.default_rng(1)
    data = paired_dataset(rng.normal(size=(16, 4)), rng.integers(0, 3, 16), rng.normal(size=(16, 4)), batch_size=4)
    x_source, x_target = rng.normal(size=(10, 4)), rng.normal(0.5, 1.0, size=(6, 4))
    held_out = HeldOutDomainAccuracy(x_source, x_target)
    history = model.fit(data, epochs=2, steps_per_epoch=5, callbacks=dann_callbacks(20) + [held_out], verbose=0)
    # λ of the 10th step (step index 9 of 20): 2 / (1 + exp(-10 * 0.45)) - 1
    assert float(model.reversal.lam.numpy()) == pytest.approx(2 / (1 + math.exp(-4.5)) - 1, rel=1e-6)
    assert set(history.history) >= {"label_loss", "domain_loss", "domain_accuracy", "accuracy"}
    # Balanced: the mean of the two domains' hit rates (10 and 6 images).
    hits_s = np.sum(model.domain_logits(tf.constant(x_source, tf.float32)).numpy()[:, 0] <= 0)
    hits_t = np.sum(model.domain_logits(tf.constant(x_target, tf.float32)).numpy()[:, 0] > 0)
    assert domain_accuracy(model, x_source, x_target) == pytest.approx((hits_s / 10 + hits_t / 6) / 2)
    # fit deployed the averaged weights: the callback's "averaged" value of the last epoch is theirs.
    assert held_out.epochs == [1, 2] and len(held_out.raw) == 2
    assert held_out.averaged[-1] == pytest.approx(domain_accuracy(model, x_source, x_target))
    weights = [v.numpy() for v in model.trainable_variables]
    with averaged_weights(model):  # after fit the model already holds the averages: nothing changes
        for v, w in zip(model.trainable_variables, weights):
            np.testing.assert_allclose(v.numpy(), w, atol=1e-7)
    with pytest.raises(ValueError, match="both domains"):
        domain_accuracy(model, x_source, x_source[:0])


def test_averaged_weights_swaps_in_the_optimizers_moving_averages_and_restores_the_iterates():
    model = _tiny(1.0)
    model.compile(optimizer=keras.optimizers.SGD(0.5, use_ema=True, ema_momentum=0.5))
    rng = np.random.default_rng(3)
    batch = ((tf.constant(rng.normal(size=(8, 4)), tf.float32), tf.constant(rng.integers(0, 3, 8))),
             tf.constant(rng.normal(size=(8, 4)), tf.float32))
    first = [v.numpy() for v in model.trainable_variables]
    model.train_step(batch)
    second = [v.numpy() for v in model.trainable_variables]
    with averaged_weights(model) as swapped:
        assert swapped
        for v, a, b in zip(model.trainable_variables, first, second):  # EMA 0.5 from the initial weights
            np.testing.assert_allclose(v.numpy(), 0.5 * a + 0.5 * b, rtol=1e-5, atol=1e-6)
    assert any(np.abs(a - b).max() > 1e-4 for a, b in zip(first, second))
    for v, b in zip(model.trainable_variables, second):
        np.testing.assert_allclose(v.numpy(), b)


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
    def loss(f_source, f_target):  # L_y + the paper's domain loss (mean over source + mean over target)
        return (ce(ys, model.label_predictor(f_source)) + bce(domains[:8], model.domain_classifier(f_source))
                + bce(domains[8:], model.domain_classifier(f_target)))

    separate = loss(fs, ft)
    joint = features(np.concatenate([xs, xt]), training=True)
    mixed = loss(joint[:8], joint[8:])
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


def test_joint_batch_statistics_run_one_pass_over_both_domains():
    """batch_statistics="joint": G_f sees the concatenated batch, so BN uses both domains' statistics at once and
    the target, a shifted copy of the source, keeps its shift in the features (the loss of one joined pass)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    features = keras.Model(inputs, keras.layers.BatchNormalization()(keras.layers.Dense(6)(inputs)))
    model = DANN(features, label_head(6, 3), domain_head(6), lam=1.0, batch_statistics="joint")
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(8, 4)).astype("float32")
    xt = xs + 3.0
    ys = rng.integers(0, 3, 8)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    joint = features(np.concatenate([xs, xt]), training=True)
    want = (ce(ys, model.label_predictor(joint[:8])) + bce(np.zeros((8, 1)), model.domain_classifier(joint[:8]))
            + bce(np.ones((8, 1)), model.domain_classifier(joint[8:])))
    separate = (ce(ys, model.label_predictor(features(xs, training=True)))
                + bce(np.zeros((8, 1)), model.domain_classifier(features(xs, training=True)))
                + bce(np.ones((8, 1)), model.domain_classifier(features(xt, training=True))))
    logs = model.train_step(((tf.constant(xs), tf.constant(ys)), tf.constant(xt)))
    assert float(logs["loss"]) == pytest.approx(float(want), rel=1e-5)
    assert abs(float(want) - float(separate)) > 1e-2
    with pytest.raises(ValueError, match="batch_statistics"):
        DANN(features, label_head(6, 3), domain_head(6), batch_statistics="mixed")
