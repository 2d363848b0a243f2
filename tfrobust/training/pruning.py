"""Magnitude pruning with the Zhu & Gupta (2017) polynomial schedule, via tensorflow-model-optimization.

Zhu & Gupta (2017), "To prune, or not to prune": every ``frequency`` steps between ``begin_step``
t_0 and ``end_step``, the smallest-magnitude weights of each prunable kernel are masked so that its
sparsity is

    s_t = s_f + (s_i - s_f) (1 - (t - t_0) / (end_step - t_0))^3,

reaching the final sparsity s_f at ``end_step`` (tfmot ``PolynomialDecay`` with power 3).

Works with the tfrobust training wrappers: ``FastAdversarialModel(prune(base, ...), eps=...)``.
tfmot's ``UpdatePruningStep`` finds the ``PruneLowMagnitude`` layers through the wrapper (it recurses
into nested models), and ``PruneLowMagnitude`` advances its step on each ``training=True`` call:
the wrappers' attacks run with ``training=False``, so the step advances once per batch.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional

import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras as keras
# PruneLowMagnitude and the registry are not exported by tfmot's public API.
from tensorflow_model_optimization.python.core.sparsity.keras import prune_registry
from tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper import PruneLowMagnitude

from tfrobust.validation import check_positive

_sparsity = tfmot.sparsity.keras


def prune(model: keras.Model, final_sparsity: float, *, end_step: int, begin_step: int = 0,
          frequency: int = 100, initial_sparsity: float = 0.0, power: int = 3) -> keras.Model:
    """Wraps every prunable layer of ``model`` in tfmot's ``PruneLowMagnitude`` with a polynomial schedule.

    Args:
        model: functional or sequential tf_keras model (tfmot does not support subclassed models;
            wrap the pruned model in a training wrapper afterwards).
        final_sparsity: s_f in [0, 1), fraction of zero weights in each prunable kernel at ``end_step``.
        end_step: optimiser step at which s_f is reached (e.g. 0.8 of the training steps).
        begin_step: t_0, first pruning step.
        frequency: prune every this many steps.
        initial_sparsity: s_i in [0, s_f].
        power: exponent of the schedule (3 in Zhu & Gupta).

    Returns:
        The pruning-wrapped model. Train it with ``pruning_callbacks()``, then ``strip`` it.

    Raises:
        ValueError: sparsities outside [0, 1), end_step <= begin_step, frequency < 1.
        TypeError: ``model`` is not a tf_keras model.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"prune expects a tf_keras Model, got {type(model).__name__}.")
    for name, value in (("final_sparsity", final_sparsity), ("initial_sparsity", initial_sparsity)):
        if isinstance(value, bool) or not 0.0 <= float(value) < 1.0:
            raise ValueError(f"{name} must be a fraction in [0, 1), got {value!r}.")
    if initial_sparsity > final_sparsity:
        raise ValueError(f"initial_sparsity ({initial_sparsity}) must not exceed final_sparsity ({final_sparsity}).")
    if int(begin_step) < 0 or int(end_step) <= int(begin_step):
        raise ValueError(f"Need 0 <= begin_step < end_step, got begin_step={begin_step}, end_step={end_step}.")
    frequency = check_positive(frequency, "frequency", integer=True)
    schedule = _sparsity.PolynomialDecay(initial_sparsity=float(initial_sparsity),
                                         final_sparsity=float(final_sparsity), begin_step=int(begin_step),
                                         end_step=int(end_step), power=power, frequency=frequency)
    return _sparsity.prune_low_magnitude(model, pruning_schedule=schedule)


def pruning_callbacks(logdir: Optional[str] = None) -> List[keras.callbacks.Callback]:
    """``[UpdatePruningStep()]`` plus ``PruningSummaries(logdir)`` (per-layer sparsity in TensorBoard).

    Args:
        logdir: TensorBoard directory for the pruning summaries; None for no summaries.
    """
    callbacks = [_sparsity.UpdatePruningStep()]
    if logdir is not None:
        callbacks.append(_sparsity.PruningSummaries(log_dir=str(logdir)))
    return callbacks


def pruned_layers(model: keras.Model) -> List[PruneLowMagnitude]:
    """The ``PruneLowMagnitude`` layers of ``model`` (searching nested models and training wrappers)."""
    return [layer for layer in _leaf_layers(model) if isinstance(layer, PruneLowMagnitude)]


def strip(model: keras.Model) -> keras.Model:
    """The plain (deployable) model with pruning wrappers removed and masked weights kept.

    Accepts a pruned model or a tfrobust training wrapper around one (its ``inner`` is stripped).
    """
    inner = getattr(model, "inner", model)
    for layer in pruned_layers(inner):
        layer.pruning_obj.weight_mask_op()  # weights = weights * mask, as UpdatePruningStep does per epoch
    return _sparsity.strip_pruning(inner)


@dataclasses.dataclass
class SparsityReport:
    """Fraction of exactly-zero weights among prunable kernels.

    Attributes:
        overall: zeros / total over all prunable kernels.
        per_layer: layer name -> fraction of zeros in its prunable kernels.
        zeros, total: counts behind ``overall``.
    """

    overall: float
    per_layer: Dict[str, float]
    zeros: int
    total: int


def _leaf_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer


def _prunable_weights(layer):
    if isinstance(layer, PruneLowMagnitude):
        layer = layer.layer
    if isinstance(layer, _sparsity.PrunableLayer):
        return layer.get_prunable_weights()
    names = prune_registry.PruneRegistry._LAYERS_WEIGHTS_MAP.get(type(layer), [])
    return [getattr(layer, name) for name in names if getattr(layer, name, None) is not None]


def measured_sparsity(model: keras.Model) -> SparsityReport:
    """Measures the fraction of zero weights in the kernels that tfmot prunes.

    "Prunable kernels" are the weights tfmot would prune: ``get_prunable_weights()`` of
    ``PrunableLayer``s, otherwise the registry's weights (Dense/Conv kernels, not biases, BatchNorm
    or depthwise kernels). Works on stripped models, pruned models and training wrappers.

    Raises:
        ValueError: the model has no prunable kernels.
    """
    inner = getattr(model, "inner", model)
    per_layer, zeros, total = {}, 0, 0
    for layer in _leaf_layers(inner):
        weights = _prunable_weights(layer)
        if not weights:
            continue
        layer_zeros = sum(int(np.sum(w.numpy() == 0)) for w in weights)
        layer_total = sum(int(np.prod(w.shape)) for w in weights)
        per_layer[layer.name] = layer_zeros / layer_total
        zeros += layer_zeros
        total += layer_total
    if total == 0:
        raise ValueError(f"Model {inner.name} has no prunable kernels (Dense/Conv layers) to measure.")
    return SparsityReport(overall=zeros / total, per_layer=per_layer, zeros=zeros, total=total)
