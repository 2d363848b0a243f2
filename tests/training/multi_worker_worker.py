"""Run by test_training_multi_worker in ONE subprocess: a fork server of training-wrapper runs under
MultiWorkerMirroredStrategy.

Usage: ``multi_worker_worker.py`` reads one JSON request a line on stdin, ``{"mode": MODE, "out": OUT_DIR,
"kill_at": "epoch,batch" or null}``, and answers one JSON line on stdout, ``{"codes": [...]}``: the exit codes of
the processes of that run (negative: killed by that signal; null: still running at the deadline, then killed).

This process imports TensorFlow once and never starts its runtime; every run is a fresh forked child per task (its
own TensorFlow runtime, its own gRPC server), so a run costs no TensorFlow import (~12 s a process).

- ``single``: the reference, one process, default strategy, the same global batch.
- ``multi``: two workers of a MultiWorkerMirroredStrategy cluster on 127.0.0.1 (TF_CONFIG names each).
- ``preempt``: like ``multi`` with ``BackupAndRestore``; with ``kill_at`` ("epoch,batch"), worker 1 kills itself
  with SIGKILL at that batch (a preemption mid-epoch); the survivor fails on the lost peer's collectives or, while
  it still waits on them, is terminated (SIGTERM): the whole job restarts, as on a real cluster. Run again
  without it, the job resumes.

Each run writes ``OUT_DIR/<mode>-<task>.npz`` with the final weights of every wrapper trained, and its output to
``OUT_DIR/<mode>-<task>.log``.
"""
import json
import os
import signal
import socket
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

from tfrobust.training import FastAdversarialModel, PGDAdversarialModel, TemperatureModel, TRADESModel  # noqa: E402

GLOBAL_BATCH, EPOCHS = 32, 3
TIMEOUT = 200


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
#: The single-process reference trains only the wrappers it is compared on.
SINGLE = ("pgd_at", "temperature")


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


def train(mode, out_dir, task, kill_at):
    """One task of a run (in a forked child): trains the wrappers of ``mode`` and writes their weights."""
    if mode == "single":
        strategy = tf.distribute.get_strategy()
    else:
        strategy = tf.distribute.MultiWorkerMirroredStrategy(
            communication_options=tf.distribute.experimental.CommunicationOptions(timeout_seconds=60))
    x, y = data()
    names = ["pgd_at"] if mode == "preempt" else list(SINGLE if mode == "single" else WRAPPERS)
    weights = {}
    for name in names:
        with strategy.scope():
            model = WRAPPERS[name](build())
            model.compile(keras.optimizers.SGD(0.5), jit_compile=False)
        callbacks = []
        if mode == "preempt":
            callbacks.append(keras.callbacks.BackupAndRestore(os.path.join(out_dir, "backup")))
            if kill_at and task == 1:
                callbacks.append(KillAt(*map(int, kill_at.split(","))))
        history = model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=EPOCHS, shuffle=False, verbose=0,
                            callbacks=callbacks)
        for i, w in enumerate(model.inner.get_weights()):
            weights[f"{name}/{i}"] = w
        weights[f"{name}/loss"] = np.asarray(history.history["loss"])
    np.savez(os.path.join(out_dir, f"{mode}-{task}.npz"), **weights)


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _fork(mode, out_dir, task, kill_at, tf_config):
    pid = os.fork()
    if pid:
        return pid
    code = 3
    try:
        log = os.open(os.path.join(out_dir, f"{mode}-{task}.log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(log, 1)
        os.dup2(log, 2)
        if tf_config is not None:
            os.environ["TF_CONFIG"] = json.dumps(tf_config)
        train(mode, out_dir, task, kill_at)
        code = 0
    except BaseException:  # noqa: B036 (a child must never return into the server loop)
        import traceback
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _terminate(pid, grace=20.0):
    """SIGTERM, then SIGKILL after ``grace`` seconds; returns the exit code."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.time() + grace
    while time.time() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def launch(mode, out_dir, kill_at=None):
    """Forks the tasks of one run and waits for them; returns their exit codes."""
    if mode == "single":
        pids = [_fork(mode, out_dir, 0, None, None)]
    else:
        cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
        pids = [_fork(mode, out_dir, task, kill_at, {"cluster": cluster, "task": {"type": "worker", "index": task}})
                for task in range(2)]
    codes = {}
    deadline = time.time() + TIMEOUT
    while len(codes) < len(pids) and time.time() < deadline:
        for pid in pids:
            if pid not in codes:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    codes[pid] = os.waitstatus_to_exitcode(status)
        if any(code < 0 for code in codes.values()):  # a task was killed: its peers wait for it forever
            for pid in pids:
                if pid not in codes:
                    codes[pid] = _terminate(pid)
        time.sleep(0.05)
    for pid in pids:
        if pid not in codes:  # past the deadline
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    return [codes.get(pid) for pid in pids]


def main():
    for line in sys.stdin:
        request = json.loads(line)
        codes = launch(request["mode"], request["out"], request.get("kill_at"))
        print(json.dumps({"codes": codes}), flush=True)


if __name__ == "__main__":
    main()
