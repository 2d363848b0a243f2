"""All tfrobust layers: `.keras` save/load round trip and magnitude pruning with tensorflow-model-optimization."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
import tensorflow_model_optimization as tfmot

from tfrobust.layers import KAF, GradientReversal, LowRankConv2D


def small_model():
    inputs = keras.Input((8, 8, 2))
    h = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    h = KAF(init="elu")(h)
    h = LowRankConv2D(8, 3, rank=3, strides=2, batch_norm=True)(h)
    h = KAF(trainable_dictionary=True)(h)
    h = LowRankConv2D(8, 3, rank=4, padding="valid")(h)
    h = GradientReversal(lam=0.5)(h)
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.Dense(3)(h)
    return keras.Model(inputs, outputs)


def test_keras_save_load_round_trip_gives_identical_outputs(tmp_path):
    keras.utils.set_random_seed(0)
    model = small_model()
    x = np.random.default_rng(0).uniform(size=(4, 8, 8, 2)).astype(np.float32)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, np.array([0, 1, 2, 0]), epochs=2, verbose=0)  # move BN statistics and KAF weights
    reversal = [layer for layer in model.layers if isinstance(layer, GradientReversal)][0]
    reversal.set_lambda(0.125)
    path = str(tmp_path / "layers.keras")
    model.save(path)
    loaded = keras.models.load_model(path)  # no custom_objects: the layers are registered
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())
    np.testing.assert_array_equal(loaded(x, training=True).numpy(), model(x, training=True).numpy())
    classes = [type(layer).__name__ for layer in loaded.layers]
    assert classes.count("KAF") == 2 and classes.count("LowRankConv2D") == 2
    loaded_reversal = [layer for layer in loaded.layers if isinstance(layer, GradientReversal)][0]
    assert float(loaded_reversal.lam.numpy()) == 0.125
    loaded_free = [layer for layer in loaded.layers if isinstance(layer, KAF)][1]
    assert loaded_free.trainable_dictionary and len(loaded_free.trainable_weights) == 3


def test_prune_low_magnitude_reaches_target_sparsity_on_low_rank_kernels():
    keras.utils.set_random_seed(1)
    schedule = tfmot.sparsity.keras.ConstantSparsity(0.5, begin_step=0, frequency=1)
    pruned = tfmot.sparsity.keras.prune_low_magnitude(small_model(), pruning_schedule=schedule)
    pruned.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(1)
    x, y = rng.uniform(size=(32, 8, 8, 2)).astype(np.float32), rng.integers(0, 3, 32)
    pruned.fit(x, y, batch_size=8, epochs=1, verbose=0,
               callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    stripped = tfmot.sparsity.keras.strip_pruning(pruned)
    low_rank = [layer for layer in stripped.layers if isinstance(layer, LowRankConv2D)]
    kernels = [k.numpy() for layer in low_rank for k in (layer.vertical_kernel, layer.horizontal_kernel)]
    assert len(kernels) == 4
    for kernel in kernels:
        sparsity = np.mean(kernel == 0)
        assert abs(sparsity - 0.5) <= 1.0 / kernel.size + 1e-9, (kernel.shape, sparsity)
    for layer in stripped.layers:  # KAF coefficients and lambda are not pruned
        if isinstance(layer, KAF):
            assert np.mean(layer.alpha.numpy() == 0) == 0
    np.testing.assert_allclose(stripped(x).numpy(), pruned(x).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer", [KAF(), GradientReversal()], ids=["kaf", "gradient_reversal"])
def test_layers_without_connections_have_no_prunable_weights(layer):
    layer.build((None, 4))
    assert layer.get_prunable_weights() == []
    assert isinstance(layer, tfmot.sparsity.keras.PrunableLayer)
