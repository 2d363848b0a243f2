"""Cost of a robust training step relative to a standard training step on the same model and batch.

For each model: the time of one compiled ``train_step`` of ``FastAdversarialModel`` (FGSM-RS, Wong et
al. 2020) and ``PGDAdversarialModel`` with k = 3 and 7 steps (Madry et al. 2018), divided by the time of
one standard Keras training step (cross entropy, Adam, accuracy metric) of the same architecture on
the same batch. Targets (issue 4): fast AT <= 2.1x; PGD-k <= (k + 1) x 1.05. Issue 14 adds one row per
baseline (N-FGSM, GradAlign, TRADES, MART, AT-AWP, TRADES-AWP, ensemble AT; see ``method_rows``).

Why those targets: a standard step is one forward and one backward pass (input and weight gradients).
FGSM-RS adds one forward pass and one input-only backward pass; PGD-k adds k of them. The wrappers
take the attack's gradient with respect to the input only, so no weight gradient is computed for it.
By default the wrappers also report clean accuracy, which costs one inference forward pass per step
when the step never sees clean inputs; the "lean" rows turn that off (``clean_accuracy=False``).

Timing: each variant's step is a ``tf.function`` (XLA by ``tfrobust.config``: on with a GPU), warmed
up, then timed over ``--steps`` calls; variants are interleaved and repeated, and each ratio is the
median over repeats of the within-repeat ratio, on the wall clock and on process CPU time (a shared
CPU inflates wall times at random, CPU time much less; on a GPU only the wall clock means anything).

Run: PYTHONPATH=. python benchmarks/training_speed.py [--models mnist_small,vgg_like --batch 128
     --steps 10 --repeats 3 --xla auto]
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
from tfrobust.training import (AWPModel, EnsembleAdversarialModel, FastAdversarialModel, GradAlignModel,  # noqa: E402
                               MARTModel, NFGSMModel, PGDAdversarialModel, TRADESModel)

SHAPES = {"mnist_small": (28, 28, 1), "lenet5": (28, 28, 1), "vgg_like": (32, 32, 3), "resnet20": (32, 32, 3),
          "preact_resnet18": (32, 32, 3)}
EPS = {1: 0.1, 3: 8 / 255}


def build(name: str) -> keras.Model:
    from tfrobust.models import build as build_model

    return build_model(name, SHAPES[name], 10)


def variants(name: str):
    """(label, target ratio or None, model compiled for training) for each variant."""
    eps = EPS[SHAPES[name][-1]]
    standard = build(name)
    standard.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                     metrics=["accuracy"], jit_compile=config.use_xla())
    rows = [("standard", None, standard)]
    for lean in (False, True):
        suffix = " lean" if lean else ""
        fast = FastAdversarialModel(build(name), eps=eps, clean_accuracy=not lean)
        rows.append((f"fast AT (FGSM-RS){suffix}", 2.1, fast))
        for k in (3, 7):
            pgd = PGDAdversarialModel(build(name), eps=eps, step_size=2.5 * eps / k, steps=k, clean_accuracy=not lean)
            rows.append((f"PGD-{k} AT{suffix}", (k + 1) * 1.05, pgd))
    rows += method_rows(name, eps)
    for _, _, model in rows[1:]:
        model.compile(keras.optimizers.Adam(1e-3))
    return rows


def method_rows(name: str, eps: float, k: int = 3):
    """The issue-14 baselines (default settings, clean accuracy reported), inner attacks of k = 3 steps.

    Targets only where the cost is the FGSM-RS step's (N-FGSM: one forward and one input-only backward
    pass more than a standard step). The others are reported without a target: TRADES/MART/TRADES-AWP
    add the clean batch to the training pass (2B examples), AWP one weight-gradient pass, GradAlign a
    double backpropagation, ensemble AT the clean half-batch.
    """
    step = 2.5 * eps / k
    return [
        ("N-FGSM", 2.1, NFGSMModel(build(name), eps=eps)),
        ("GradAlign (FGSM)", None, GradAlignModel(build(name), eps=eps)),
        (f"TRADES-{k}", None, TRADESModel(build(name), eps=eps, step_size=step, steps=k)),
        (f"MART-{k}", None, MARTModel(build(name), eps=eps, step_size=step, steps=k)),
        (f"AT-AWP-{k}", None, AWPModel(build(name), eps=eps, step_size=step, steps=k)),
        (f"TRADES-AWP-{k}", None, AWPModel(build(name), eps=eps, step_size=step, steps=k, objective="trades")),
        ("ensemble AT (1 static)", None, EnsembleAdversarialModel(build(name), [build(name)], eps=eps)),
    ]


def compiled_step(model):
    step = tf.function(model.train_step, jit_compile=config.use_xla(), reduce_retracing=True)
    return lambda data: step(data)["loss"].numpy()


def measure(name: str, batch: int, steps: int, repeats: int):
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(0, 1, (batch,) + SHAPES[name]).astype(np.float32))
    y = tf.constant(rng.integers(0, 10, batch).astype(np.int32))
    rows = variants(name)
    steps_fns = [compiled_step(model) for _, _, model in rows]
    for fn in steps_fns:  # trace, compile and warm up
        for _ in range(3):
            fn((x, y))
    times = {"wall": [[] for _ in rows], "cpu": [[] for _ in rows]}
    for _ in range(repeats):
        for i, fn in enumerate(steps_fns):
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(steps):
                fn((x, y))
            times["wall"][i].append((time.perf_counter() - wall) / steps)
            times["cpu"][i].append((time.process_time() - cpu) / steps)
    results = []
    for i, (label, target, _) in enumerate(rows):
        entry = {"variant": label, "target": target}
        for clock in ("wall", "cpu"):
            ratios = [t / s for t, s in zip(times[clock][i], times[clock][0])]
            entry[f"{clock}_ms"] = 1000 * statistics.median(times[clock][i])
            entry[f"{clock}_ratio"] = statistics.median(ratios)
        results.append(entry)
    return results


def print_table(name: str, batch: int, results, gpu: bool):
    clock = "wall" if gpu else "cpu"
    print(f"\n{name}, batch {batch}, input {SHAPES[name]}, XLA {config.use_xla()}, "
          f"device {'GPU' if gpu else 'CPU'}; ratio clock: {clock}")
    print(f"| {'variant':<24} | wall ms/step | cpu ms/step | ratio (wall) | ratio (cpu) | target | met |")
    print("|" + "---|" * 7)
    for r in results:
        target = "" if r["target"] is None else f"<= {r['target']:.2f}"
        met = "" if r["target"] is None else ("yes" if r[f"{clock}_ratio"] <= r["target"] else "NO")
        print(f"| {r['variant']:<24} | {r['wall_ms']:12.2f} | {r['cpu_ms']:11.2f} | {r['wall_ratio']:12.2f} | "
              f"{r['cpu_ratio']:11.2f} | {target:>6} | {met:>3} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="mnist_small,vgg_like", help=f"comma list of {', '.join(SHAPES)}")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per variant and repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--xla", default="auto", help="True, False or auto (on with a GPU)")
    args = parser.parse_args()
    config.set_xla(args.xla)
    gpu = bool(tf.config.list_physical_devices("GPU"))
    print(f"TensorFlow {tf.__version__}; {'GPU: ' + tf.config.experimental.get_device_details(tf.config.list_physical_devices('GPU')[0]).get('device_name', '?') if gpu else 'CPU only'}")
    for name in args.models.split(","):
        name = name.strip()
        if name not in SHAPES:
            raise SystemExit(f"Unknown model {name!r}; choose from {', '.join(SHAPES)}.")
        print_table(name, args.batch, measure(name, args.batch, args.steps, args.repeats), gpu)


if __name__ == "__main__":
    main()
