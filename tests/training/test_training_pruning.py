"""Pruning helpers: polynomial schedule through a training wrapper, strip, measured sparsity."""
import glob
import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from training_helpers import small_cnn

from tfrobust.training import FastAdversarialModel, measured_sparsity, prune, pruned_layers, pruning_callbacks, strip


def test_pruned_fast_at_model_reaches_target_sparsity(train_subset, tmp_path):
    x, y = train_subset[0][:600], train_subset[1][:600]
    pruned = prune(small_cnn(seed=8), 0.8, begin_step=0, end_step=20, frequency=5)
    wrapped = pruned_layers(pruned)
    assert sum(bool(layer.layer.weights) for layer in wrapped) == 4  # two convolutions, two dense layers
    # Zhu & Gupta: s_t = s_f + (s_i - s_f)(1 - (t - t0)/(n dt))^3 -> 0.8 - 0.8 * 0.5^3 = 0.7 at t = 10.
    _, sparsity_at_10 = wrapped[0].pruning_schedule(tf.constant(10, tf.int64))
    assert float(sparsity_at_10) == pytest.approx(0.7, abs=1e-6)

    model = FastAdversarialModel(pruned, eps=0.1)
    model.compile(keras.optimizers.Adam(1e-3))
    logdir = str(tmp_path / "logs")
    model.fit(x, y, batch_size=100, epochs=4, verbose=0, callbacks=pruning_callbacks(logdir))  # 24 steps
    # UpdatePruningStep found the layers through the wrapper, and only the training-mode forward pass
    # advanced the step (the attack's inference pass would double it).
    assert [int(layer.pruning_step.numpy()) for layer in wrapped] == [24] * len(wrapped)
    assert glob.glob(os.path.join(logdir, "metrics", "events.out.tfevents.*"))

    plain = strip(model)
    assert not pruned_layers(plain) and pruned_layers(model) == wrapped
    report = measured_sparsity(plain)
    assert report.overall == pytest.approx(0.8, abs=0.01)
    kernels = [layer.kernel.numpy() for layer in plain.layers if hasattr(layer, "kernel")]
    assert report.total == sum(k.size for k in kernels)
    assert report.zeros == sum(int(np.sum(k == 0)) for k in kernels)
    for name, fraction in report.per_layer.items():
        assert fraction == pytest.approx(0.8, abs=0.01), name
    np.testing.assert_allclose(plain.predict(x[:50], verbose=0), model.predict(x[:50], verbose=0), atol=1e-5)


def test_measured_sparsity_counts_zero_kernel_entries_only():
    model = small_cnn(seed=9)
    dense = model.layers[-1]
    kernel = dense.kernel.numpy()
    kernel[:, :5] = 0.0  # half of the last kernel
    dense.kernel.assign(kernel)
    dense.bias.assign(tf.zeros_like(dense.bias))  # biases are not prunable: not counted
    report = measured_sparsity(model)
    assert report.per_layer[dense.name] == pytest.approx(0.5)
    assert report.zeros == kernel.size // 2
    assert report.per_layer[model.layers[1].name] == 0.0


def test_invalid_pruning_settings_raise():
    with pytest.raises(ValueError, match="final_sparsity"):
        prune(small_cnn(), 1.0, end_step=10)
    with pytest.raises(ValueError, match="end_step"):
        prune(small_cnn(), 0.5, begin_step=10, end_step=10)
    with pytest.raises(ValueError, match="prunable"):
        measured_sparsity(keras.Sequential([keras.layers.Flatten(input_shape=(4, 4))]))
