"""The model zoo: ``build(name, input_shape, num_classes, ...)`` and the table of registered models.

Every model is a Functional ``keras.Model`` (so that tensorflow-model-optimization can clone it for
pruning and ``.keras`` files restore it) that maps images in [0, 1] to **logits** (no softmax). Its first
layer is ``Normalize``; its decision layer, named ``"logits"``, computes in float32.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from numbers import Integral
from typing import Callable, Dict, Sequence, Tuple

import tf_keras as keras

from tfrobust.models.alexnet import alexnet
from tfrobust.models.blocks import LayerFactory
from tfrobust.models.fc import fc5
from tfrobust.models.lenet import lenet5
from tfrobust.models.mnist_small import mnist_small
from tfrobust.models.normalization import normalization_layer
from tfrobust.models.rank_schedules import ConvChoice, resolve_ranks
from tfrobust.models.resnet import preact_resnet18, resnet18, resnet20
from tfrobust.models.vgg import vgg_like


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its builder, how many k×k convolutions it has, and what it is."""

    builder: Callable
    num_conv_layers: int
    description: str


registry: Dict[str, ModelSpec] = {
    "lenet5": ModelSpec(lenet5, 2, "LeNet-5 of seed 000, 20,522 parameters on 28×28×1"),
    "mnist_small": ModelSpec(mnist_small, 2, "Wong et al. 2020 MNIST CNN (Conv16-Conv32-FC100)"),
    "fc5": ModelSpec(fc5, 0, "seed 004 perceptron 1344-672-588-294-classes"),
    "vgg_like": ModelSpec(vgg_like, 6, "seed 002 VGG-like: 3 conv blocks, FC128, dropout"),
    "resnet20": ModelSpec(resnet20, 19, "He et al. 2016 CIFAR ResNet20 (option A shortcuts)"),
    "preact_resnet18": ModelSpec(preact_resnet18, 17, "pre-activation ResNet18 of Wong et al. 2020"),
    "resnet18": ModelSpec(resnet18, 17, "ResNet18, small stem up to 64 px, ImageNet stem above"),
    "alexnet": ModelSpec(alexnet, 5, "AlexNet with the stem adapted to the image size"),
}

MODELS: Tuple[str, ...] = tuple(registry)

_COMMON_KWARGS = ("low_rank_batch_norm",)


def _spec(name: str) -> ModelSpec:
    if not isinstance(name, str) or name.lower() not in registry:
        raise ValueError(f"Unknown model {name!r}; choose one of {', '.join(MODELS)}.")
    return registry[name.lower()]


def count_conv_layers(name: str) -> int:
    """Returns how many k×k convolutions model ``name`` has, i.e. the length a ``conv=`` rank list needs.

    Convolutions are counted in forward order; 1×1 projection shortcuts are not counted (they are never
    low-rank). The count does not depend on the input size.

    Raises:
        ValueError: unknown model name.
    """
    return _spec(name).num_conv_layers


def _check_input_shape(input_shape) -> Tuple[int, int, int]:
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}.") from None
    if len(shape) != 3 or not all(isinstance(d, Integral) and not isinstance(d, bool) and d > 0 for d in shape):
        raise ValueError(
            f"input_shape must be three positive integers (height, width, channels) without the batch "
            f"axis, e.g. (28, 28, 1) or (32, 32, 3); got {input_shape!r}."
        )
    return tuple(int(d) for d in shape)


def _check_model_kwargs(name: str, builder: Callable, kwargs: dict) -> None:
    accepted = [p for p in inspect.signature(builder).parameters
                if p not in ("x", "num_classes", "layers")]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(
            f"{name} does not accept {', '.join(unknown)}; its options are "
            f"{', '.join(accepted + list(_COMMON_KWARGS)) or 'none'}."
        )


def build(name: str, input_shape: Sequence[int], num_classes: int, *, activation: str = "relu",
          conv: ConvChoice = "standard", normalization="auto", model_name: str | None = None,
          low_rank_batch_norm: bool = True, **kwargs) -> keras.Model:
    """Builds a logits model of the zoo.

    Args:
        name: one of ``MODELS``: lenet5, mnist_small, fc5, vgg_like, resnet20, preact_resnet18,
            resnet18, alexnet.
        input_shape: (height, width, channels) of images in [0, 1].
        num_classes: number of logits (>= 2).
        activation: relu, elu, swish, kaf, kaf_relu, kaf_elu, kaf_swish or kaf_free; every activation
            slot gets a fresh layer from ``tfrobust.layers.make_activation``.
        conv: "standard"; "LR1" or "LR2" (seed 004 rank schedules, alexnet and resnet18 only); or a list
            with one rank per k×k convolution in forward order (``count_conv_layers(name)`` entries,
            None or "free" for a full convolution), which puts a ``LowRankConv2D`` wherever a rank is set.
        normalization: "auto" (``default_normalization``), None (identity), or (mean, std).
        model_name: name of the returned model (default: ``name``).
        low_rank_batch_norm: BatchNorm between the two factors of each ``LowRankConv2D``.
        **kwargs: model options: ``dropout`` (lenet5, fc5, vgg_like, alexnet; None = the model's
            default), ``batch_norm`` (vgg_like), ``shortcut`` ("A"/"B", resnet20), ``stem``
            ("auto"/"small"/"large", resnet18), ``fc_units`` (alexnet).

    Returns:
        A Functional ``keras.Model`` from images to logits, not compiled.

    Raises:
        ValueError: unknown model, activation, conv choice or normalization; a rank list of the wrong
            length; a bad input shape, class count or model option value.
        TypeError: an option the model does not accept.
    """
    spec = _spec(name)
    name = name.lower()
    shape = _check_input_shape(input_shape)
    if isinstance(num_classes, bool) or not isinstance(num_classes, Integral) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}.")
    _check_model_kwargs(name, spec.builder, kwargs)
    layers = LayerFactory(activation, resolve_ranks(name, conv, spec.num_conv_layers), low_rank_batch_norm)

    inputs = keras.Input(shape, name="images")
    x = normalization_layer(normalization, shape)(inputs)
    logits = spec.builder(x, num_classes=int(num_classes), layers=layers, **kwargs)
    if layers.num_convs != spec.num_conv_layers:  # keeps count_conv_layers honest
        raise AssertionError(f"{name} built {layers.num_convs} convolutions, registry says {spec.num_conv_layers}.")
    return keras.Model(inputs, logits, name=model_name or name)
