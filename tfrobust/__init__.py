"""tfrobust: adversarial robustness for TensorFlow 2 / Keras (tf_keras).

Subpackages: ``attacks``, ``evaluation``, ``layers``, ``models``, ``training``, ``hypernet``, ``data``.
"""
__version__ = "0.1.0"

from tfrobust import config  # noqa: F401
