"""Run by test_sharded_evaluation in a subprocess: evaluation on two logical CPUs vs one device.

Logical devices must be configured before TensorFlow initialises its devices, hence a fresh process.
Prints one JSON line with the per-example results of both runs.
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

from tfrobust.data.mnist5k import load_mnist5k  # noqa: E402
from tfrobust.evaluation import epsilon_sweep, robust_accuracy  # noqa: E402


def main():
    x, y = load_mnist5k("train")
    order = np.random.default_rng(0).permutation(len(y))  # the split is sorted by class
    x, y = x[order], y[order]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 5, strides=2, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(10)])
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x[:2000], y[:2000], batch_size=100, epochs=1, verbose=0)
    xs, ys = x[2000:2200], y[2000:2200]
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    out = {"replicas": strategy.num_replicas_in_sync}
    for name, s in (("single", None), ("sharded", strategy)):
        pgd = robust_accuracy(model, xs, ys, attack="pgd:steps=5,restarts=2", eps=0.1, batch_size=32,
                              per_example=True, strategy=s)
        sweep = epsilon_sweep(model, xs, ys, attack="fgsm", epsilons=[0.0, 0.05, 0.1], batch_size=48,
                              per_example=True, strategy=s)
        out[name] = {"pgd_clean": pgd.clean_correct.tolist(), "pgd_robust": pgd.robust_correct.tolist(),
                     "pgd_accuracy": pgd.robust_accuracy, "n_attacked": pgd.n_attacked,
                     "sweep": sweep.robust_correct.tolist(), "sweep_accuracy": sweep.accuracy}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
