"""The shared wrapper: any Keras model, fit/evaluate/callbacks, config, mixed precision,
tf.distribute (MirroredStrategy on two logical CPUs), and resuming a killed run."""
import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from training_helpers import small_cnn

from tfrobust.training import (DistillationModel, FastAdversarialModel, PGDAdversarialModel, TemperatureModel,
                               resumable_callbacks)


class _SubclassedCNN(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = keras.layers.Conv2D(8, 5, strides=2, activation="relu")
        self.flat = keras.layers.Flatten()
        self.out = keras.layers.Dense(10)

    def call(self, x, training=None):
        return self.out(self.flat(self.conv(x)))


def _sequential():
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 5, strides=2, activation="relu"),
                             keras.layers.Flatten(), keras.layers.Dense(10)])


@pytest.fixture(scope="module")
def data(train_subset):
    return train_subset[0][:300], train_subset[1][:300]


@pytest.mark.parametrize("kind", ["functional", "sequential", "subclassed"])
def test_wraps_any_keras_model_and_trains_its_weights(kind, data):
    keras.utils.set_random_seed(10)
    inner = {"functional": small_cnn, "sequential": _sequential, "subclassed": _SubclassedCNN}[kind]()
    model = FastAdversarialModel(inner, eps=0.1)
    model.compile(keras.optimizers.Adam(3e-3))
    x, y = data
    before = [w.numpy().copy() for w in inner.trainable_variables]
    history = model.fit(x, y, batch_size=50, epochs=3, verbose=0, validation_data=(x[:100], y[:100]))
    assert [id(v) for v in model.trainable_variables] == [id(v) for v in inner.trainable_variables]
    assert model.inner is inner and model.model is inner
    assert all(np.any(b != a.numpy()) for b, a in zip(before, inner.trainable_variables))
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert set(history.history) == {"loss", "accuracy", "adv_accuracy", "val_loss", "val_accuracy"}
    np.testing.assert_allclose(model.predict(x[:10], verbose=0), inner(x[:10]).numpy(), atol=1e-5)
    # The optimiser's slots exist before the first step (training/optimizer_slots.py), so fit traces its train
    # step once; lazily created slots make tf.function trace it twice. A subclassed inner model has no variables
    # until its first call, so it keeps the lazy path.
    assert model.train_function.experimental_get_tracing_count() == (2 if kind == "subclassed" else 1)


def test_evaluate_reports_clean_and_adversarial_accuracy(trained_cnn, test_batch):
    x, y = test_batch
    model = FastAdversarialModel(trained_cnn, eps=0.15, evaluate_adversarial=True)
    model.compile(metrics=[keras.metrics.SparseTopKCategoricalAccuracy(k=3, name="top3")])
    result = model.evaluate(x, y, batch_size=100, verbose=0, return_dict=True)
    clean = float(np.mean(np.argmax(trained_cnn.predict(x, verbose=0), 1) == y))
    assert result["accuracy"] == pytest.approx(clean)
    assert result["adv_accuracy"] < result["accuracy"] - 0.2
    assert result["top3"] >= result["accuracy"]
    lean = FastAdversarialModel(trained_cnn, eps=0.15, clean_accuracy=False)
    lean.compile()
    assert set(lean.evaluate(x, y, verbose=0, return_dict=True)) == {"loss", "accuracy"}


def test_tensorboard_receives_adversarial_accuracy(data, tmp_path):
    x, y = data
    model = PGDAdversarialModel(small_cnn(seed=11), eps=0.1, step_size=0.05, steps=2)
    model.compile()
    model.fit(x[:100], y[:100], batch_size=50, epochs=1, verbose=0,
              callbacks=[keras.callbacks.TensorBoard(str(tmp_path), write_graph=False, profile_batch=0)])
    tags = set()
    for path in glob.glob(str(tmp_path / "train" / "events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            tags.update(value.tag for value in event.summary.value)
    assert {"epoch_loss", "epoch_accuracy", "epoch_adv_accuracy"} <= tags


def test_config_round_trip(trained_cnn):
    cases = [
        FastAdversarialModel(trained_cnn, eps=0.2, alpha=0.3, random_start=False),
        PGDAdversarialModel(trained_cnn, eps=1.0, step_size=0.2, steps=4, norm="l2", clean_weight=0.5, loss="margin"),
        TemperatureModel(trained_cnn, temperature=20.0),
        DistillationModel(small_cnn(), trained_cnn, temperature=5.0, alpha=0.1),
    ]
    x = np.random.default_rng(0).uniform(0, 1, (4, 28, 28, 1)).astype(np.float32)
    for model in cases:
        config = json.loads(json.dumps(model.get_config()))
        restored = type(model).from_config(config)
        settings = {k: v for k, v in config.items() if k not in ("model", "student", "teacher", "name")}
        assert {k: v for k, v in restored.get_config().items() if k in settings} == settings
        assert restored.inner(x).shape == (4, 10)


def test_bad_inputs_raise_clear_errors(data):
    x, y = data
    model = FastAdversarialModel(small_cnn(), eps=0.1)
    with pytest.raises(ValueError, match="own loss"):
        model.compile("adam", loss="mse")
    model.compile()
    with pytest.raises(TypeError, match="integer dtype"):
        model.fit((x * 255).astype(np.uint8), y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="outside bounds"):
        model.fit(x * 2.0, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"\[0, 9\]"):
        model.fit(x, y + 10, epochs=1, verbose=0)


def test_mixed_precision_uses_loss_scaling_and_float32_losses(data):
    x, y = data
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = FastAdversarialModel(small_cnn(seed=12), eps=0.1)
        model.compile(keras.optimizers.Adam(1e-3))
        assert isinstance(model.optimizer, keras.mixed_precision.LossScaleOptimizer)
        assert model.inner(x[:2]).dtype == tf.float16
        history = model.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0)
        x_adv = model.adversarial_examples(tf.constant(x[:20]), tf.constant(y[:20], tf.int32))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert np.all(np.isfinite(history.history["loss"]))
    assert x_adv.dtype == tf.float32
    # The float16 input gradient did not underflow: the FGSM step moved (almost) every pixel.
    assert np.mean(np.abs(x_adv.numpy() - x[:20]) > 0) > 0.5


def test_mirrored_strategy_matches_single_device(tmp_path_factory):
    import two_cpus_worker  # tests/two_cpus_worker.py: one fresh process with two logical CPUs

    runs = two_cpus_worker.results(tmp_path_factory)
    assert runs["replicas"] == 2
    result = runs["wrapper"]
    np.testing.assert_allclose(result["mirrored"]["loss"], result["single"]["loss"], rtol=1e-4)
    assert result["mirrored"]["adv_accuracy"] == result["single"]["adv_accuracy"]
    for multi, single in zip(result["mirrored_weights"], result["single_weights"]):
        np.testing.assert_allclose(multi, single, atol=1e-4)


class _Kill(keras.callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt("simulated kill")


class _Record(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs, self.weights_at_begin, self.weights_at_end = [], {}, {}

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)
        self.weights_at_begin[epoch] = [w.copy() for w in self.model.get_weights()]

    def on_epoch_end(self, epoch, logs=None):
        self.weights_at_end[epoch] = [w.copy() for w in self.model.get_weights()]


def test_killed_run_resumes_from_its_last_epoch(data, tmp_path):
    x, y = data
    run_dir = str(tmp_path / "run")

    def fresh():
        model = FastAdversarialModel(small_cnn(seed=13), eps=0.1)
        model.compile(keras.optimizers.Adam(1e-3))
        return model

    first = _Record()
    with pytest.raises(KeyboardInterrupt):
        fresh().fit(x, y, batch_size=100, epochs=3, verbose=0,
                    callbacks=resumable_callbacks(run_dir) + [first, _Kill(at_epoch=2)])
    assert first.epochs == [0, 1, 2]

    second = _Record()
    model = fresh()
    history = model.fit(x, y, batch_size=100, epochs=3, verbose=0, callbacks=resumable_callbacks(run_dir) + [second])
    assert second.epochs == [2] and history.epoch == [2]  # epochs 0 and 1 were not repeated
    for resumed, saved in zip(second.weights_at_begin[2], first.weights_at_end[1]):
        np.testing.assert_array_equal(resumed, saved)  # weights restored, not re-initialised
    assert int(model.optimizer.iterations.numpy()) == 3 * 3  # optimizer state restored too
    assert not os.path.exists(os.path.join(run_dir, "backup", "chief"))  # deleted after a finished fit
