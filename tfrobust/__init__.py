"""tfrobust: adversarial robustness for TensorFlow 2 / Keras (tf_keras).

Subpackages: ``attacks``, ``evaluation``, ``layers``, ``models``, ``training``, ``hypernet``, ``data``, ...

Importing ``tfrobust`` itself imports nothing heavy (no TensorFlow), so a script's ``--help`` answers at once; the
subpackages load on first use (``tfrobust.attacks``, ``from tfrobust import models``; PEP 562 ``__getattr__``).
``import tfrobust.layers`` registers the serialisable Keras layers (KAF, LowRankConv2D, GradientReversal) and
``import tfrobust.models`` also Normalize and ChannelPadShortcut, so ``tf_keras.models.load_model`` reads back
saved tfrobust models without ``custom_objects``; ``tfrobust.model_import.load_model`` imports both itself. The
training wrappers (``TRADESModel``, ...) register when ``tfrobust.training`` is imported.
"""
import importlib

__version__ = "0.1.0"

_SUBMODULES = frozenset({
    "adaptation", "attacks", "backdoor", "config", "data", "defenses", "evaluation", "generative", "hypernet",
    "interpret", "io", "layers", "logits", "model_import", "models", "plotting", "privacy", "report", "scalars",
    "studies", "tensorboard", "training", "validation",
})


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBMODULES)
