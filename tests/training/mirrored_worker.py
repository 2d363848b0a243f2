"""Run by test_training_wrapper in a subprocess: MirroredStrategy on two logical CPUs vs one device.

Logical devices must be configured before TensorFlow initialises its devices, hence a fresh
process. Prints one JSON line: per-epoch losses and final weights' checksum for both runs.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import tf_keras as keras  # noqa: E402

from tfrobust.training import PGDAdversarialModel  # noqa: E402


def build():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 1))
    h = keras.layers.Conv2D(8, 3, strides=2, activation="relu", kernel_regularizer=keras.regularizers.l2(1e-3))(inputs)
    h = keras.layers.Flatten()(h)
    return keras.Model(inputs, keras.layers.Dense(4)(h))


def run(strategy, x, y):
    with strategy.scope():
        # Deterministic attack (no random start) so both runs see the same examples.
        model = PGDAdversarialModel(build(), eps=0.1, step_size=0.05, steps=2, random_start=False)
        model.compile(keras.optimizers.SGD(0.5), jit_compile=False)
    history = model.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)
    return history.history, [w.tolist() for w in model.inner.get_weights()]


def main():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (128, 12, 12, 1)).astype(np.float32)
    y = (x[:, :6].mean(axis=(1, 2, 3)) * 8).astype(np.int64) % 4
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    single = tf.distribute.OneDeviceStrategy("/cpu:0")
    multi_history, multi_weights = run(mirrored, x, y)
    single_history, single_weights = run(single, x, y)
    print(json.dumps({"replicas": mirrored.num_replicas_in_sync, "mirrored": multi_history, "single": single_history,
                      "mirrored_weights": multi_weights, "single_weights": single_weights}))


if __name__ == "__main__":
    main()
