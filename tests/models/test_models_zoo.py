"""Every model of the zoo: builds for its input shapes, outputs logits, has the published parameter
count, and trains one step."""
import numpy as np
import pytest
import tf_keras as keras

from tfrobust import models
from tfrobust.layers import LowRankConv2D
from tfrobust.models import Normalize

SHAPES = [
    ("lenet5", (28, 28, 1)),
    ("mnist_small", (28, 28, 1)),
    ("fc5", (28, 28, 1)),
    ("vgg_like", (32, 32, 3)),
    ("resnet20", (32, 32, 3)),
    ("preact_resnet18", (32, 32, 3)),
    ("resnet18", (32, 32, 3)),
    ("alexnet", (32, 32, 3)),
    ("resnet18", (64, 64, 3)),
    ("alexnet", (64, 64, 3)),
    ("fc5", (64, 64, 3)),
]

_cache = {}


def _model(name, shape, num_classes=10):
    key = (name, shape, num_classes)
    if key not in _cache:
        keras.utils.set_random_seed(1)
        _cache[key] = models.build(name, shape, num_classes)
    return _cache[key]


def _conv_params(c_in, c_out, k, bias):
    return k * k * c_in * c_out + (c_out if bias else 0)


def _dense_params(n_in, n_out):
    return n_in * n_out + n_out


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _count_kxk_convs(model):
    return sum(1 for layer in model.layers
               if isinstance(layer, LowRankConv2D)
               or (isinstance(layer, keras.layers.Conv2D) and max(layer.kernel_size) > 1))


@pytest.mark.parametrize("name, shape", SHAPES, ids=[f"{n}-{s[0]}px" for n, s in SHAPES])
def test_builds_logits_model_and_trains_one_step(name, shape):
    model = _model(name, shape)
    assert isinstance(model.layers[1], Normalize), "the first layer after the input must normalise"
    assert model.layers[-1].name == "logits" and model.layers[-1].activation is keras.activations.linear
    assert _count_kxk_convs(model) == models.count_conv_layers(name)

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(4, *shape)).astype(np.float32)
    y = np.array([0, 1, 2, 3])
    logits = model(x, training=False).numpy()
    assert logits.shape == (4, 10) and logits.dtype == np.float32
    # Logits, not probabilities: negative entries and rows that do not sum to 1.
    assert logits.min() < 0 and not np.allclose(logits.sum(axis=1), 1.0)

    before = [w.numpy().copy() for w in model.trainable_weights]
    model.compile(keras.optimizers.SGD(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    unchanged = [w.name for w, b in zip(model.trainable_weights, before) if np.array_equal(w.numpy(), b)]
    assert not unchanged, f"weights without an update after one step: {unchanged}"


def test_lenet5_has_seed_parameter_count_and_documented_weight_order():
    model = _model("lenet5", (28, 28, 1))
    expected = (_conv_params(1, 8, 5, True) + _conv_params(8, 16, 5, True)
                + _dense_params(4 * 4 * 16, 64) + _dense_params(64, 10))
    assert expected == 20522
    assert model.count_params() == 20522 and _trainable(model) == 20522
    shapes = [tuple(w.shape) for w in model.trainable_weights]
    assert shapes == [(5, 5, 1, 8), (8,), (5, 5, 8, 16), (16,), (256, 64), (64,), (64, 10), (10,)]
    assert [w.name.split("/")[0] for w in model.trainable_weights[::2]] == ["conv1", "conv2", "fc1", "logits"]


def test_mnist_small_and_fc5_parameter_counts():
    mnist = (_conv_params(1, 16, 4, True) + _conv_params(16, 32, 4, True)
             + _dense_params(7 * 7 * 32, 100) + _dense_params(100, 10))
    assert _model("mnist_small", (28, 28, 1)).count_params() == mnist == 166406
    for shape in ((28, 28, 1), (64, 64, 3)):
        units = [int(np.prod(shape)), 1344, 672, 588, 294, 10]
        expected = sum(_dense_params(a, b) for a, b in zip(units[:-1], units[1:]))
        assert _model("fc5", shape).count_params() == expected


def test_vgg_like_parameter_count():
    filters = [3, 32, 32, 64, 64, 128, 128]
    convs = sum(_conv_params(a, b, 3, True) for a, b in zip(filters[:-1], filters[1:]))
    expected = convs + _dense_params(4 * 4 * 128, 128) + _dense_params(128, 10)
    assert _model("vgg_like", (32, 32, 3)).count_params() == expected


def _resnet_trainable(widths, blocks, stem_kernel, shortcut_bn, preact, projection):
    """Trainable parameters of a basic-block ResNet: bias-free convs, 2 per BN channel, FC.

    Post-activation blocks normalise both conv outputs (2 x width channels); pre-activation blocks
    normalise the block input (c_in) and the first conv output (width), and add a final BN."""
    total = _conv_params(3, widths[0], stem_kernel, False) + (0 if preact else 2 * widths[0])
    c_in = widths[0]
    for width in widths:
        for _ in range(blocks):
            bn_channels = c_in + width if preact else 2 * width
            total += _conv_params(c_in, width, 3, False) + _conv_params(width, width, 3, False) + 2 * bn_channels
            if c_in != width and projection:
                total += _conv_params(c_in, width, 1, False) + (2 * width if shortcut_bn else 0)
            c_in = width
    return total + (2 * c_in if preact else 0) + _dense_params(c_in, 10)


def test_resnet_parameter_counts():
    # He et al. 2016 CIFAR ResNet20, option A: 0.27M, i.e. 269,722 trainable.
    resnet20 = _model("resnet20", (32, 32, 3))
    assert _resnet_trainable((16, 32, 64), 3, 3, False, False, False) == _trainable(resnet20) == 269722
    assert resnet20.count_params() == 269722 + 2 * (16 * 7 + 32 * 6 + 64 * 6)  # + BN moving statistics
    # Wong et al.'s PreActResNet18: final BN before pooling, unnormalised 1x1 projections (~11.17M).
    preact = _model("preact_resnet18", (32, 32, 3))
    assert _resnet_trainable((64, 128, 256, 512), 2, 3, False, True, True) == _trainable(preact) == 11172170
    option_b = models.build("resnet20", (32, 32, 3), 10, shortcut="B")  # 1×1 conv + BN projections
    assert _trainable(option_b) == 269722 + (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)
    resnet18 = _model("resnet18", (32, 32, 3))
    assert _resnet_trainable((64, 128, 256, 512), 2, 3, True, False, True) == _trainable(resnet18) == 11173962


def test_resnet18_large_stem_for_large_images():
    model = models.build("resnet18", (96, 96, 3), 10)
    assert model.get_layer("stem_conv").kernel_size == (7, 7)
    assert model.get_layer("stem_pool") is not None
    assert _trainable(model) == _resnet_trainable((64, 128, 256, 512), 2, 7, True, False, True)
    assert _model("resnet18", (64, 64, 3)).get_layer("stem_conv").kernel_size == (3, 3)


def test_logits_are_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = models.build("lenet5", (28, 28, 1), 10, activation="kaf")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.layers[1].compute_dtype == "float16"
    logits = model(np.full((2, 28, 28, 1), 0.5, np.float32)).numpy()
    assert logits.dtype == np.float32 and np.all(np.isfinite(logits))
