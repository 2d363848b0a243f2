"""MultiWorkerMirroredStrategy: two worker processes on 127.0.0.1 train like one process with the same global
batch, and a worker killed mid-epoch (SIGKILL) resumes through BackupAndRestore to the same weights.

Every process is forked by one server subprocess (multi_worker_worker.py) that imported TensorFlow once: each
worker still has a TensorFlow runtime, a gRPC server and a life of its own (killed, restarted), without the
TensorFlow import of a fresh interpreter per process."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

WORKER = os.path.join(os.path.dirname(__file__), "multi_worker_worker.py")


class _Server:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)

    def launch(self, mode, out_dir, kill_at=None):
        """Runs ``mode``'s processes to their end; returns their exit codes (negative: killed by that signal)."""
        self.proc.stdin.write(json.dumps({"mode": mode, "out": str(out_dir), "kill_at": kill_at}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=60)
            pytest.fail(f"the worker server died ({self.proc.returncode}): {self.proc.stderr.read()[-3000:]}")
        return json.loads(line)["codes"]

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.stdout.close()
            self.proc.stderr.close()


def _logs(out_dir, mode):
    return "\n".join(p.read_text()[-2000:] for p in sorted(out_dir.glob(f"{mode}-*.log")))


@pytest.fixture(scope="module")
def server():
    s = _Server()
    yield s
    s.close()


@pytest.fixture(scope="module")
def single(server, tmp_path_factory):
    out = tmp_path_factory.mktemp("single")
    assert server.launch("single", out) == [0], _logs(out, "single")
    return np.load(out / "single-0.npz")


def _weights(npz, name):
    return [npz[k] for k in sorted(k for k in npz.files if k.startswith(name + "/") and not k.endswith("loss"))]


def test_two_workers_equal_one_process_on_the_same_global_batch(server, single, tmp_path):
    assert server.launch("multi", tmp_path) == [0, 0], _logs(tmp_path, "multi")
    workers = [np.load(tmp_path / f"multi-{i}.npz") for i in range(2)]
    for name in ("pgd_at", "temperature", "trades", "fast_at"):
        for a, b in zip(_weights(workers[0], name), _weights(workers[1], name)):
            np.testing.assert_array_equal(a, b, err_msg=f"{name}: the workers' weights diverged")
        assert np.all(np.isfinite(workers[0][f"{name}/loss"]))
    for name in ("pgd_at", "temperature"):
        for a, b in zip(_weights(workers[0], name), _weights(single, name)):
            np.testing.assert_allclose(a, b, atol=1e-4, err_msg=f"{name}: two workers differ from one process")
    # Training moved the weights (the comparison is not between two untouched initialisations).
    first = _weights(single, "pgd_at")[0]
    assert not np.allclose(first, _weights(workers[0], "fast_at")[0], atol=1e-3)


def test_a_worker_killed_mid_epoch_resumes_to_the_same_weights(server, single, tmp_path):
    codes = server.launch("preempt", tmp_path, kill_at="1,2")
    # Worker 1 killed itself (SIGKILL); the survivor did not finish: it failed on the lost peer's collectives or,
    # still waiting on them, was terminated by the server. The whole job restarts, as on a real cluster.
    assert codes[1] == -signal.SIGKILL, _logs(tmp_path, "preempt")
    assert codes[0] != 0, _logs(tmp_path, "preempt")
    assert os.path.isdir(tmp_path / "backup"), "BackupAndRestore wrote no backup before the kill"
    assert not (tmp_path / "preempt-0.npz").exists()
    assert server.launch("preempt", tmp_path) == [0, 0], _logs(tmp_path, "preempt")
    resumed = np.load(tmp_path / "preempt-0.npz")
    assert len(resumed["pgd_at/loss"]) == 2  # epochs 1 and 2 ran after the restore of epoch 0
    for a, b in zip(_weights(resumed, "pgd_at"), _weights(single, "pgd_at")):
        np.testing.assert_allclose(a, b, atol=1e-4)
