"""Learning-rate schedules stepped per batch: piecewise linear, one-cycle and triangular cyclic.

- Piecewise linear through points (b_i, v_i): lr(t) = v_i + (t - b_i)(v_{i+1} - v_i)/(b_{i+1} - b_i)
  for b_i <= t <= b_{i+1}, constant v_0 before b_0 and v_n after b_n (``numpy.interp``).
  Wong, Rice & Kolter (2020) train MNIST with lr 0 -> 5e-3 at 2/5 of training -> 0.
- One cycle (Smith & Topin 2017, as used by Wong et al. 2020 on CIFAR-10): 0 -> max_lr at
  ``peak_fraction`` of training -> 0, linear, stepped per batch.
- Triangular cyclic learning rate (Smith 2017, "Cyclical Learning Rates for Training Neural
  Networks"): with half-cycle length s, cycle = floor(1 + t / 2s), u = |t / s - 2 cycle + 1|,
  lr(t) = base_lr + (max_lr - base_lr) max(0, 1 - u).

The step t is the optimiser's iteration counter (0 for the first batch).
"""
from __future__ import annotations

import math
from typing import Sequence

import tensorflow as tf
import tf_keras as keras

from tfrobust.validation import check_positive


def _check_rates(values, name="values"):
    rates = [float(v) for v in values]
    if any(not math.isfinite(v) or v < 0 for v in rates):
        raise ValueError(f"Learning rates ({name}) must be finite and >= 0, got {list(values)}.")
    return rates


@keras.saving.register_keras_serializable(package="tfrobust")
class PiecewiseLinearSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear interpolation between (step, learning rate) points, constant outside them.

    Args:
        boundaries: strictly increasing steps b_0 < ... < b_n (at least two).
        values: learning rates at those steps (same length, finite, >= 0).

    Raises:
        ValueError: lengths differ, fewer than two points, boundaries not increasing, bad rates.
    """

    def __init__(self, boundaries: Sequence[float], values: Sequence[float], name: str = "PiecewiseLinear"):
        boundaries = [float(b) for b in boundaries]
        values = _check_rates(values)
        if len(boundaries) != len(values) or len(boundaries) < 2:
            raise ValueError(
                f"boundaries and values must have the same length >= 2, got {len(boundaries)} and {len(values)}."
            )
        if any(b1 <= b0 for b0, b1 in zip(boundaries, boundaries[1:])) or not all(map(math.isfinite, boundaries)):
            raise ValueError(f"boundaries must be finite and strictly increasing, got {boundaries}.")
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step):
        with tf.name_scope(self.name):
            step = tf.cast(step, tf.float32)
            b = tf.constant(self.boundaries, tf.float32)
            v = tf.constant(self.values, tf.float32)
            right = tf.clip_by_value(tf.searchsorted(b, tf.reshape(step, [1]), side="right")[0], 1, len(self.boundaries) - 1)
            b0, b1 = tf.gather(b, right - 1), tf.gather(b, right)
            v0, v1 = tf.gather(v, right - 1), tf.gather(v, right)
            fraction = tf.clip_by_value((step - b0) / (b1 - b0), 0.0, 1.0)
            return v0 + fraction * (v1 - v0)

    def get_config(self):
        return {"boundaries": list(self.boundaries), "values": list(self.values), "name": self.name}


def piecewise_linear(boundaries: Sequence[float], values: Sequence[float]) -> PiecewiseLinearSchedule:
    """Piecewise-linear schedule through (boundaries[i], values[i]); see ``PiecewiseLinearSchedule``.

    Example (Wong et al. 2020 MNIST, 10 epochs of ``n`` batches):
        >>> piecewise_linear([0, 4 * n, 10 * n], [0.0, 5e-3, 0.0])
    """
    return PiecewiseLinearSchedule(boundaries, values)


def one_cycle(total_steps: int, max_lr: float, *, peak_fraction: float = 0.5, initial_lr: float = 0.0,
              final_lr: float = 0.0) -> PiecewiseLinearSchedule:
    """One triangular cycle initial_lr -> max_lr -> final_lr over ``total_steps`` batches.

    Wong et al. (2020) CIFAR-10: ``one_cycle(15 * batches_per_epoch, 0.2)`` with SGD momentum 0.9.

    Args:
        total_steps: number of training batches (the rate is ``final_lr`` from then on).
        max_lr: peak learning rate.
        peak_fraction: where the peak lies, in (0, 1) of ``total_steps``.
        initial_lr, final_lr: rates at step 0 and at ``total_steps``.

    Raises:
        ValueError, TypeError: non-positive total_steps/max_lr, peak_fraction outside (0, 1).
    """
    total_steps = check_positive(total_steps, "total_steps", integer=True)
    max_lr = check_positive(max_lr, "max_lr")
    if not 0.0 < float(peak_fraction) < 1.0:
        raise ValueError(f"peak_fraction must lie strictly between 0 and 1, got {peak_fraction}.")
    return PiecewiseLinearSchedule([0.0, peak_fraction * total_steps, float(total_steps)],
                                   [initial_lr, max_lr, final_lr])


@keras.saving.register_keras_serializable(package="tfrobust")
class TriangularCyclicSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Smith's (2017) triangular cyclic learning rate between base_lr and max_lr.

    Args:
        base_lr: lowest rate (at steps 0, 2s, 4s, ...).
        max_lr: highest rate (at steps s, 3s, ...).
        half_cycle_steps: s, the number of batches from base_lr to max_lr.

    Raises:
        ValueError: max_lr < base_lr, negative rates or non-positive half_cycle_steps.
    """

    def __init__(self, base_lr: float, max_lr: float, half_cycle_steps: int, name: str = "TriangularCyclic"):
        self.base_lr, self.max_lr = _check_rates([base_lr, max_lr], "base_lr, max_lr")
        if self.max_lr < self.base_lr:
            raise ValueError(f"max_lr ({max_lr}) must be >= base_lr ({base_lr}).")
        self.half_cycle_steps = check_positive(half_cycle_steps, "half_cycle_steps", integer=True)
        self.name = name

    def __call__(self, step):
        with tf.name_scope(self.name):
            t = tf.cast(step, tf.float32) / float(self.half_cycle_steps)
            cycle = tf.floor(1.0 + t / 2.0)
            u = tf.abs(t - 2.0 * cycle + 1.0)
            return self.base_lr + (self.max_lr - self.base_lr) * tf.maximum(0.0, 1.0 - u)

    def get_config(self):
        return {"base_lr": self.base_lr, "max_lr": self.max_lr, "half_cycle_steps": self.half_cycle_steps,
                "name": self.name}
