"""Run by test_training_multi_worker in subprocesses: training wrappers under MultiWorkerMirroredStrategy.

Usage: ``multi_worker_worker.py MODE OUT_DIR`` with TF_CONFIG set for the multi-worker modes.

- ``single``: the reference, one process, default strategy, the same global batch.
- ``multi``: one worker of a MultiWorkerMirroredStrategy cluster (TF_CONFIG names it).
- ``preempt``: like ``multi`` with ``BackupAndRestore``; when ``KILL_AT`` ("epoch,batch") is set, worker 1
  kills itself with SIGKILL at that batch (a preemption mid-epoch); started again without it, the job resumes.

Each run writes ``OUT_DIR/<mode>-<task>.npz`` with the final weights of every wrapper trained.
"""
import json
import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

MODE, OUT_DIR = sys.argv[1], sys.argv[2]
if MODE != "single":
    strategy = tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=tf.distribute.experimental.CommunicationOptions(timeout_seconds=60))
    TASK = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
else:
    strategy, TASK = tf.distribute.get_strategy(), 0

import tf_keras as keras  # noqa: E402

from tfrobust.training import FastAdversarialModel, PGDAdversarialModel, TemperatureModel, TRADESModel  # noqa: E402

GLOBAL_BATCH, EPOCHS = 32, 3


def data():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (128, 12, 12, 1)).astype(np.float32)
    y = (x[:, :6].mean(axis=(1, 2, 3)) * 8).astype(np.int64) % 4
    return x, y


def build():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 1))
    h = keras.layers.Conv2D(8, 3, strides=2, activation="relu", kernel_regularizer=keras.regularizers.l2(1e-3))(inputs)
    return keras.Model(inputs, keras.layers.Dense(4)(keras.layers.Flatten()(h)))


#: Wrappers with deterministic steps are compared with the single process; FGSM-RS and TRADES draw their random
#: starts per replica, so only their training under the strategy (finite loss, identical weights on every worker)
#: is checked for them.
WRAPPERS = {
    "pgd_at": lambda m: PGDAdversarialModel(m, eps=0.1, step_size=0.05, steps=2, random_start=False),
    "temperature": lambda m: TemperatureModel(m, temperature=10.0),
    "trades": lambda m: TRADESModel(m, eps=0.1, step_size=0.05, steps=2, beta=1.0),
    "fast_at": lambda m: FastAdversarialModel(m, eps=0.1),
}


class KillAt(keras.callbacks.Callback):
    """SIGKILLs this process at (epoch, batch): a preempted worker."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at, self.epoch = (epoch, batch), 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            os.kill(os.getpid(), signal.SIGKILL)


def main():
    x, y = data()
    names = ["pgd_at"] if MODE == "preempt" else list(WRAPPERS)
    weights = {}
    for name in names:
        with strategy.scope():
            model = WRAPPERS[name](build())
            model.compile(keras.optimizers.SGD(0.5), jit_compile=False)
        callbacks = []
        if MODE == "preempt":
            callbacks.append(keras.callbacks.BackupAndRestore(os.path.join(OUT_DIR, "backup")))
            if os.environ.get("KILL_AT") and TASK == 1:
                callbacks.append(KillAt(*map(int, os.environ["KILL_AT"].split(","))))
        history = model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=EPOCHS, shuffle=False, verbose=0,
                            callbacks=callbacks)
        for i, w in enumerate(model.inner.get_weights()):
            weights[f"{name}/{i}"] = w
        weights[f"{name}/loss"] = np.asarray(history.history["loss"])
    np.savez(os.path.join(OUT_DIR, f"{MODE}-{TASK}.npz"), **weights)


if __name__ == "__main__":
    main()
