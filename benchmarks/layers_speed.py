"""Cost of tfrobust's layers: KAF against ReLU, LowRankConv2D against Conv2D.

(a) KAF overhead (Scardapane et al. 2019; seed 002): time of one SGD training step (forward +
    backward + update) of a ResNet20-shaped CIFAR network (He et al. 2016: 3x3 stem with 16 filters,
    3 stages of 3 basic blocks with 16/32/64 filters, 19 activations) with ReLU, KAF and KAF_Free,
    batch 128 of 32x32x3; reported as the ratio to ReLU. Also the activation alone on one
    (128, 32, 32, 16) tensor: tfrobust's KAF (hand-written gradient, Gaussians recomputed in the
    backward pass, only the input kept) against the same formula differentiated automatically
    (which keeps three (N, C, D) tensors).
(b) Low rank (Tai et al. 2016; seed 004): every k x k convolution of AlexNet and ResNet18 at
    ImageNet layer shapes (224x224 input) as Conv2D and as LowRankConv2D with the seed's LR1 and LR2
    ranks: multiply-adds (exact counts) and measured forward and forward+backward time, summed over
    the layers; the measured speed-up is set against the multiply-add reduction.

Steps are timed interleaved (variant A, variant B, A, B, ...) and the median is reported, so that
load from other processes affects both sides alike.

Run: PYTHONPATH=. python benchmarks/layers_speed.py [--batch 128 --lr-batch 8 --repeats 7 --xla auto]
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
from tfrobust.layers import (LowRankConv2D, conv_complexity, low_rank_complexity,  # noqa: E402
                             make_activation)
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
    for fn in functions:
        fn()
    times = [[] for _ in functions]
    for _ in range(repeats):
        for i, fn in enumerate(functions):
            start = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


# ---------------------------------------------------------------- (a) KAF vs ReLU
def resnet20(activation: str) -> keras.Model:
    """ResNet20 for 32x32x3 (He et al. 2016, CIFAR variant; projection shortcuts)."""
    inputs = keras.Input((32, 32, 3))
    h = keras.layers.Conv2D(16, 3, padding="same", use_bias=False)(inputs)
    h = make_activation(activation)(keras.layers.BatchNormalization()(h))
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(3):
            strides = 2 if stage > 0 and block == 0 else 1
            shortcut = h
            h = keras.layers.Conv2D(filters, 3, strides, padding="same", use_bias=False)(h)
            h = make_activation(activation)(keras.layers.BatchNormalization()(h))
            h = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(h)
            h = keras.layers.BatchNormalization()(h)
            if strides != 1:
                shortcut = keras.layers.Conv2D(filters, 1, strides, use_bias=False)(shortcut)
            h = make_activation(activation)(keras.layers.Add()([h, shortcut]))
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inputs, keras.layers.Dense(10)(h))


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


def autodiff_kaf(x, alpha, dictionary, gamma):
    """The KAF formula left to automatic differentiation (reference for the hand-written gradient)."""
    kernel = tf.exp(-gamma * tf.square(x[..., None] - dictionary))
    return tf.reduce_sum(kernel * alpha, axis=-1)


def benchmark_kaf(batch: int, repeats: int) -> None:
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(size=(batch, 32, 32, 3)), tf.float32)
    y = tf.constant(rng.integers(0, 10, batch))
    steps = {}
    for activation in ("relu", "kaf", "kaf_free"):
        keras.utils.set_random_seed(0)
        step = train_step_function(resnet20(activation))
        steps[activation] = lambda step=step: step(x, y).numpy()
    times = dict(zip(steps, interleaved_medians(list(steps.values()), repeats)))
    print(f"(a) ResNet20 training step, batch {batch} of 32x32x3, xla={config.use_xla()}, "
          f"median of {repeats}:")
    for name, seconds in times.items():
        print(f"    {name:9s} {seconds * 1e3:8.1f} ms   ratio to relu {seconds / times['relu']:.2f}")

    # The activation alone, forward + backward, on the largest activation tensor of ResNet20.
    layer = make_activation("kaf")
    h = tf.constant(rng.normal(size=(batch, 32, 32, 16)), tf.float32)
    layer.build(h.shape)
    dictionary = tf.constant(layer.dictionary, tf.float32)
    gamma = tf.cast(layer.gamma, tf.float32)

    def grad_of(fn):
        def run(h):
            with tf.GradientTape() as tape:
                tape.watch(h)
                out = fn(h)
            return tape.gradient(out, [h, layer.alpha])
        return config.compile_function(run)

    ours = grad_of(layer)
    reference = grad_of(lambda h: autodiff_kaf(h, layer.alpha, dictionary, gamma))
    relu = config.compile_function(lambda h: tf.gradients(tf.nn.relu(h), h))
    np.testing.assert_allclose(ours(h)[0].numpy(), reference(h)[0].numpy(), rtol=1e-3, atol=1e-4)
    t_ours, t_ref, t_relu = interleaved_medians(
        [lambda: ours(h)[0].numpy(), lambda: reference(h)[0].numpy(), lambda: relu(h)[0].numpy()], repeats)
    print(f"    activation alone on ({batch}, 32, 32, 16), forward + backward: ReLU {t_relu * 1e3:.1f} ms, "
          f"KAF {t_ours * 1e3:.1f} ms, KAF by autodiff {t_ref * 1e3:.1f} ms "
          f"(hand-written gradient {t_ref / t_ours:.2f}x faster)")


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
    parser.add_argument("--batch", type=int, default=128, help="ResNet20 batch for (a)")
    parser.add_argument("--lr-batch", type=int, default=8, help="batch of the 224x224 layers in (b)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--xla", default="auto", help="True, False or auto")
    parser.add_argument("--skip", choices=("kaf", "low_rank"), help="skip one part")
    args = parser.parse_args()
    config.set_xla(args.xla)
    print(f"device: {'GPU' if tf.config.list_physical_devices('GPU') else 'CPU'}, "
          f"TensorFlow {tf.__version__}")
    if args.skip != "kaf":
        benchmark_kaf(args.batch, args.repeats)
    if args.skip != "low_rank":
        benchmark_low_rank(args.lr_batch, args.repeats)


if __name__ == "__main__":
    main()
