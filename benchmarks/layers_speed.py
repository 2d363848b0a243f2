"""Cost of tfrobust's layers: KAF against ReLU, LowRankConv2D against Conv2D.

(a) KAF overhead (Scardapane et al. 2019; seed 002). One SGD training step (forward + backward +
    update; batch 128 of 32x32x3) of the zoo's ResNet20 and VGG-like (``tfrobust.models.build``)
    with ReLU and with KAF evaluated three ways: the factorised kernels as XLA-compiled functions
    for the activation alone (the default; the rest of the step is un-jitted on CPU), the same
    factorised formula as plain TF ops (activation XLA off), and the direct formula with one
    exponential per kernel (the implementation before the factorisation); ResNet20 also with
    KAF_Free (trainable dictionary: always the direct formula). The activation alone, forward
    + backward (gradients for the input and alpha), on one (128, 32, 32, 16) tensor, the largest
    activation of ResNet20, is timed before the steps (see benchmark_kaf). Then one fast-AT step
    (FGSM-RS, Wong et al. 2020) of VGG-like with KAF on 100 28x28x1 images, before (direct) and
    after (factorised, XLA activation).
(b) Low rank (Tai et al. 2016; seed 004): every k x k convolution of AlexNet and ResNet18 at
    ImageNet layer shapes (224x224 input) as Conv2D and as LowRankConv2D with the seed's LR1 and LR2
    ranks: multiply-adds (exact counts) and measured forward and forward+backward time, summed over
    the layers; the measured speed-up is set against the multiply-add reduction.

Steps are timed interleaved (variant A, variant B, A, B, ...) after one warm-up call each (which
also traces and compiles), and the median wall time and the median CPU time of this process
(all threads) are reported, so that load from other processes affects every variant alike; on a
shared machine the CPU-time ratios are the steadier ones.

GPU path: with a GPU the whole training step is XLA-compiled (``tfrobust.config`` "auto") and the
KAF functions are inlined into it, so the fused factorised kernels are the path to use there too:
two exponentials and ~4 D multiply-adds per element, the value and slope as one complex tensor
(on a GPU fusion would not need the packing, but it costs nothing), the alpha gradient as
element-wise slabs plus a small reduction (a GPU reduces well; one exponential per kernel is
cheap there). No GPU was lent to the session that wrote this (``device`` tool: none drawn), so
the GPU path is unmeasured; ``benchmarks/gpu_suite.py`` times KAF training on a GPU.

Measured here, one run of ``--skip low_rank --no-baselines --repeats 3`` (2 CPU cores shared with
other jobs, load average 4.3 at start and end; median wall and process CPU time):

    (a) resnet20 training step, batch 128 of 32x32x3, step xla=False, median of 3:
        relu         wall     519.1 ms ( 1.00x relu)   cpu     516.9 ms ( 1.00x relu)
        kaf          wall    1259.4 ms ( 2.43x relu)   cpu    1277.1 ms ( 2.47x relu)
        kaf[tf-ops]  wall    6332.5 ms (12.20x relu)   cpu    6503.6 ms (12.58x relu)
    (a) vgg_like training step, batch 128 of 32x32x3, step xla=False, median of 3:
        relu         wall     411.7 ms ( 1.00x relu)   cpu     345.6 ms ( 1.00x relu)
        kaf          wall     884.4 ms ( 2.15x relu)   cpu     813.3 ms ( 2.35x relu)
        kaf[tf-ops]  wall    4085.0 ms ( 9.92x relu)   cpu    4143.5 ms (11.99x relu)
        activation alone on (128, 32, 32, 16), forward + backward (input and alpha gradients), median of 3:
        relu         wall       6.0 ms ( 1.00x relu)   cpu       8.3 ms ( 1.00x relu)
        kaf          wall      40.1 ms ( 6.74x relu)   cpu      64.9 ms ( 7.81x relu)
        kaf[tf-ops]  wall     252.4 ms (42.38x relu)   cpu     486.3 ms (58.51x relu)

The same command on 2 IDLE cores (stop 23, after the KAF graphs lost their run-time tf.cond; two runs):

    (a) resnet20 training step:  relu 141.9 / 163.7 ms, kaf 385.1 / 429.8 ms wall: 2.71x / 2.63x (cpu 2.54x / 2.54x)
    (a) vgg_like training step:  relu 119.5 / 115.6 ms, kaf 266.0 / 273.0 ms wall: 2.23x / 2.36x (cpu 2.20x / 2.33x)
        activation alone:        relu 2.7 / 2.7 ms, kaf 24.7 / 26.5 ms wall: 9.23x / 9.70x (cpu 10.56x / 11.38x)

On idle cores ReLU alone runs in 2.7 ms instead of 6.0 ms, KAF in ~26 ms instead of 40 ms, so the ratio of the
activation alone sits at the 10x target (wall below it, CPU time above it); the training steps stay below 3x.

After the kernel-pair alpha gradient (pairs innermost) and the P / P' forward (stop 24), the same command on idle
cores, the activation alone now measured first (see benchmark_kaf) and at least 30 times, two runs:

        activation alone:        relu 2.2 / 2.3 ms, kaf 17.9 / 17.9 ms wall: 8.07x / 7.70x (cpu 10.33x / 9.68x)
    (a) resnet20 training step:  relu 210.4 / 198.4 ms, kaf 475.8 / 461.3 ms wall: 2.26x / 2.33x (cpu 2.07x / 2.16x)
    (a) vgg_like training step:  relu 167.2 / 151.3 ms, kaf 309.7 / 301.8 ms wall: 1.85x / 1.99x (cpu 1.81x / 1.82x)

Float32 exponentials carrying the float64 exponent's rounding error (kaf._split_exp) instead of float64 ones, and the
coefficients c_i alpha_i formed once per call instead of per element (stop 25; forward 9.3 -> 6.3 ms alone), the same
command on idle cores, two runs of the final code (two earlier runs before the eager-tape fix, which does not touch
these graph-mode numbers, read 6.48x / 6.80x wall and 7.86x / 8.40x CPU for the activation alone):

        activation alone:        relu 2.5 / 2.4 ms, kaf 17.0 / 15.9 ms wall: 6.67x / 6.58x (cpu 7.86x / 8.75x)
    (a) resnet20 training step:  relu 200.4 / 191.6 ms, kaf 430.7 / 427.9 ms wall: 2.15x / 2.23x (cpu 2.06x / 2.04x)
    (a) vgg_like training step:  relu 154.5 / 146.2 ms, kaf 285.7 / 274.5 ms wall: 1.85x / 1.88x (cpu 1.74x / 1.76x)
    kaf[tf-ops] (XLA off):       activation 44.5x / 45.8x, resnet20 6.56x / 6.95x, vgg_like 5.50x / 5.98x wall

and one run with the baselines (``--skip low_rank --repeats 3``), where ReLU ran at its fastest (2.1 ms, cpu 2.9 ms):
activation alone kaf 7.41x wall (cpu 9.56x), kaf[direct] 29.0x; resnet20 kaf 2.28x, kaf[direct] 5.02x, kaf_free 5.56x;
vgg_like kaf 1.80x, kaf[direct] 3.95x; fast-AT step of vgg_like on 100 digits, direct 872 ms -> factorised 310 ms.
KAF's own time is steady (15.5-17.0 ms wall, 27-28 ms cpu over these runs); the CPU ratio moves with ReLU's.

Tried at stop 25 and kept out: recomputing the slope in the backward (value-only forward, P' in a second Horner loop
fused with the upstream product and compiled with the alpha gradient): activation alone 16.2 -> 14.3 ms wall, but the
ResNet20 step 422 -> 455 ms (one process, interleaved), with separate launches for the two gradients too (439 -> 468);
the alpha gradient as an XLA while loop over row tiles whose slab sums stay in cache (12.7 ms against 8.9); folding
the -1/6 into z and the odd ratio out of the slab sum (9.4 against 9.9 ms: noise); z and W as one complex input
(10.7 ms).

Measured after the training steps instead (the order before), the activation alone read 9.1-11.0x wall and 11.2-12.7x
CPU (four runs). (This host ran ReLU steps ~40% slower than at stop 23 that day.) Where the activation's 2M elements
go, measured apart (ms wall, idle, stop 24): forward with slope ~8 (now ~6.3), its real part 1.1, the input gradient
upstream * imag 1.4, the alpha gradient ~9.5 (10 exponentials per element, one per kernel pair). Tried and kept out:
the real part and the input-gradient product inside the compiled functions (no gain for the product; for the real part
XLA recomputed the Horner loop: 23 -> 34 ms), 8 or 32 slabs instead of 16 (21.4 / 53.4 ms against 19.5 for the whole
activation), reductions over a middle or the major axis (24 / 21 ms against 11.6 for the alpha gradient alone), a
variadic XLA reduce of the D factorised sums in one pass (25 ms: not vectorised), a batched matmul of Vandermonde
factors (72 ms).

``kaf`` is the activation's XLA on (the default, also on CPU), ``kaf[tf-ops]`` XLA off (the same
formulas as separate TF ops: memory-bound, and the forward now also computes the slope). Before
this version (recurrence kernels, three compiled functions): ResNet20 3.79x, VGG-like 3.35x,
activation 20x (CPU time, load ~8). Where the activation's time goes now (2M elements, CPU ms
under load): forward with slope 19, alpha gradient 30 (one exponential per kernel: XLA:CPU has no
multi-output fusion, so the D sums cannot share the factorised kernels), the rest a few.
Earlier full run (before this version, with baselines): direct formula ResNet20 6.35x, KAF_Free
7.4x, fast-AT VGG-like step on 100 digits 1.36 s -> 0.69 s CPU.

Run: PYTHONPATH=. nice python benchmarks/layers_speed.py [--batch 128 --lr-batch 8 --repeats 5]
     [--skip low_rank] [--no-baselines]
"""
from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

from tfrobust import config  # noqa: E402
from tfrobust.layers import (LowRankConv2D, conv_complexity, low_rank_complexity,  # noqa: E402
                             make_activation)
from tfrobust.layers import kaf  # noqa: E402
from tfrobust.models import build  # noqa: E402
from tfrobust.models.rank_schedules import rank_schedule  # noqa: E402

# (name, input height = width, in channels, filters, kernel, stride) of every k x k convolution,
# first to last, at a 224x224 input. AlexNet as in torchvision ('same' padding here), ResNet18 as
# in He et al. 2016 (stem, then two 3x3 convolutions per basic block; 1x1 shortcuts excluded).
ALEXNET_CONVS = [("conv1", 224, 3, 64, 11, 4), ("conv2", 27, 64, 192, 5, 1), ("conv3", 13, 192, 384, 3, 1),
                 ("conv4", 13, 384, 256, 3, 1), ("conv5", 13, 256, 256, 3, 1)]
RESNET18_CONVS = [("stem", 224, 3, 64, 7, 2)]
for _stage, (_size, _filters) in enumerate([(56, 64), (28, 128), (14, 256), (7, 512)]):
    for _block in range(2):
        _first = _stage > 0 and _block == 0
        RESNET18_CONVS.append((f"s{_stage + 1}b{_block + 1}a", _size * 2 if _first else _size,
                               _filters // 2 if _first else _filters, _filters, 3, 2 if _first else 1))
        RESNET18_CONVS.append((f"s{_stage + 1}b{_block + 1}b", _size, _filters, _filters, 3, 1))


def interleaved_medians(functions, repeats: int) -> list:
    """Median wall time of each function, calls interleaved, after one warm-up call each."""
    return [wall for wall, _ in interleaved_times(functions, repeats)]


def interleaved_times(functions, repeats: int) -> list:
    """(median wall time, median process CPU time) of each function, calls interleaved."""
    for fn in functions:
        fn()
    walls, cpus = [[] for _ in functions], [[] for _ in functions]
    for _ in range(repeats):
        for i, fn in enumerate(functions):
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            walls[i].append(time.perf_counter() - wall)
            cpus[i].append(time.process_time() - cpu)
    return [(statistics.median(w), statistics.median(c)) for w, c in zip(walls, cpus)]


# ---------------------------------------------------------------- (a) KAF vs ReLU
# name -> (activation, KAF kernel, XLA for the activation)
KAF_VARIANTS = {
    "relu": ("relu", "factorised", True),
    "kaf": ("kaf", "factorised", True),
    "kaf[tf-ops]": ("kaf", "factorised", False),
    "kaf[direct]": ("kaf", "direct", False),
    "kaf_free": ("kaf_free", "factorised", True),
}


@contextlib.contextmanager
def kaf_kernel(kind: str, xla: bool):
    """Traces KAF layers with the given kernel; restores the defaults afterwards."""
    kaf.set_kernel(kind)
    kaf.set_kernel_xla(xla)
    try:
        yield
    finally:
        kaf.set_kernel("factorised")
        kaf.set_kernel_xla(True)


def train_step_function(model: keras.Model):
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                      model.trainable_variables))
        return loss

    return config.compile_function(step)


def report(title: str, names, times) -> None:
    print(title)
    base_wall, base_cpu = times[0]
    for name, (wall, cpu) in zip(names, times):
        print(f"    {name:12s} wall {wall * 1e3:9.1f} ms ({wall / base_wall:5.2f}x {names[0]})   "
              f"cpu {cpu * 1e3:9.1f} ms ({cpu / base_cpu:5.2f}x {names[0]})")


def benchmark_training_steps(model_name: str, variants, batch: int, repeats: int) -> None:
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(size=(batch, 32, 32, 3)), tf.float32)
    y = tf.constant(rng.integers(0, 10, batch))
    steps = []
    for name in variants:
        activation, kind, xla = KAF_VARIANTS[name]
        with kaf_kernel(kind, xla):
            keras.utils.set_random_seed(0)
            step = train_step_function(build(model_name, (32, 32, 3), 10, activation=activation))
            step(x, y)  # trace and compile under this kernel
        steps.append(lambda step=step: step(x, y).numpy())
    report(f"(a) {model_name} training step, batch {batch} of 32x32x3, step xla={config.use_xla()}, "
           f"median of {repeats}:", list(variants), interleaved_times(steps, repeats))


# One activation call takes ~2-25 ms, so three samples of it are at the mercy of one scheduler hiccup: the
# activation alone is timed at least this many times (interleaved, as everything here), which costs a few seconds.
ACTIVATION_MIN_REPEATS = 30


def benchmark_activation(batch: int, repeats: int, extra=("kaf[direct]",)) -> None:
    repeats = max(repeats, ACTIVATION_MIN_REPEATS)
    rng = np.random.default_rng(1)
    h = tf.constant(rng.normal(size=(batch, 32, 32, 16)), tf.float32)
    relu = config.compile_function(lambda h: tf.gradients(tf.nn.relu(h), h))
    functions, names, results = [lambda: relu(h)[0].numpy()], ["relu"], []
    for name in ["kaf", "kaf[tf-ops]"] + list(extra):
        _, kind, xla = KAF_VARIANTS[name]
        layer = make_activation("kaf")
        layer.build(h.shape)
        layer.alpha.assign(rng.normal(size=layer.alpha.shape))

        def run(h, layer=layer):
            with tf.GradientTape() as tape:
                tape.watch(h)
                out = layer(h)
            return tape.gradient(out, [h, layer.alpha])

        with kaf_kernel(kind, xla):
            fn = config.compile_function(run)
            results.append([t.numpy() for t in fn(h)])
        functions.append(lambda fn=fn: [t.numpy() for t in fn(h)])
        names.append(name)
    report(f"    activation alone on ({batch}, 32, 32, 16), forward + backward (input and alpha "
           f"gradients), median of {repeats}:", names, interleaved_times(functions, repeats))


def benchmark_fast_at(repeats: int) -> None:
    """One FGSM-RS step of VGG-like with KAF on 100 28x28x1 digits: direct formula vs factorised."""
    from tfrobust.training import FastAdversarialModel  # noqa: PLC0415

    rng = np.random.default_rng(2)
    x = rng.uniform(size=(100, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, 100)
    functions = []
    names = ["kaf[direct]", "kaf"]
    for name in names:
        _, kind, xla = KAF_VARIANTS[name]
        with kaf_kernel(kind, xla):
            keras.utils.set_random_seed(0)
            fast = FastAdversarialModel(build("vgg_like", (28, 28, 1), 10, activation="kaf"), eps=0.3)
            fast.compile(keras.optimizers.SGD(0.01, momentum=0.9))
            fast.train_on_batch(x, y)  # trace and compile under this kernel
        functions.append(lambda fast=fast: fast.train_on_batch(x, y))
    report(f"(a) fast-AT (FGSM-RS) step of vgg_like with KAF, 100 x 28x28x1, median of {repeats}:",
           names, interleaved_times(functions, repeats))


def benchmark_kaf(batch: int, repeats: int, baselines: bool = True) -> None:
    """KAF/ReLU ratios: training steps, the activation alone, the fast-AT step.

    ``baselines=False`` keeps only ReLU, KAF with its XLA kernels and KAF with XLA off (the
    direct formula and KAF_Free take minutes per step on a loaded 2-core machine).
    """
    extra = ["kaf[direct]"] if baselines else []
    # The activation alone first, in the fresh process: measured after the training steps below (the same run, the
    # same compiled functions) it reads ~25% higher for KAF and not for ReLU (ms wall / CPU, idle: KAF 19.6 / 34.1
    # fresh, 24.6 / 40.0 after the ResNet20 steps; ReLU 2.8 / 3.8 and 2.5 / 3.4), the state the models' building
    # and training leave in the process. Inside a model the activation's cost is what the training-step ratios show.
    benchmark_activation(batch, repeats, extra)
    benchmark_training_steps("resnet20", ["relu", "kaf", "kaf[tf-ops]"] + extra
                             + (["kaf_free"] if baselines else []), batch, repeats)
    benchmark_training_steps("vgg_like", ["relu", "kaf", "kaf[tf-ops]"] + extra, batch, repeats)
    if baselines:
        benchmark_fast_at(repeats)


# ---------------------------------------------------------------- (b) low rank vs full
def layer_timers(layer: keras.layers.Layer, x: tf.Tensor):
    layer.build(x.shape)
    forward = config.compile_function(lambda x: layer(x))

    def loss_and_grads(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x))
        return tape.gradient(loss, [x] + layer.trainable_weights)

    backward = config.compile_function(loss_and_grads)
    return (lambda: forward(x).numpy(), lambda: backward(x)[0].numpy())


def benchmark_low_rank(batch: int, repeats: int) -> None:
    print(f"(b) k x k convolutions at 224x224 input, batch {batch}, median of {repeats}; "
          "MACs per example; time summed over layers")
    rng = np.random.default_rng(1)
    for model_name, convs in (("alexnet", ALEXNET_CONVS), ("resnet18", RESNET18_CONVS)):
        schedules = {name: rank_schedule(model_name, name) for name in ("LR1", "LR2")}
        totals = {key: np.zeros(3) for key in ("full", "LR1", "LR2")}  # macs, forward, fwd+bwd
        for index, (_, size, channels, filters, kernel, stride) in enumerate(convs):
            x = tf.constant(rng.uniform(size=(batch, size, size, channels)), tf.float32)
            layers = {"full": keras.layers.Conv2D(filters, kernel, stride, padding="same")}
            costs = {"full": conv_complexity((size, size, channels), filters, kernel, stride)}
            for name, ranks in schedules.items():
                layers[name] = LowRankConv2D(filters, kernel, ranks[index], strides=stride)
                costs[name] = low_rank_complexity((size, size, channels), filters, kernel, ranks[index],
                                                  stride)
            timers = [timer for layer in layers.values() for timer in layer_timers(layer, x)]
            medians = interleaved_medians(timers, repeats)
            for i, key in enumerate(layers):
                totals[key] += (costs[key].macs, medians[2 * i], medians[2 * i + 1])
        print(f"    {model_name}: LR1 ranks {schedules['LR1']}")
        full = totals["full"]
        for key, (macs, forward, both) in totals.items():
            print(f"      {key:4s} {macs / 1e9:6.3f} GMAC  forward {forward * 1e3:8.1f} ms  "
                  f"fwd+bwd {both * 1e3:8.1f} ms  |  MAC reduction {full[0] / macs:5.2f}x  "
                  f"speed-up forward {full[1] / forward:5.2f}x  fwd+bwd {full[2] / both:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=128, help="ResNet20 / VGG-like batch for (a)")
    parser.add_argument("--lr-batch", type=int, default=8, help="batch of the 224x224 layers in (b)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--xla", default="auto", help="True, False or auto")
    parser.add_argument("--skip", choices=("kaf", "low_rank"), help="skip one part")
    parser.add_argument("--no-baselines", action="store_true",
                        help="KAF part: only ReLU, KAF (XLA kernels) and KAF with XLA off")
    args = parser.parse_args()
    config.set_xla(args.xla)
    print(f"device: {'GPU' if tf.config.list_physical_devices('GPU') else 'CPU'}, "
          f"TensorFlow {tf.__version__}")
    if args.skip != "kaf":
        benchmark_kaf(args.batch, args.repeats, baselines=not args.no_baselines)
    if args.skip != "low_rank":
        benchmark_low_rank(args.lr_batch, args.repeats)


if __name__ == "__main__":
    main()
