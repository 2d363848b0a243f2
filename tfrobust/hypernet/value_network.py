"""The value network V of seed 000: an estimate (Â, R̂) of accuracy and robustness from weights θ.

Ballarin (2020), slide "Where's the catch?": loading generated weights into a network is not
differentiable, so a value network V(θ) = (Â, R̂) is trained by MSE against the measured accuracy A
and PGD robustness R of the network with weights θ, and the generator is trained through V. V is a
fully connected net |θ| → 512 → 32 → 2 with LeakyReLU(0.02) hidden activations and a sigmoid output
(both targets lie in [0, 1]).
"""
from __future__ import annotations

from typing import Sequence

import tensorflow as tf
import tf_keras as keras

from tfrobust.validation import check_positive


@keras.utils.register_keras_serializable(package="tfrobust")
class ValueNetwork(keras.Model):
    """V(θ) = sigmoid(MLP(θ)) ∈ (0, 1)², predicting (accuracy, robustness) (Ballarin 2020, seed 000).

    Args:
        input_size: |θ|, the length of the weight vectors it reads.
        hidden_units: widths of the hidden layers (seed: 512, 32).
        negative_slope: LeakyReLU slope (seed: 0.02).
        num_outputs: number of predicted quantities (seed: 2, accuracy and robustness).
        **kwargs: standard Keras model arguments (``name``...).

    Call:
        θ of shape (P, input_size) → predictions of shape (P, num_outputs).
    """

    def __init__(self, input_size: int, hidden_units: Sequence[int] = (512, 32), negative_slope: float = 0.02,
                 num_outputs: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.input_size = int(check_positive(input_size, "input_size", integer=True))
        self.hidden_units = tuple(int(check_positive(u, "hidden_units", integer=True)) for u in hidden_units)
        self.negative_slope = float(negative_slope)
        self.num_outputs = int(check_positive(num_outputs, "num_outputs", integer=True))
        self.hidden = [keras.layers.Dense(u, name=f"hidden_{i}") for i, u in enumerate(self.hidden_units)]
        self.activation = keras.layers.LeakyReLU(self.negative_slope)
        self.out = keras.layers.Dense(self.num_outputs, activation="sigmoid", name="estimates")
        self.build((None, self.input_size))

    def call(self, theta, training=None):
        h = theta
        for layer in self.hidden:
            h = self.activation(layer(h))
        return self.out(h)

    def get_config(self):
        return {
            "input_size": self.input_size,
            "hidden_units": list(self.hidden_units),
            "negative_slope": self.negative_slope,
            "num_outputs": self.num_outputs,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
