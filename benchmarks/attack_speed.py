"""How close tfrobust's PGD comes to the cost of its gradients, and what per-example early stop saves.

(a) PGD L-inf time per step / one compiled forward + input-gradient pass on the same model and batch
    ("the limit": a PGD step cannot be cheaper than the gradient it needs). Reported two ways:
    per step = marginal cost, (time of a long run - time of a short run) / extra steps, which is what the
    step loop costs; end to end = whole call / steps, which also carries the per-call work (input checks,
    the clean forward pass, the random start, the final forward pass). Both on the wall clock and on
    process CPU time; on a shared machine other processes inflate wall times at random, CPU time much less.
(b) Early-stopped evaluation of an undefended, standard-trained CNN vs the same PGD without early stop:
    time ratio, example-steps ratio and both robust accuracies (must be equal).

Run: PYTHONPATH=. python benchmarks/attack_speed.py [--batch 256 --steps 100 --repeats 5 --xla auto]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

from tfrobust import config  # noqa: E402
from tfrobust.attacks import pgd  # noqa: E402
from tfrobust.data.mnist5k import load_mnist5k  # noqa: E402


def small_cnn() -> keras.Model:
    """The CNN of tests/conftest.py: Conv16-5/2, Conv32-5/2, Dense64, Dense10 (logits)."""
    inputs = keras.Input((28, 28, 1))
    h = keras.layers.Conv2D(16, 5, strides=2, padding="same", activation="relu")(inputs)
    h = keras.layers.Conv2D(32, 5, strides=2, padding="same", activation="relu")(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(64, activation="relu")(h)
    return keras.Model(inputs, keras.layers.Dense(10)(h))


def train_standard(x, y, epochs: int) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = small_cnn()
    model.compile(keras.optimizers.Adam(2e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=64, epochs=epochs, verbose=0)
    return model


def once(fn):
    """(wall seconds, process CPU seconds) of one run of ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def step_cost_vs_limit(model, x, y, *, steps: int, repeats: int):
    """Per-step PGD cost against the limit, timed interleaved so that load drifts hit both alike.

    Returns {clock: (limit s/call, PGD marginal s/step, PGD end-to-end s/step, marginal / limit,
    end-to-end / limit)} for clock "wall" and "cpu" (process CPU time, less sensitive to other
    processes on a shared machine); each a median over repeats, ratios taken within a repeat.
    """
    @tf.function(jit_compile=config.use_xla(), reduce_retracing=True)
    def forward_backward(images, labels):
        with tf.GradientTape() as tape:
            tape.watch(images)
            logits = model(images, training=False)
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        return tape.gradient(loss, images)

    x_t, y_t = tf.constant(x), tf.constant(y)
    short = max(1, steps // 5)

    def limit_run():
        for _ in range(steps):
            forward_backward(x_t, y_t).numpy()

    def pgd_run(n):
        return lambda: np.asarray(pgd(model, x, y, eps=0.3, step_size=0.01, steps=n, seed=0))

    for fn in (limit_run, pgd_run(steps), pgd_run(short)):  # warm-up: trace and compile everything
        fn()
    rows = {"wall": [], "cpu": []}
    for _ in range(repeats):
        limit, long, brief = once(limit_run), once(pgd_run(steps)), once(pgd_run(short))
        for i, clock in enumerate(rows):
            per_call = limit[i] / steps
            marginal, end_to_end = (long[i] - brief[i]) / (steps - short), long[i] / steps
            rows[clock].append((per_call, marginal, end_to_end, marginal / per_call, end_to_end / per_call))
    return {clock: [statistics.median(column) for column in zip(*values)] for clock, values in rows.items()}


def early_stop_saving(model, x, y, *, steps: int, restarts: int, repeats: int):
    """Naive vs early-stopped PGD, interleaved repeats. Returns {early_stop: (median wall s, median CPU s,
    example-steps, robust accuracy)}."""
    kwargs = dict(eps=0.3, step_size=2.5 * 0.3 / steps, steps=steps, restarts=restarts, seed=0, return_info=True)
    out, times = {}, {False: [], True: []}

    def run(early_stop):
        def attack():
            out[early_stop] = pgd(model, x, y, early_stop=early_stop, **kwargs)
        return attack

    for early_stop in times:  # warm-up
        run(early_stop)()
    for _ in range(repeats):
        for early_stop in times:
            times[early_stop].append(once(run(early_stop)))
    results = {}
    for early_stop, (x_adv, info) in out.items():
        accuracy = float(np.mean(np.argmax(model(x_adv, training=False), axis=1) == y))
        wall, cpu = (statistics.median(column) for column in zip(*times[early_stop]))
        results[early_stop] = (wall, cpu, info["example_steps"], accuracy)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=256, help="batch size for (a)")
    parser.add_argument("--steps", type=int, default=100, help="PGD steps timed in (a)")
    parser.add_argument("--repeats", type=int, default=5, help="timing repeats (median)")
    parser.add_argument("--es-steps", type=int, default=20, help="PGD steps per restart in (b)")
    parser.add_argument("--es-restarts", type=int, default=2, help="PGD restarts in (b)")
    parser.add_argument("--epochs", type=int, default=6, help="epochs of the standard model in (b)")
    parser.add_argument("--xla", default="auto", help="XLA setting: auto (on with a GPU), true or false")
    args = parser.parse_args()
    config.set_xla(args.xla)

    x_train, y_train = load_mnist5k("train")
    x_test, y_test = load_mnist5k("test")
    print(f"TensorFlow {tf.__version__}, XLA {'on' if config.use_xla() else 'off'}, "
          f"GPU {'yes' if tf.config.list_physical_devices('GPU') else 'no'}, CPU threads {os.cpu_count()}")

    model = train_standard(x_train, y_train, args.epochs)
    clean = float(np.mean(np.argmax(model(x_test, training=False), axis=1) == y_test))
    x, y = x_test[:args.batch], y_test[:args.batch].astype(np.int32)

    costs = step_cost_vs_limit(model, x, y, steps=args.steps, repeats=args.repeats)
    print(f"\n(a) PGD L-inf, small CNN, batch {args.batch}, {args.steps} steps (medians of {args.repeats} "
          f"interleaved repeats; wall clock and process CPU time)")
    print(f"{'':38s}{'wall ms':>10s}{'ratio':>8s}{'cpu ms':>10s}{'ratio':>8s}")
    labels = ["limit: compiled forward+input grad", "PGD per step (marginal)", "PGD per step (end to end)"]
    for row, label in enumerate(labels):
        wall, cpu = costs["wall"], costs["cpu"]
        ratio_wall, ratio_cpu = (1.0, 1.0) if row == 0 else (wall[row + 2], cpu[row + 2])
        note = "   target <= 1.05" if row == 1 else ""
        print(f"{label:38s}{1e3 * wall[row]:10.2f}{ratio_wall:8.3f}{1e3 * cpu[row]:10.2f}{ratio_cpu:8.3f}{note}")

    results = early_stop_saving(model, x_test, y_test, steps=args.es_steps, restarts=args.es_restarts,
                                repeats=args.repeats)
    (w_naive, c_naive, s_naive, a_naive), (w_es, c_es, s_es, a_es) = results[False], results[True]
    print(f"\n(b) undefended CNN (clean {clean:.3f}) on mnist5k test ({len(y_test)}), PGD eps 0.3, "
          f"{args.es_steps} steps x {args.es_restarts} restarts")
    print(f"{'':22s}{'wall s':>9s}{'cpu s':>9s}{'ex-steps':>10s}{'robust acc':>12s}")
    print(f"{'naive':22s}{w_naive:9.2f}{c_naive:9.2f}{s_naive:10d}{a_naive:12.3f}")
    print(f"{'early stop':22s}{w_es:9.2f}{c_es:9.2f}{s_es:10d}{a_es:12.3f}")
    print(f"{'ratio early / naive':22s}{w_es / w_naive:9.3f}{c_es / c_naive:9.3f}{s_es / s_naive:10.3f}"
          f"   target time <= 0.3, equal robust accuracy: {'yes' if a_es == a_naive else 'NO'}")

if __name__ == "__main__":
    main()
