"""Two logical CPUs vs one device, in ONE fresh process for every test that needs them.

Logical devices must be configured before TensorFlow initialises its devices, hence a fresh process; one process
runs all three checks (a TensorFlow import costs ~12 s a process):

- ``wrapper``: PGDAdversarialModel under MirroredStrategy on two logical CPUs vs OneDeviceStrategy
  (test_training_wrapper): per-epoch losses and final weights.
- ``awp``: TRADES-AWP the same way (test_training_awp).
- ``sharded``: robust_accuracy and epsilon_sweep sharded over the two CPUs vs single device, example for example
  (test_sharded_evaluation).
- ``threads``: which thread ran each batch of an EvaluationShards on which device, and when (test_sharded_evaluation).

Run as a script it prints one JSON line ``{"replicas": 2, "wrapper": ..., "awp": ..., "sharded": ...}``. The tests
call ``results(tmp_path_factory)``: the subprocess runs once per test session, also under pytest-xdist (the first
worker that needs it runs it under a file lock, the others read its JSON).
"""
import json
import os
import subprocess
import sys

_CACHE = {}


def results(tmp_path_factory) -> dict:
    """The JSON of one run of this script in a subprocess, run once per test session."""
    if "results" in _CACHE:
        return _CACHE["results"]
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import fcntl

        shared = tmp_path_factory.getbasetemp().parent / "two_cpus_worker.json"  # one folder for all workers
        with open(str(shared) + ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not shared.exists():
                shared.write_text(json.dumps(_run()))
            _CACHE["results"] = json.loads(shared.read_text())
    else:
        _CACHE["results"] = _run()
    return _CACHE["results"]


def _run() -> dict:
    done = subprocess.run([sys.executable, os.path.abspath(__file__)], capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _toy_data(n):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (n, 12, 12, 1)).astype(np.float32)
    y = (x[:, :6].mean(axis=(1, 2, 3)) * 8).astype(np.int64) % 4
    return x, y


def _wrapper(mirrored, single):
    import tf_keras as keras

    from tfrobust.training import PGDAdversarialModel

    def build():
        keras.utils.set_random_seed(0)
        inputs = keras.Input((12, 12, 1))
        h = keras.layers.Conv2D(8, 3, strides=2, activation="relu",
                                kernel_regularizer=keras.regularizers.l2(1e-3))(inputs)
        h = keras.layers.Flatten()(h)
        return keras.Model(inputs, keras.layers.Dense(4)(h))

    def run(strategy, x, y):
        with strategy.scope():
            # Deterministic attack (no random start) so both runs see the same examples.
            model = PGDAdversarialModel(build(), eps=0.1, step_size=0.05, steps=2, random_start=False)
            model.compile(keras.optimizers.SGD(0.5), jit_compile=False)
        history = model.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)
        return history.history, [w.tolist() for w in model.inner.get_weights()]

    x, y = _toy_data(128)
    multi_history, multi_weights = run(mirrored, x, y)
    single_history, single_weights = run(single, x, y)
    return {"mirrored": multi_history, "single": single_history, "mirrored_weights": multi_weights,
            "single_weights": single_weights}


def _awp(mirrored, single):
    import tensorflow as tf
    import tf_keras as keras

    from tfrobust.training import AWPModel

    class Fixed(AWPModel):  # deterministic input attack, so both runs see the same examples
        def adversarial_examples(self, x, y):
            return tf.clip_by_value(x + 0.05 * tf.sign(x - 0.5), 0.0, 1.0)

    def run(strategy, x, y):
        with strategy.scope():
            keras.utils.set_random_seed(0)
            inputs = keras.Input((12, 12, 1))
            h = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
            model = Fixed(keras.Model(inputs, keras.layers.Dense(4)(keras.layers.Flatten()(h))), eps=0.1,
                          step_size=0.05, steps=1, objective="trades", gamma=0.05)
            model.compile(keras.optimizers.SGD(0.5), jit_compile=False)
        history = model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
        return history.history["loss"], [w.tolist() for w in model.inner.get_weights()]

    x, y = _toy_data(64)
    m_loss, m_w = run(mirrored, x, y)
    s_loss, s_w = run(single, x, y)
    return {"m_loss": m_loss, "s_loss": s_loss, "m_w": m_w, "s_w": s_w}


def _sharded(mirrored):
    import numpy as np
    import tf_keras as keras

    from tfrobust.data.mnist5k import load_mnist5k
    from tfrobust.evaluation import epsilon_sweep, robust_accuracy

    x, y = load_mnist5k("train")
    order = np.random.default_rng(0).permutation(len(y))  # the split is sorted by class
    x, y = x[order], y[order]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 5, strides=2, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(10)])
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x[:2000], y[:2000], batch_size=100, epochs=1, verbose=0)
    xs, ys = x[2000:2200], y[2000:2200]
    out = {}
    for name, s in (("single", None), ("sharded", mirrored)):
        pgd = robust_accuracy(model, xs, ys, attack="pgd:steps=5,restarts=2", eps=0.1, batch_size=32,
                              per_example=True, strategy=s)
        sweep = epsilon_sweep(model, xs, ys, attack="fgsm", epsilons=[0.0, 0.05, 0.1], batch_size=48,
                              per_example=True, strategy=s)
        out[name] = {"pgd_clean": pgd.clean_correct.tolist(), "pgd_robust": pgd.robust_correct.tolist(),
                     "pgd_accuracy": pgd.robust_accuracy, "n_attacked": pgd.n_attacked,
                     "sweep": sweep.robust_correct.tolist(), "sweep_accuracy": sweep.accuracy}
    return out


def _threads(mirrored):
    import threading
    import time

    import tensorflow as tf

    from tfrobust.evaluation.sharding import EvaluationShards

    shards = EvaluationShards(mirrored)
    runs = []

    def work(index):
        def run():
            start = time.perf_counter()
            device = tf.ones(()).device  # the device the batch's ops land on
            time.sleep(0.12 if index % 2 else 0.01)  # the second device's batches are slow: a shared pool overlaps them
            runs.append({"batch": index, "device": device, "thread": threading.current_thread().name,
                         "start": start, "end": time.perf_counter()})
            return index

        return run

    for index in range(12):
        shards.submit(index, work(index))
    assert sorted(shards.finish()) == list(range(12))
    return runs


def main():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    single = tf.distribute.OneDeviceStrategy("/cpu:0")
    print(json.dumps({"replicas": mirrored.num_replicas_in_sync, "wrapper": _wrapper(mirrored, single),
                      "awp": _awp(mirrored, single), "sharded": _sharded(mirrored),
                      "threads": _threads(mirrored)}))


if __name__ == "__main__":
    main()
