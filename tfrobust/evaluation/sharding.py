"""Sharded evaluation: attack batches spread over the replicas and workers of a ``tf.distribute`` strategy.

``robust_accuracy(..., strategy=s)`` and ``epsilon_sweep(..., strategy=s)`` read the data batch by batch as
usual and hand batch k to global replica ``k mod R`` (R = workers x local replicas of ``s``): each worker
attacks only its own batches, one thread per local device (TensorFlow ops release the GIL, so the devices
work in parallel), and the per-example results are combined by an all-reduce of *counts* (SUM of 0/1
correctness vectors, attacked counts and seconds), never of averages.

Every attack call sees exactly one batch and seeds its randomness per call (specs use seed 0), so an
example's outcome depends only on its batch, not on the device that ran it: the sharded numbers equal the
single-device numbers example for example for the same ``batch_size``.

Each local device is driven by its own single thread, never by two at once. Measured with TensorFlow 2.21 on two
logical CPUs: when several threads run eager ops on the same non-default device at once, ops now and then get
another call's tensors (``tf.reduce_sum(tf.ones((n, 3)), 1)`` from 4 threads on ``/cpu:1``: 28-132 results of the
wrong length in 60,000 calls, 0 on ``/cpu:0`` or with one thread per device), which surfaced as reshape, scatter and
random-key shape errors in sharded PGD in 8 of 100 runs under load (a thread pool shared by all devices let two
threads run batches for ``/cpu:1`` at once), and could as well give wrong numbers of the right shape.

Works with ``MirroredStrategy`` (several local devices, e.g. logical CPUs or GPUs),
``MultiWorkerMirroredStrategy`` (several processes; every worker must read the same data in the same order)
and ``OneDeviceStrategy``; ``strategy=None`` is one device and no threads.
"""
from __future__ import annotations

import concurrent.futures
from typing import Callable, Dict, List, Optional

import numpy as np
import tensorflow as tf


class EvaluationShards:
    """Which batches this process evaluates, on which device, and the all-reduce of the results.

    Args:
        strategy: a ``tf.distribute.Strategy`` or None.

    Raises:
        TypeError: ``strategy`` is not a tf.distribute strategy.
    """

    def __init__(self, strategy: Optional[tf.distribute.Strategy] = None):
        if strategy is not None and not isinstance(strategy, tf.distribute.Strategy):
            raise TypeError(f"strategy must be a tf.distribute.Strategy (e.g. MirroredStrategy) or None, "
                            f"got {type(strategy).__name__}.")
        if strategy is not None and not tf.distribute.has_strategy() and strategy is tf.distribute.get_strategy():
            strategy = None  # the default strategy: one device
        self.strategy = strategy
        self.devices: List[Optional[str]] = [None] if strategy is None else list(strategy.extended.worker_devices)
        self.worker_index, self.num_workers = _worker_position(strategy)
        # One thread per device, each driving only its own device (see the module docstring: several threads running
        # eager ops on the same non-default device get wrong tensors back).
        self._pools = ([concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"tfrobust-shard{i}")
                        for i in range(len(self.devices))] if len(self.devices) > 1 else None)
        self._pending: Dict[int, concurrent.futures.Future] = {}
        self.results: Dict[int, object] = {}

    @property
    def num_replicas(self) -> int:
        """Replicas over all workers."""
        return self.num_workers * len(self.devices)

    def owns(self, batch_index: int) -> bool:
        """Whether this worker evaluates batch ``batch_index``."""
        return (batch_index % self.num_replicas) // len(self.devices) == self.worker_index

    def submit(self, batch_index: int, work: Callable[[], object]) -> None:
        """Runs ``work()`` for an owned batch on its device (in a thread when there are several devices).

        At most two batches per device are in flight, so memory does not grow with the number of batches.
        """
        slot = (batch_index % self.num_replicas) % len(self.devices)
        device = self.devices[slot]

        def on_device():
            if device is None:
                return work()
            with tf.device(device):
                return work()

        if self._pools is None:
            self.results[batch_index] = on_device()
            return
        while len(self._pending) >= 2 * len(self.devices):
            done, _ = concurrent.futures.wait(self._pending.values(), return_when=concurrent.futures.FIRST_COMPLETED)
            self._collect(done)
        self._pending[batch_index] = self._pools[slot].submit(on_device)

    def _collect(self, done) -> None:
        for index, future in list(self._pending.items()):
            if future in done:
                self.results[index] = future.result()  # re-raises the batch's error here
                del self._pending[index]

    def finish(self) -> Dict[int, object]:
        """Waits for every submitted batch and returns ``{batch_index: result}`` of this worker."""
        if self._pending:
            done, _ = concurrent.futures.wait(self._pending.values())
            self._collect(done)
        if self._pools is not None:
            for pool in self._pools:
                pool.shutdown(wait=True)
        return self.results

    def all_reduce_sum(self, values: np.ndarray) -> np.ndarray:
        """The element-wise SUM of ``values`` over all workers (this worker's own values with one worker)."""
        values = np.asarray(values, dtype=np.float64)
        if self.num_workers == 1:
            return values
        first_local = self.worker_index * len(self.devices)
        tensor = tf.constant(values)
        distributed = self.strategy.experimental_distribute_values_from_function(
            lambda ctx: tensor if ctx.replica_id_in_sync_group == first_local else tf.zeros_like(tensor))
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, distributed, axis=None).numpy()


def _worker_position(strategy) -> tuple:
    """(index of this worker, number of workers) from the strategy's cluster, (0, 1) without one."""
    resolver = getattr(strategy, "cluster_resolver", None) if strategy is not None else None
    if resolver is None:
        return 0, 1
    cluster = resolver.cluster_spec().as_dict()
    tasks = [(kind, i) for kind in ("chief", "worker") for i in range(len(cluster.get(kind, [])))]
    if not tasks:
        return 0, 1
    return tasks.index((resolver.task_type, int(resolver.task_id))), len(tasks)
