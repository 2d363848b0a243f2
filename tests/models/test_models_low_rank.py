"""conv= choices: seed-004 rank schedules, explicit rank lists, and the errors of build()."""
import numpy as np
import pytest
import tf_keras as keras

from tfrobust import models
from tfrobust.layers import LowRankConv2D

ALEXNET_LR1 = [8, 40, 60, 100, 200]
RESNET18_LR1 = [8, 5, 24, 24, 24, 48, 48, 48, 48, 64, 128, 160, 160, 192, 192, 256, 256]


def test_rank_schedules_follow_seed_004():
    assert models.rank_schedule("alexnet", "LR1") == ALEXNET_LR1
    assert models.rank_schedule("resnet18", "lr1") == RESNET18_LR1
    assert models.rank_schedule("alexnet", "LR2") == [4, 20, 30, 50, 100]
    assert models.rank_schedule("resnet18", "LR2")[:3] == [4, 2, 12]
    assert len(RESNET18_LR1) == models.count_conv_layers("resnet18") == 17
    assert len(ALEXNET_LR1) == models.count_conv_layers("alexnet") == 5


def _low_rank_layers(model):
    return [layer for layer in model.layers if isinstance(layer, LowRankConv2D)]


def _full_conv_params(layer):
    """Parameters of the k×k Conv2D that a LowRankConv2D replaces."""
    (kh, kw), c_in = layer.kernel_size, layer.vertical_kernel.shape[2]
    return kh * kw * c_in * layer.filters + (layer.filters if layer.use_bias else 0)


@pytest.mark.parametrize("name, schedule", [("alexnet", "LR1"), ("resnet18", "LR2")])
def test_schedule_puts_low_rank_convs_in_order_and_round_trips(name, schedule, tmp_path, assert_round_trip):
    keras.utils.set_random_seed(3)
    model = models.build(name, (32, 32, 3), 10, conv=schedule)
    low_rank = _low_rank_layers(model)
    assert [layer.rank for layer in low_rank] == models.rank_schedule(name, schedule)
    # No k×k Conv2D is left over; 1×1 projections stay standard.
    assert all(max(layer.kernel_size) == 1 for layer in model.layers if type(layer) is keras.layers.Conv2D)
    standard = model.count_params() - sum(l.count_params() for l in low_rank) + sum(map(_full_conv_params, low_rank))
    assert model.count_params() < standard
    if name == "resnet18":
        assert standard == 11183562  # the standard ResNet18 at 32 px (see test_models_zoo)

    x = np.random.default_rng(1).uniform(0, 1, size=(2, 32, 32, 3)).astype(np.float32)
    loaded = assert_round_trip(model, x, tmp_path / f"{name}_{schedule}.keras")
    assert [layer.rank for layer in _low_rank_layers(loaded)] == models.rank_schedule(name, schedule)


def test_explicit_rank_list_with_free_entries():
    model = models.build("lenet5", (28, 28, 1), 10, conv=[3, "free"], low_rank_batch_norm=False)
    conv1, conv2 = model.get_layer("conv1"), model.get_layer("conv2")
    assert isinstance(conv1, LowRankConv2D) and conv1.rank == 3 and conv1.padding == "valid"
    assert type(conv2) is keras.layers.Conv2D
    # Tai et al.: k·K·(C + N) + N bias = 5·3·(1 + 8) + 8 = 143 replaces 5·5·1·8 + 8 = 208.
    assert model.count_params() == 20522 - 208 + 143
    assert model.output_shape == (None, 10)


def test_seed_format_with_trailing_free_for_the_classifier():
    model = models.build("alexnet", (32, 32, 3), 10, conv=ALEXNET_LR1 + ["free"])
    assert [layer.rank for layer in _low_rank_layers(model)] == ALEXNET_LR1


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(name="resnet50"), ValueError, "Unknown model 'resnet50'; choose one of lenet5"),
    (dict(activation="tanh"), ValueError, "Unknown activation 'tanh'; choose one of relu"),
    (dict(conv="LR3"), ValueError, "Unknown conv 'LR3'"),
    (dict(conv=[8, 4]), ValueError, "conv has 2 ranks but alexnet has 5 convolutions"),
    (dict(conv=[8, 0, 4, 4, 4]), ValueError, r"conv\[1\] must be a positive integer"),
    (dict(name="vgg_like", conv="LR1"), ValueError, "only for alexnet, resnet18"),
    (dict(input_shape=(32, 32)), ValueError, "three positive integers"),
    (dict(input_shape=(4, 4, 3)), ValueError, "alexnet needs images of at least 8×8"),
    (dict(num_classes=1), ValueError, "num_classes must be an integer >= 2"),
    (dict(normalization="imagenet"), ValueError, "Unknown normalization"),
    (dict(dropout=1.5), ValueError, "dropout must be a rate in"),
    (dict(shortcut="A"), TypeError, "alexnet does not accept shortcut"),
    (dict(name="resnet20", shortcut="C"), ValueError, "Unknown shortcut 'C'"),
])
def test_build_errors_are_clear(kwargs, error, match):
    args = dict(name="alexnet", input_shape=(32, 32, 3), num_classes=10)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        models.build(args.pop("name"), args.pop("input_shape"), args.pop("num_classes"), **args)
