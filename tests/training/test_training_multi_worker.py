"""MultiWorkerMirroredStrategy: two worker processes on 127.0.0.1 train like one process with the same global
batch, and a worker killed mid-epoch (SIGKILL) resumes through BackupAndRestore to the same weights."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

WORKER = os.path.join(os.path.dirname(__file__), "multi_worker_worker.py")
TIMEOUT = 240


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _launch(mode, out_dir, ports, extra_env=None):
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(len(ports)):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
                   **(extra_env or {}))
        procs.append(subprocess.Popen([sys.executable, WORKER, mode, str(out_dir)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return procs


def _wait(procs, timeout=TIMEOUT):
    deadline = time.time() + timeout
    outputs = []
    try:
        for p in procs:
            outputs.append(p.communicate(timeout=max(1, deadline - time.time())))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return [(p.returncode, err) for p, (_, err) in zip(procs, outputs)]


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    out = tmp_path_factory.mktemp("single")
    done = subprocess.run([sys.executable, WORKER, "single", str(out)], capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    return np.load(out / "single-0.npz")


def _weights(npz, name):
    return [npz[k] for k in sorted(k for k in npz.files if k.startswith(name + "/") and not k.endswith("loss"))]


def test_two_workers_equal_one_process_on_the_same_global_batch(single, tmp_path):
    results = _wait(_launch("multi", tmp_path, _free_ports(2)))
    for code, err in results:
        assert code == 0, err[-3000:]
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
    assert not np.allclose(first, _weights(np.load(tmp_path / "multi-0.npz"), "fast_at")[0], atol=1e-3)


def test_a_worker_killed_mid_epoch_resumes_to_the_same_weights(single, tmp_path):
    ports = _free_ports(2)
    procs = _launch("preempt", tmp_path, ports, {"KILL_AT": "1,2"})
    killed = procs[1]
    killed.wait(timeout=TIMEOUT)
    assert killed.returncode == -signal.SIGKILL
    procs[0].kill()  # the survivor waits on the lost peer; the whole job restarts, as on a real cluster
    procs[0].wait()
    assert os.path.isdir(tmp_path / "backup"), "BackupAndRestore wrote no backup before the kill"
    assert not (tmp_path / "preempt-0.npz").exists()
    results = _wait(_launch("preempt", tmp_path, _free_ports(2)))
    for code, err in results:
        assert code == 0, err[-3000:]
    resumed = np.load(tmp_path / "preempt-0.npz")
    assert len(resumed["pgd_at/loss"]) == 2  # epochs 1 and 2 ran after the restore of epoch 0
    for a, b in zip(_weights(resumed, "pgd_at"), _weights(single, "pgd_at")):
        np.testing.assert_allclose(a, b, atol=1e-4)
