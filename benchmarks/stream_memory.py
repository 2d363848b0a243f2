"""Peak memory of evaluating a tf.data stream: flat from 10,000 to 1,000,000 images (issue 15).

``robust_accuracy`` reads a ``tf.data.Dataset`` batch by batch and keeps only per-example booleans, so its peak
resident memory must not grow with the length of the stream. Each N runs in its own process (peak RSS from
``resource.getrusage``): a stream of N synthetic 28x28x1 images made on the fly, a small fixed CNN, FGSM at
eps 0.1, optionally sharded over 2 logical CPUs with ``MirroredStrategy`` (``--sharded``).

Run: ``python benchmarks/stream_memory.py [--sizes 10000,1000000] [--sharded]``; prints peak RSS per N and the
ratio of the largest to the smallest (the target is <= 1.3).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def child(n: int, sharded: bool) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    if sharded:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import tf_keras as keras

    from tfrobust.evaluation import robust_accuracy

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 5, strides=4, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(10)])

    def batch_of(i):
        images = tf.random.stateless_uniform([1000, 28, 28, 1], seed=tf.stack([i, 0]))
        labels = tf.random.stateless_uniform([1000], seed=tf.stack([i, 1]), maxval=10, dtype=tf.int32)
        return images, labels

    stream = tf.data.Dataset.range(n // 1000).map(batch_of).prefetch(2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]) if sharded else None
    start = time.perf_counter()
    result = robust_accuracy(model, stream, attack="fgsm", eps=0.1, batch_size=1000, early_stop=False,
                             strategy=strategy)
    return {"n": result.n, "seconds": time.perf_counter() - start, "clean": result.clean_accuracy,
            "robust": result.robust_accuracy, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--sharded", action="store_true")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.sharded)))
        return 0
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        cmd = [sys.executable, os.path.abspath(__file__), "--child", str(n)] + (["--sharded"] if args.sharded else [])
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"N={r['n']:>9,}: peak RSS {r['peak_rss_mb']:.0f} MB, {r['seconds']:.0f} s, "
              f"clean {r['clean']:.3f}, FGSM {r['robust']:.3f}", flush=True)
    peaks = [r["peak_rss_mb"] for r in rows]
    print(f"largest / smallest peak RSS: {max(peaks) / min(peaks):.3f} (target <= 1.3)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
