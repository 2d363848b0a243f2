"""The weight generator G of seed 000: a latent point s ∈ R² mapped to a full weight vector θ.

Ballarin (2020), "Modelli generativi di modelli neurali artificiali robusti", slide "L'idea": sample
s ~ U([-10, 10]²), generate θ = G(s), load θ into the target network. G is a fully connected net
2 → 32 → 128 → 512 → |θ| with LeakyReLU(0.07) hidden activations and a tanh output.

Output scale (our addition, documented): tanh bounds every weight to (-1, 1) and pushes the targets
of pretraining into its flat tails when they are close to ±1, so the output is multiplied by a
learnable scale c: θ = c ⊙ tanh(z). ``output_scale="per_output"`` learns one c per weight (|θ|
extra parameters, 0.2 % of G for LeNet-5), ``"scalar"`` a single one, ``"none"`` keeps the seed's
plain tanh. ``set_output_scale`` initialises c from a reference θ (e.g. the pretrained LeNet-5's),
per weight tensor, so that the reference lies well inside tanh's linear range.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfrobust.validation import check_choice, check_positive

OUTPUT_SCALES = ("per_output", "scalar", "none")


def sample_latent(num: int, latent_dim: int = 2, bound: float = 10.0, seed=None) -> tf.Tensor:
    """Latent points s ~ U([-bound, bound]^latent_dim), shape (num, latent_dim) (seed 000: bound 10)."""
    return tf.random.uniform([num, latent_dim], -bound, bound, seed=seed)


@keras.utils.register_keras_serializable(package="tfrobust")
class Generator(keras.Model):
    """G(s) = c ⊙ tanh(MLP(s)): latent points to flat weight vectors (Ballarin 2020, seed 000).

    Args:
        output_size: |θ|, the number of generated weights (``TargetNetwork.theta_size``).
        latent_dim: dimension of s (seed: 2).
        hidden_units: widths of the hidden layers (seed: 32, 128, 512).
        negative_slope: LeakyReLU slope of the hidden layers (seed: 0.07).
        output_scale: ``"per_output"``, ``"scalar"`` or ``"none"`` (see the module docstring).
        scale_init: initial value of every output scale.
        **kwargs: standard Keras model arguments (``name``...).

    Call:
        s of shape (P, latent_dim) → θ of shape (P, output_size).

    Raises:
        ValueError / TypeError: non-positive sizes, unknown ``output_scale``.
    """

    def __init__(self, output_size: int, latent_dim: int = 2, hidden_units: Sequence[int] = (32, 128, 512),
                 negative_slope: float = 0.07, output_scale: str = "per_output", scale_init: float = 1.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.output_size = int(check_positive(output_size, "output_size", integer=True))
        self.latent_dim = int(check_positive(latent_dim, "latent_dim", integer=True))
        self.hidden_units = tuple(int(check_positive(u, "hidden_units", integer=True)) for u in hidden_units)
        self.negative_slope = float(negative_slope)
        self.output_scale = check_choice(output_scale, OUTPUT_SCALES, "output_scale")
        self.scale_init = check_positive(scale_init, "scale_init")
        self.hidden = [keras.layers.Dense(u, name=f"hidden_{i}") for i, u in enumerate(self.hidden_units)]
        self.activation = keras.layers.LeakyReLU(self.negative_slope)
        self.out = keras.layers.Dense(self.output_size, name="weights_preactivation")
        self.scale = None
        if self.output_scale != "none":
            shape = (self.output_size,) if self.output_scale == "per_output" else ()
            self.scale = self.add_weight(name="output_scale", shape=shape,
                                         initializer=keras.initializers.Constant(self.scale_init), trainable=True)
        self.build((None, self.latent_dim))

    def call(self, s, training=None):
        h = s
        for layer in self.hidden:
            h = self.activation(layer(h))
        theta = tf.tanh(self.out(h))
        return theta if self.scale is None else theta * self.scale

    def set_output_scale(self, theta_reference, shapes: Sequence[Sequence[int]], margin: float = 2.0) -> np.ndarray:
        """Sets the output scale to ``margin`` × max|θ_ref| of each weight tensor.

        With margin 2 the reference weights need tanh values of at most 0.5, inside tanh's nearly linear
        range, so pretraining on them converges quickly.

        Args:
            theta_reference: a flat reference weight vector, shape (output_size,).
            shapes: the weight-tensor shapes that make up θ (``TargetNetwork.shapes``).
            margin: factor above each tensor's largest absolute weight (> 1).

        Returns:
            The per-output scale vector that was set (for ``"scalar"``, its maximum is set).

        Raises:
            ValueError: ``output_scale="none"``, sizes that do not add up, or margin <= 1.
        """
        if self.scale is None:
            raise ValueError("This generator has output_scale='none'; there is no scale to set.")
        if margin <= 1:
            raise ValueError(f"margin must be > 1 so that tanh can reach the reference, got {margin}.")
        ref = np.asarray(theta_reference, dtype=np.float32).reshape(-1)
        sizes = [int(np.prod(s)) for s in shapes]
        if ref.size != self.output_size or sum(sizes) != self.output_size:
            raise ValueError(
                f"Reference of {ref.size} values and shapes totalling {sum(sizes)} must both equal "
                f"output_size={self.output_size}."
            )
        pieces = np.split(ref, np.cumsum(sizes)[:-1])
        scale = np.concatenate([np.full(p.size, margin * max(float(np.abs(p).max()), 1e-3)) for p in pieces])
        self.scale.assign(scale.astype(np.float32) if self.output_scale == "per_output" else float(scale.max()))
        return scale.astype(np.float32)

    def get_config(self):
        return {
            "output_size": self.output_size,
            "latent_dim": self.latent_dim,
            "hidden_units": list(self.hidden_units),
            "negative_slope": self.negative_slope,
            "output_scale": self.output_scale,
            "scale_init": self.scale_init,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
