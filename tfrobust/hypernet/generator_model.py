"""Common base of the two generator training loops: sampling, measuring and metrics.

Both loops of ``tfrobust.hypernet`` (``GeneratorValueModel``, seed 000's loop through a value network,
and ``DirectGeneratorModel``, the V-free variant the seed lists as future work) are Keras models whose
``train_step`` samples latent points s ~ U([-b, b]²), generates θ = G(s) and measures the networks
with a ``RobustnessMeter`` (Ballarin 2020). This base holds what they share, so that ``fit`` with
validation data reports the measured accuracy A, robustness R and objective αA + βR of fresh samples
in both cases, and calling the model maps latent points to weights.
"""
from __future__ import annotations

from typing import Dict, Sequence

import tensorflow as tf
import tf_keras as keras

from tfrobust.hypernet.generator import Generator, sample_latent
from tfrobust.hypernet.robustness import RobustnessMeter
from tfrobust.validation import check_positive


class GeneratorTrainingModel(keras.Model):
    """Keras model around a generator that is trained to maximise α·A + β·R of its samples.

    Args:
        generator: the ``Generator`` G.
        meter: ``RobustnessMeter`` measuring A and R (its PGD settings define R).
        alpha: weight of accuracy in the objective (seed: 0.5).
        beta: weight of robustness (seed: 0.5; the seed requires α + β = 1).
        samples_per_step: latent points (generated networks) per training step.
        latent_bound: s ~ U([-latent_bound, latent_bound]²) (seed: 10).
        **kwargs: standard Keras model arguments.

    Raises:
        ValueError: negative α or β, α + β ≠ 1, non-positive sizes.
    """

    def __init__(self, generator: Generator, meter: RobustnessMeter, *, alpha: float = 0.5, beta: float = 0.5,
                 samples_per_step: int = 8, latent_bound: float = 10.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(generator, Generator):
            raise TypeError(f"generator must be a tfrobust.hypernet.Generator, got {type(generator).__name__}.")
        if not isinstance(meter, RobustnessMeter):
            raise TypeError(f"meter must be a RobustnessMeter, got {type(meter).__name__}.")
        if generator.output_size != meter.target.theta_size:
            raise ValueError(
                f"The generator makes {generator.output_size} weights but the target network has "
                f"{meter.target.theta_size}; build the generator with output_size=target.theta_size."
            )
        if alpha < 0 or beta < 0 or abs(alpha + beta - 1.0) > 1e-6:
            raise ValueError(f"alpha and beta must be >= 0 with alpha + beta = 1 (seed 000), got {alpha}, {beta}.")
        self.generator = generator
        self.meter = meter
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.samples_per_step = int(check_positive(samples_per_step, "samples_per_step", integer=True))
        self.latent_bound = float(check_positive(latent_bound, "latent_bound"))
        self._trackers: Dict[str, keras.metrics.Mean] = {}
        self(self.sample_latent(1))  # built now, so that BackupAndRestore can restore it at the start of fit

    # ------------------------------------------------------------------------------------ helpers
    def _track(self, names: Sequence[str]) -> None:
        for name in names:
            self._trackers[name] = keras.metrics.Mean(name=name)

    @property
    def metrics(self):
        return list(self._trackers.values())

    def _update(self, values: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
        for name, value in values.items():
            self._trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self._trackers.items()}

    def sample_latent(self, num: int | None = None) -> tf.Tensor:
        """Latent points s, shape (num or samples_per_step, latent_dim)."""
        return sample_latent(num or self.samples_per_step, self.generator.latent_dim, self.latent_bound)

    def measured(self, thetas, x, y) -> Dict[str, tf.Tensor]:
        """Per-network A, R and α·A + β·R of ``thetas`` on one batch (graph-friendly)."""
        accuracy, robustness, _ = self.meter.measure_batch(thetas, x, y)
        return {"accuracy": accuracy, "robustness": robustness,
                "objective": self.alpha * accuracy + self.beta * robustness}

    # ------------------------------------------------------------------------------- Keras hooks
    def call(self, s, training=None):
        """Generated weights θ = G(s), shape (P, |θ|)."""
        return self.generator(s, training=training)

    def test_step(self, data):
        """Measures A, R and the objective of fresh samples on a validation batch (no update)."""
        x, y = data[0], data[1]
        values = self.measured(self.generator(self.sample_latent()), x, y)
        for name, value in values.items():
            self._trackers[name].update_state(value)
        return {name: self._trackers[name].result() for name in values}
