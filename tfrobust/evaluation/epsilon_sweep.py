"""Accuracy as a function of eps for one attack, and drop(eps) = acc(0) - acc(eps) (seed 004).

Seed 004 compares pruned, low-rank and temperature-trained models by FGSM accuracy-vs-eps curves
and by the drop of accuracy from the clean value; foolbox 3 likewise evaluates a list of epsilons
in one call. ``epsilon_sweep`` reads the data once and evaluates every eps per batch;
``sweep_models`` runs the same sweep for several models.

Given a minimal-perturbation attack (registry kind "minimal": CW, DeepFool, FAB-minimal, the optimisation
attack), ``epsilon_sweep`` runs it once per batch and reads the whole curve off the per-example norms:
acc(eps) = mean(clean & not (fooled & norm <= eps)), where "fooled" is the model's own verdict on the
returned image (an attack's claimed success does not count unless the model confirms it).
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Sequence

import numpy as np
import tensorflow as tf

from tfrobust.attacks.spec import as_attack
from tfrobust.io import markdown_table, to_jsonable, write_json_atomic
from tfrobust.evaluation.robust_accuracy import (_load_json, evaluate_epsilons, iterate_batches, model_name,
                                                 predict_labels)
from tfrobust.logits import as_logits_model
from tfrobust.validation import check_bounds, check_epsilon, check_images, check_labels, check_positive


@dataclass
class SweepResult:
    """Accuracy of one model under one attack for a list of eps.

    Attributes:
        attack: short attack label, e.g. "fgsm" or "pgd-40x1-ce".
        attack_config: the attack's settings (eps-dependent ones unresolved, e.g. step_size None).
        epsilons: the eps values, in the order evaluated.
        accuracy: robust accuracy at each eps (the clean accuracy where eps = 0).
        clean_accuracy: accuracy on clean examples, acc(0).
        n: number of examples.
        model_name: name of the model, when it has one.
        early_stop: whether only still-correct examples were attacked.
        n_attacked: examples handed to the attack at each eps.
        seconds: wall time at each eps.
        robust_correct: per-example robust correctness, shape (len(epsilons), n), when requested.
    """

    attack: str
    attack_config: Dict[str, Any]
    epsilons: List[float]
    accuracy: List[float]
    clean_accuracy: float
    n: int
    model_name: str = ""
    early_stop: bool = True
    n_attacked: List[int] = field(default_factory=list)
    seconds: List[float] = field(default_factory=list)
    robust_correct: np.ndarray | None = None

    def __post_init__(self):
        if len(self.epsilons) != len(self.accuracy):
            raise ValueError(f"{len(self.epsilons)} epsilons but {len(self.accuracy)} accuracies.")

    @property
    def drop(self) -> List[float]:
        """drop(eps) = acc(0) - acc(eps) for each eps (seed 004)."""
        return [self.clean_accuracy - a for a in self.accuracy]

    def accuracy_at(self, eps: float) -> float:
        """Accuracy at the evaluated eps closest to ``eps`` (raises when none is within 1e-9)."""
        distances = np.abs(np.asarray(self.epsilons) - eps)
        i = int(np.argmin(distances))
        if distances[i] > 1e-9:
            raise KeyError(f"eps={eps} was not evaluated; evaluated: {self.epsilons}.")
        return self.accuracy[i]

    def as_rows(self) -> List[Dict[str, Any]]:
        """One dict per eps with eps, accuracy and drop."""
        return [{"eps": e, "accuracy": a, "drop": d} for e, a, d in zip(self.epsilons, self.accuracy, self.drop)]

    def as_table(self, float_format: str = ".4f") -> str:
        """The sweep as a markdown table with columns eps, accuracy, drop."""
        return markdown_table(self.as_rows(), ["eps", "accuracy", "drop"], float_format=float_format)

    def to_dict(self) -> Dict[str, Any]:
        """All fields plus ``drop`` as plain JSON types."""
        data = {f.name: to_jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}
        data["drop"] = to_jsonable(self.drop)
        return data

    def to_json(self, path: str | None = None, indent: int = 2) -> str:
        """The sweep as JSON text; also written atomically to ``path`` when given."""
        if path is not None:
            write_json_atomic(path, self.to_dict(), indent=indent)
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SweepResult":
        data = {k: v for k, v in data.items() if k != "drop"}
        if data.get("robust_correct") is not None:
            data["robust_correct"] = np.asarray(data["robust_correct"], dtype=bool)
        return cls(**data)

    @classmethod
    def from_json(cls, text_or_path: str) -> "SweepResult":
        """Reads a sweep from JSON text or from a file path."""
        return cls.from_dict(_load_json(text_or_path))


def epsilon_sweep(model: Callable, x, y=None, *, attack, epsilons: Sequence[float], batch_size: int = 256,
                  early_stop: bool = True, bounds: Sequence[float] = (0.0, 1.0),
                  per_example: bool = False, strategy=None, progress=False) -> SweepResult:
    """Robust accuracy of ``model`` under ``attack`` for each eps in ``epsilons`` (seed 004; foolbox 3).

    Args:
        model: any callable images -> logits.
        x: images in ``bounds`` (numpy, tensor), or a ``tf.data.Dataset`` of (x, y) batches.
        y: labels, sparse or one-hot; ``None`` when ``x`` is a Dataset.
        attack: an ``Attack``, spec string, dict or attack function (see ``robust_accuracy``).
        epsilons: eps values in pixel units; include 0 to get the clean point on the curve.
        batch_size: examples per attack call.
        early_stop: attack only examples still classified correctly.
        bounds: (low, high) of valid pixel values.
        per_example: keep the per-example robust correctness, shape (len(epsilons), n).
        strategy: a ``tf.distribute`` strategy sharing the attack batches (see ``robust_accuracy``).
        progress: progress bar or callback of the fixed-eps attack batches (see ``robust_accuracy``).

    Returns:
        A ``SweepResult``.

    Raises:
        ValueError, TypeError: as ``robust_accuracy``, or an empty ``epsilons``.
    """
    spec = as_attack(attack)
    if getattr(spec, "kind", "fixed_eps") == "minimal" and not spec.targeted and strategy is None:
        return _minimal_norm_sweep(model, x, y, attack=spec, epsilons=epsilons, batch_size=batch_size,
                                   early_stop=early_stop, bounds=bounds, per_example=per_example)
    _, attack, epsilons, clean, outcomes = evaluate_epsilons(
        model, x, y, attack=attack, epsilons=epsilons, batch_size=batch_size, early_stop=early_stop, bounds=bounds,
        strategy=strategy, progress=progress)
    robust = np.stack([np.concatenate(o.robust_correct) for o in outcomes])
    return SweepResult(
        attack=attack.label, attack_config=attack.to_dict(), epsilons=list(epsilons),
        accuracy=[float(r.mean()) for r in robust], clean_accuracy=float(clean.mean()), n=int(clean.size),
        model_name=model_name(model), early_stop=early_stop, n_attacked=[o.n_attacked for o in outcomes],
        seconds=[o.seconds for o in outcomes], robust_correct=robust if per_example else None)


def _minimal_norm_sweep(model, x, y, *, attack, epsilons, batch_size, early_stop, bounds, per_example) -> SweepResult:
    """The whole curve from one run of a minimal-perturbation attack per batch (see the module docstring).

    ``seconds`` holds the one run's time spread evenly over the eps > 0 (their sum is the run's time).
    """
    bounds = check_bounds(bounds)
    epsilons = [check_epsilon(e, bounds, norm=attack.norm, name="epsilon") for e in np.atleast_1d(epsilons).tolist()]
    if not epsilons:
        raise ValueError("epsilons is empty; give at least one eps, e.g. [0, 0.1, 0.3].")
    batch_size = int(check_positive(batch_size, "batch_size", integer=True))
    if not isinstance(early_stop, bool):
        raise TypeError(f"early_stop must be True or False, got {early_stop!r}.")
    kwargs = attack.resolve(0.0)
    logits_model = None
    clean_parts, norm_parts, fooled_parts = [], [], []
    attacked, offset, start = 0, 0, time.perf_counter()
    for xb, yb in iterate_batches(x, y, batch_size):
        xb = check_images(xb, bounds)
        if logits_model is None:
            logits_model = as_logits_model(model, xb)
        yb = check_labels(yb, logits_model.num_classes, int(xb.shape[0]))
        labels = yb.numpy().astype(np.int64)
        positions = offset + np.arange(len(labels))
        clean = predict_labels(logits_model, xb, "on the clean images", positions) == labels
        norms, fooled = np.full(len(labels), np.inf), np.zeros(len(labels), bool)
        idx = np.flatnonzero(clean) if early_stop else np.arange(len(labels))
        if idx.size:
            result = attack.entry.function(logits_model, tf.gather(xb, idx), tf.gather(yb, idx), bounds=bounds,
                                           **kwargs)
            norms[idx] = np.asarray(result.norms, np.float64)
            fooled[idx] = predict_labels(logits_model, tf.convert_to_tensor(result.x_adv, tf.float32),
                                         f"after {attack.label}", positions[idx]) != labels[idx]
            attacked += int(idx.size)
        clean_parts.append(clean)
        norm_parts.append(norms)
        fooled_parts.append(fooled)
        offset += len(labels)
    if logits_model is None:
        raise ValueError("The dataset yielded no batches; nothing to evaluate.")
    elapsed = time.perf_counter() - start
    clean, norms, fooled = (np.concatenate(p) for p in (clean_parts, norm_parts, fooled_parts))
    robust = np.stack([clean if eps == 0 else clean & ~(fooled & (norms <= eps)) for eps in epsilons])
    positive = sum(1 for eps in epsilons if eps > 0)
    return SweepResult(
        attack=attack.label, attack_config=attack.to_dict(), epsilons=list(epsilons),
        accuracy=[float(r.mean()) for r in robust], clean_accuracy=float(clean.mean()), n=int(clean.size),
        model_name=model_name(model), early_stop=early_stop,
        n_attacked=[attacked if eps > 0 else 0 for eps in epsilons],
        seconds=[elapsed / positive if eps > 0 else 0.0 for eps in epsilons],
        robust_correct=robust if per_example else None)


def sweep_models(models: Mapping[str, Callable], x, y=None, *, attack, epsilons: Sequence[float],
                 **kwargs) -> Dict[str, SweepResult]:
    """Runs ``epsilon_sweep`` with the same attack and data for each model of ``{name: model}``.

    Args:
        models: a mapping from a display name to a model.
        x, y, attack, epsilons, **kwargs: as ``epsilon_sweep``.

    Returns:
        ``{name: SweepResult}`` in the order of ``models``; each result's ``model_name`` is the key.

    Raises:
        ValueError: an empty mapping.
    """
    if not isinstance(models, Mapping) or not models:
        raise ValueError("models must be a non-empty dict {name: model}.")
    sweeps = {}
    for name, model in models.items():
        sweep = epsilon_sweep(model, x, y, attack=attack, epsilons=epsilons, **kwargs)
        sweep.model_name = str(name)
        sweeps[str(name)] = sweep
    return sweeps


def sweeps_table(sweeps: Mapping[str, SweepResult], metric: str = "accuracy", float_format: str = ".4f") -> str:
    """A markdown table with one row per eps and one column per model ("accuracy" or "drop").

    Raises:
        ValueError: unknown metric or sweeps over different eps lists.
    """
    if metric not in ("accuracy", "drop"):
        raise ValueError(f"metric must be 'accuracy' or 'drop', got {metric!r}.")
    if not sweeps:
        raise ValueError("sweeps is empty.")
    names = list(sweeps)
    epsilons = sweeps[names[0]].epsilons
    for name in names[1:]:
        other = sweeps[name].epsilons
        if len(other) != len(epsilons) or not np.allclose(other, epsilons):
            raise ValueError(f"Sweep {name!r} used eps {other}, not {epsilons}; cannot tabulate.")
    rows = [[eps] + [getattr(sweeps[name], metric)[i] for name in names] for i, eps in enumerate(epsilons)]
    return markdown_table(rows, ["eps"] + names, float_format=float_format)
