"""Sharded evaluation (tfrobust.evaluation.sharding) equals single-device evaluation example for example."""
import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from tfrobust.evaluation.sharding import EvaluationShards


def test_two_logical_cpus_give_the_single_device_numbers_example_for_example():
    worker = os.path.join(os.path.dirname(__file__), "sharded_worker.py")
    done = subprocess.run([sys.executable, worker], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["replicas"] == 2
    single, sharded = out["single"], out["sharded"]
    for key in ("pgd_clean", "pgd_robust", "sweep"):
        np.testing.assert_array_equal(np.asarray(sharded[key]), np.asarray(single[key]), err_msg=key)
    assert sharded["n_attacked"] == single["n_attacked"]
    assert 0.2 < single["pgd_accuracy"] < np.mean(single["pgd_clean"])  # the attack did something


def test_batches_are_dealt_round_robin_over_workers_and_devices():
    shards = EvaluationShards(None)
    assert shards.num_replicas == 1 and all(shards.owns(k) for k in range(5))
    shards.devices, shards.num_workers, shards.worker_index = ["/cpu:0", "/cpu:1"], 2, 1
    assert [k for k in range(8) if shards.owns(k)] == [2, 3, 6, 7]


def test_strategy_must_be_a_tf_distribute_strategy():
    import pytest

    with pytest.raises(TypeError, match="tf.distribute.Strategy"):
        EvaluationShards("mirrored")
    one = EvaluationShards(tf.distribute.OneDeviceStrategy("/cpu:0"))
    assert one.num_replicas == 1 and one.devices == ["/job:localhost/replica:0/task:0/device:CPU:0"]
