"""tfrobust.models: the model zoo of the seeds, as logits models with a normalisation layer first.

``build(name, input_shape, num_classes, activation=..., conv=...)`` makes any model of ``MODELS``;
``rank_schedule`` and ``count_conv_layers`` describe the low-rank (``conv=``) choices; ``Normalize`` is
the first layer of every model.
"""
from tfrobust.models.blocks import ACTIVATIONS, LayerFactory  # noqa: F401
from tfrobust.models.normalization import Normalize, default_normalization  # noqa: F401
from tfrobust.models.rank_schedules import rank_schedule  # noqa: F401
from tfrobust.models.registry import MODELS, ModelSpec, build, count_conv_layers, registry  # noqa: F401
from tfrobust.models.resnet import ChannelPadShortcut  # noqa: F401
