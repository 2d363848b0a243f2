"""The GPU path of tfrobust, measured in one script (issue 15): XLA, mixed precision and the attack loops.

Four measurements, each printed as seconds and as ratios measured in this one run:

1. Fast adversarial training (FGSM-RS, Wong et al. 2020) of PreActResNet18 on CIFAR-shaped synthetic data: epoch
   time with XLA off/on and mixed precision (``mixed_float16``) off/on. Published anchor: 15 epochs of CIFAR-10 in
   12 minutes on one RTX 2080 Ti (48 s/epoch; 6.1 minutes, 24 s/epoch, in a later re-run).
2. PGD L-inf time per step against one compiled forward + input-gradient pass (the limit), XLA on.
3. ``autoattack`` (standard version) on CIFAR-shaped images against a fast-AT-trained model: total seconds and
   seconds per stage.
4. KAF / ReLU training-step time ratio of ResNet20 under XLA.

Seconds are printed with the device name (``tf.config.experimental.get_device_details``); ratios are what
transfers between machines. ``--dry_run`` runs every measurement on tiny shapes on any device (the test suite
runs it on CPU), so the script is known to work before a GPU is lent.

Run: ``python benchmarks/gpu_suite.py`` (about 8 minutes on one GPU); ``python benchmarks/gpu_suite.py --dry_run``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

from tfrobust import config, models  # noqa: E402
from tfrobust.attacks import Attack, pgd, registry  # noqa: E402
from tfrobust.attacks import _compiled  # noqa: E402
from tfrobust.logits import as_logits_model  # noqa: E402
from tfrobust.training import FastAdversarialModel  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Problem sizes of one run of the suite."""
    image: tuple = (32, 32, 3)
    model: str = "preact_resnet18"
    train_examples: int = 10_000
    batch: int = 128
    pgd_batch: int = 256
    pgd_steps: int = 50
    aa_examples: int = 1_000
    kaf_model: str = "resnet20"
    kaf_steps: int = 20
    quick_attacks: bool = False


FULL = Sizes()
DRY = Sizes(image=(16, 16, 3), model="mnist_small", train_examples=64, batch=32, pgd_batch=16, pgd_steps=3,
            aa_examples=8, kaf_model="mnist_small", kaf_steps=2, quick_attacks=True)


def device_name() -> str:
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    details = tf.config.experimental.get_device_details(gpus[0])
    return details.get("device_name", "GPU")


def synthetic(sizes: Sizes, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n,) + sizes.image).astype(np.float32)
    y = (x.mean(axis=(1, 2, 3)) * 997).astype(np.int64) % 10  # a learnable, deterministic labelling
    return x, y


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def fast_at_epoch(sizes: Sizes, *, xla: bool, mixed: bool) -> float:
    """Seconds of one fast-AT epoch (after a first epoch that traces and compiles)."""
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    try:
        with config.xla(xla):
            x, y = synthetic(sizes, sizes.train_examples)
            model = FastAdversarialModel(models.build(sizes.model, sizes.image, 10), eps=8 / 255)
            model.compile(keras.optimizers.SGD(0.01, momentum=0.9))
            model.fit(x[:sizes.batch * 2], y[:sizes.batch * 2], batch_size=sizes.batch, epochs=1, verbose=0)
            return timed(lambda: model.fit(x, y, batch_size=sizes.batch, epochs=1, verbose=0))
    finally:
        keras.mixed_precision.set_global_policy("float32")


def pgd_step_ratio(sizes: Sizes, model) -> dict:
    """PGD seconds per step and its ratio to one compiled forward + input-gradient pass, XLA on."""
    x, y = synthetic(sizes, sizes.pgd_batch, seed=1)
    with config.xla(True):
        logits_model = as_logits_model(model, tf.constant(x))
        grad = _compiled.loss_gradient(logits_model, "ce", False)
        xt, yt = tf.constant(x), tf.constant(y, tf.int32)
        grad(xt, yt, yt)
        limit = min(timed(lambda: grad(xt, yt, yt)[1].numpy()) for _ in range(5))
        run = lambda: np.asarray(pgd(model, x, y, eps=8 / 255, steps=sizes.pgd_steps, seed=0))  # noqa: E731
        run()
        per_step = min(timed(run) for _ in range(2)) / sizes.pgd_steps
    return {"limit_s": limit, "pgd_step_s": per_step, "ratio": per_step / limit}


def autoattack_time(sizes: Sizes, model) -> dict:
    """Seconds of ``autoattack`` standard and its robust accuracy, per stage when it reports them."""
    if "autoattack" not in registry.names():
        return {"skipped": "autoattack is not registered"}
    x, y = synthetic(sizes, sizes.aa_examples, seed=2)
    spec = Attack("autoattack", **(registry.get("autoattack").quick_settings if sizes.quick_attacks else {}))
    start = time.perf_counter()
    x_adv, info = spec(model, x, y, eps=8 / 255, return_info=True)
    seconds = time.perf_counter() - start
    robust = float(np.mean(~info["success"]))
    return {"seconds": seconds, "robust_accuracy": robust, "stages": info["extra"].get("stages", {})}


def kaf_relu_ratio(sizes: Sizes) -> dict:
    """Training-step seconds of a KAF model over the same model with ReLU, XLA on."""
    x, y = synthetic(sizes, sizes.batch, seed=3)
    seconds = {}
    with config.xla(True):
        for activation in ("relu", "kaf"):
            keras.utils.set_random_seed(0)
            model = models.build(sizes.kaf_model, sizes.image, 10, activation=activation)
            model.compile(keras.optimizers.SGD(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          jit_compile=True)
            model.train_on_batch(x, y)
            seconds[activation] = min(timed(lambda: model.train_on_batch(x, y)) for _ in range(sizes.kaf_steps))
    return {"relu_s": seconds["relu"], "kaf_s": seconds["kaf"], "ratio": seconds["kaf"] / seconds["relu"]}


def run_suite(sizes: Sizes) -> dict:
    """All four measurements; returns a JSON-ready dict."""
    results = {"device": device_name(), "sizes": dataclasses.asdict(sizes), "fast_at_epoch_s": {}}
    for xla in (False, True):
        for mixed in (False, True):
            key = f"xla={'on' if xla else 'off'},mixed={'on' if mixed else 'off'}"
            results["fast_at_epoch_s"][key] = fast_at_epoch(sizes, xla=xla, mixed=mixed)
    base = results["fast_at_epoch_s"]["xla=off,mixed=off"]
    results["fast_at_speedup"] = {k: base / v for k, v in results["fast_at_epoch_s"].items()}
    keras.utils.set_random_seed(0)
    x, y = synthetic(sizes, sizes.train_examples)
    trained = FastAdversarialModel(models.build(sizes.model, sizes.image, 10), eps=8 / 255)
    trained.compile(keras.optimizers.SGD(0.01, momentum=0.9))
    trained.fit(x, y, batch_size=sizes.batch, epochs=1, verbose=0)
    results["pgd"] = pgd_step_ratio(sizes, trained.inner)
    results["autoattack"] = autoattack_time(sizes, trained.inner)
    results["kaf_vs_relu_xla"] = kaf_relu_ratio(sizes)
    return results


def print_table(results: dict) -> None:
    device = results["device"]
    print(f"device: {device}")
    for key, seconds in results["fast_at_epoch_s"].items():
        print(f"fast-AT epoch [{key}]: {seconds:.2f} s on {device}, speed-up vs plain {results['fast_at_speedup'][key]:.2f}x")
    p = results["pgd"]
    print(f"PGD step / forward+gradient limit (XLA): {p['ratio']:.3f} ({p['pgd_step_s'] * 1e3:.2f} ms vs "
          f"{p['limit_s'] * 1e3:.2f} ms on {device})")
    a = results["autoattack"]
    if "skipped" in a:
        print(f"autoattack: skipped ({a['skipped']})")
    else:
        print(f"autoattack standard: {a['seconds']:.1f} s on {device}, robust accuracy {a['robust_accuracy']:.3f}")
    k = results["kaf_vs_relu_xla"]
    print(f"KAF / ReLU training step (XLA): {k['ratio']:.2f}x ({k['kaf_s'] * 1e3:.1f} ms vs {k['relu_s'] * 1e3:.1f} ms)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry_run", action="store_true", help="tiny shapes: checks the script on any device")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    results = run_suite(DRY if args.dry_run else FULL)
    print_table(results)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2, default=float)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
