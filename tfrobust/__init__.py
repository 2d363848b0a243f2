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
import os

# TensorFlow turns its oneDNN CPU kernels on by default only on some x86 CPUs (Intel); on this project's AMD EPYC
# machine they were off, so the same code ran on Eigen kernels: about 2x the CPU time (the GAN quick preset 1,169
# CPU-s against 583 on the earlier machine), different float rounding, and no gradient for grouped convolutions,
# which the generator of robust weights (tfrobust.hypernet) evaluates its networks with ("Gradients for grouped
# convolutions are not supported on CPU"). Asking for oneDNN everywhere gives every CPU the same kernels. It only
# takes effect when tfrobust is imported before TensorFlow; TF_ENABLE_ONEDNN_OPTS=0 in the environment still wins.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

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
