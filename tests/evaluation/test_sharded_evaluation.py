"""Sharded evaluation (tfrobust.evaluation.sharding) equals single-device evaluation example for example."""
import numpy as np
import tensorflow as tf

from tfrobust.evaluation.sharding import EvaluationShards


def test_two_logical_cpus_give_the_single_device_numbers_example_for_example(tmp_path_factory):
    import two_cpus_worker  # tests/two_cpus_worker.py: one fresh process with two logical CPUs

    runs = two_cpus_worker.results(tmp_path_factory)
    assert runs["replicas"] == 2
    single, sharded = runs["sharded"]["single"], runs["sharded"]["sharded"]
    for key in ("pgd_clean", "pgd_robust", "sweep"):
        np.testing.assert_array_equal(np.asarray(sharded[key]), np.asarray(single[key]), err_msg=key)
    assert sharded["n_attacked"] == single["n_attacked"]
    assert 0.2 < single["pgd_accuracy"] < np.mean(single["pgd_clean"])  # the attack did something


def test_each_device_is_driven_by_one_thread_never_two_at_once(tmp_path_factory):
    # TensorFlow 2.21 returns other calls' tensors now and then when several threads run eager ops on the same
    # non-default device at once (tfrobust/evaluation/sharding.py); the shards must never do that
    import two_cpus_worker

    runs = two_cpus_worker.results(tmp_path_factory)["threads"]
    assert len(runs) == 12
    by_device = {}
    for run in runs:
        by_device.setdefault(run["device"], []).append(run)
    assert len(by_device) == 2
    for device, batches in by_device.items():
        assert len({run["thread"] for run in batches}) == 1, device
        batches.sort(key=lambda run: run["start"])
        assert all(a["end"] <= b["start"] for a, b in zip(batches, batches[1:])), device  # one at a time
    assert {run["thread"] for run in runs} == {batches[0]["thread"] for batches in by_device.values()}


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
