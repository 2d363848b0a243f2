"""tfrobust: adversarial robustness for TensorFlow 2 / Keras (tf_keras).

Subpackages: ``attacks``, ``evaluation``, ``layers``, ``models``, ``training``, ``hypernet``, ``data``.
Importing ``tfrobust`` registers its serialisable Keras layers (KAF, LowRankConv2D, GradientReversal,
Normalize, ...), so ``tf_keras.models.load_model`` reads back saved tfrobust models without
``custom_objects``.
"""
__version__ = "0.1.0"

from tfrobust import config  # noqa: F401
from tfrobust import layers, models  # noqa: F401,E402  (registers the serialisable layers)
