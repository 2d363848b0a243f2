"""Every training wrapper trains under mixed_float16: loss scaling, float32 losses and float32 attacks."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from training_helpers import small_cnn

from tfrobust import training

WRAPPERS = {
    "fast_at": lambda m: training.FastAdversarialModel(m, eps=0.1),
    "pgd_at": lambda m: training.PGDAdversarialModel(m, eps=0.1, step_size=0.05, steps=2),
    "temperature": lambda m: training.TemperatureModel(m, temperature=20.0),
    "distillation": lambda m: training.DistillationModel(m, small_cnn(seed=1), temperature=20.0),
    "trades": lambda m: training.TRADESModel(m, eps=0.1, step_size=0.05, steps=2),
    "mart": lambda m: training.MARTModel(m, eps=0.1, step_size=0.05, steps=2),
    "awp": lambda m: training.AWPModel(m, eps=0.1, step_size=0.05, steps=2),
    "ensemble": lambda m: training.EnsembleAdversarialModel(m, [small_cnn(seed=2)], eps=0.1),
    "grad_align": lambda m: training.GradAlignModel(m, eps=0.1),
    "n_fgsm": lambda m: training.NFGSMModel(m, eps=0.1),
}


@pytest.mark.parametrize("name", WRAPPERS)
def test_wrapper_trains_under_mixed_float16(name, train_subset):
    x, y = train_subset
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = WRAPPERS[name](small_cnn(seed=12))
        model.compile(keras.optimizers.SGD(0.05))
        assert isinstance(model.optimizer, keras.mixed_precision.LossScaleOptimizer)
        before = [w.numpy().copy() for w in model.inner.trainable_weights]
        history = model.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0)
        x_adv = model.adversarial_examples(tf.constant(x[:8]), tf.constant(y[:8], tf.int32))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert np.all(np.isfinite(history.history["loss"]))
    assert model.inner(x[:2]).dtype == tf.float16
    moved = [np.max(np.abs(w.numpy().astype(np.float32) - b)) for w, b in zip(model.inner.trainable_weights, before)]
    assert max(moved) > 1e-4 and all(np.isfinite(moved)), "the scaled loss still gave finite, non-zero updates"
    if x_adv is not None:
        assert x_adv.dtype == tf.float32
