"""Zoo models round-trip through .keras files with every activation (low-rank models: see
test_models_low_rank.py), and tensorflow-model-optimization can prune them."""
import numpy as np
import pytest
import tensorflow_model_optimization as tfmot
import tf_keras as keras

from tfrobust import models
from tfrobust.layers import ACTIVATIONS, KAF


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_lenet5_with_every_activation_trains_and_round_trips(activation, tmp_path, assert_round_trip):
    keras.utils.set_random_seed(2)
    model = models.build("lenet5", (28, 28, 1), 10, activation=activation)
    kafs = [layer for layer in model.layers if isinstance(layer, KAF)]
    assert len(kafs) == (3 if activation.startswith("kaf") else 0)  # a fresh layer per activation slot
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(4, 28, 28, 1)).astype(np.float32)
    if kafs:  # train so that the saved KAF coefficients (and kaf_free's dictionary) differ from their init
        model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        before = [w.numpy().copy() for w in model.trainable_weights]
        assert np.isfinite(model.train_on_batch(x, np.array([0, 1, 2, 3])))
        assert all(not np.array_equal(w.numpy(), b) for w, b in zip(model.trainable_weights, before))
    assert_round_trip(model, x, tmp_path / f"lenet5_{activation}.keras")


def test_resnet20_with_channel_pad_shortcuts_round_trips(tmp_path, assert_round_trip):
    keras.utils.set_random_seed(3)
    model = models.build("resnet20", (32, 32, 3), 10, activation="kaf_relu")
    x = np.random.default_rng(1).uniform(0, 1, size=(2, 32, 32, 3)).astype(np.float32)
    assert_round_trip(model, x, tmp_path / "resnet20.keras")


def test_channel_pad_shortcut_matches_numpy():
    x = np.random.default_rng(2).normal(size=(2, 5, 5, 16)).astype(np.float32)
    out = models.ChannelPadShortcut(32, 2)(x).numpy()
    expected = np.zeros((2, 3, 3, 32), np.float32)
    expected[..., 8:24] = x[:, ::2, ::2, :]
    np.testing.assert_array_equal(out, expected)


def test_pruning_wraps_zoo_models_and_reaches_sparsity():
    keras.utils.set_random_seed(4)
    schedule = tfmot.sparsity.keras.ConstantSparsity(0.5, begin_step=0, frequency=1)
    # ResNet20 holds Normalize and ChannelPadShortcut: both must be accepted by the pruning wrapper.
    tfmot.sparsity.keras.prune_low_magnitude(models.build("resnet20", (32, 32, 3), 10), pruning_schedule=schedule)
    model = models.build("lenet5", (28, 28, 1), 10, activation="kaf", conv=[4, None])
    pruned = tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=schedule)
    # One pruning step without the cost of fit(): what UpdatePruningStep does around a training batch.
    step = tfmot.sparsity.keras.UpdatePruningStep()
    step.set_model(pruned)
    step.on_train_begin()
    pruned(np.random.default_rng(3).uniform(0, 1, size=(8, 28, 28, 1)).astype(np.float32), training=True)
    step.on_epoch_end(0)
    stripped = tfmot.sparsity.keras.strip_pruning(pruned)
    low_rank = stripped.get_layer("conv1")
    kernels = [low_rank.vertical_kernel, low_rank.horizontal_kernel] + [
        stripped.get_layer(name).kernel for name in ("conv2", "fc1", "logits")]
    for kernel in kernels:
        assert abs(np.mean(kernel.numpy() == 0) - 0.5) < 0.02, kernel.name
