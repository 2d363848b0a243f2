"""Robust accuracy: the share of examples classified correctly under an attack of size eps.

An example counts as robust at eps when it is classified correctly *and* the attack's output
inside the eps-ball is classified correctly (the clean point is itself inside the ball, so a
misclassified example is never robust). With ``early_stop=True`` only the examples that are
still classified correctly are attacked, as AutoAttack does (Croce & Hein 2020): the number is
the same, the cost falls with the clean error, and PGD additionally stops attacking an example
as soon as it is fooled.

Data may be numpy arrays, tensors, or a ``tf.data.Dataset`` of ``(x, y)`` batches; it is read
once, batch by batch, and every eps of a sweep is evaluated on a batch before the next is read.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfrobust.attacks.spec import Attack, as_attack
from tfrobust.evaluation.sharding import EvaluationShards
from tfrobust.io import to_jsonable, write_json_atomic
from tfrobust.logits import LogitsModel, as_logits_model
from tfrobust.validation import (check_bounds, check_dataset_batched, check_epsilon, check_finite, check_finite_logits,
                                 check_images, check_labels, check_positive)

_BALL_TOLERANCE = 1e-5


@dataclass
class RobustAccuracyResult:
    """Robust accuracy of one model under one attack at one eps.

    Attributes:
        attack: short attack label, e.g. "pgd-40x1-ce".
        attack_config: the attack's settings as used at this eps (eps-dependent defaults resolved).
        eps: perturbation size in pixel units.
        n: number of examples.
        clean_accuracy: accuracy on the clean examples.
        robust_accuracy: share of examples classified correctly both clean and under attack.
        early_stop: whether only still-correct examples were attacked.
        n_attacked: number of examples handed to the attack.
        seconds: wall time of the attack and its evaluation.
        model_name: name of the model, when it has one.
        clean_correct: per-example clean correctness (bool array), when requested.
        robust_correct: per-example robust correctness (bool array), when requested.
    """

    attack: str
    attack_config: Dict[str, Any]
    eps: float
    n: int
    clean_accuracy: float
    robust_accuracy: float
    early_stop: bool = True
    n_attacked: int = 0
    seconds: float = 0.0
    model_name: str = ""
    clean_correct: np.ndarray | None = None
    robust_correct: np.ndarray | None = None

    @property
    def drop(self) -> float:
        """clean accuracy - robust accuracy (seed 004's drop(eps))."""
        return self.clean_accuracy - self.robust_accuracy

    def to_dict(self) -> Dict[str, Any]:
        """All fields as plain JSON types (per-example arrays as lists of bools, or None)."""
        return {f.name: to_jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def to_json(self, path: str | None = None, indent: int = 2) -> str:
        """The result as JSON text; also written atomically to ``path`` when given."""
        if path is not None:
            write_json_atomic(path, self.to_dict(), indent=indent)
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "RobustAccuracyResult":
        data = dict(data)
        for key in ("clean_correct", "robust_correct"):
            if data.get(key) is not None:
                data[key] = np.asarray(data[key], dtype=bool)
        return cls(**data)

    @classmethod
    def from_json(cls, text_or_path: str) -> "RobustAccuracyResult":
        """Reads a result from JSON text or from a file path."""
        return cls.from_dict(_load_json(text_or_path))


def _load_json(text_or_path: str) -> Any:
    text = text_or_path
    if not text_or_path.lstrip().startswith("{"):
        with open(text_or_path, encoding="utf-8") as f:
            text = f.read()
    return json.loads(text)


def iterate_batches(x, y, batch_size: int) -> Iterator[Tuple[Any, Any]]:
    """Yields (images, labels) batches of at most ``batch_size`` from arrays, tensors or a Dataset.

    Raises:
        ValueError: a Dataset whose elements are not (x, y) pairs, arrays of different lengths,
            or ``y`` missing for arrays / given for a Dataset.
    """
    if isinstance(x, tf.data.Dataset):
        if y is not None:
            raise ValueError("With a tf.data.Dataset of (x, y) batches, pass y=None (labels come from the dataset).")
        check_dataset_batched(x)
        for element in x:
            if not isinstance(element, (tuple, list)) or len(element) < 2:
                raise ValueError("The Dataset must yield (images, labels) batches; batch it with .batch(n) first.")
            xb, yb = element[0], element[1]
            if xb.shape.rank is not None and xb.shape.rank < 2:
                raise ValueError(f"Dataset images have shape {xb.shape}; batch the dataset with .batch(n).")
            for start in range(0, int(xb.shape[0]), batch_size):
                yield xb[start:start + batch_size], yb[start:start + batch_size]
        return
    if y is None:
        raise ValueError("Labels y are missing; pass y, or a tf.data.Dataset of (x, y) batches as x.")
    n, n_y = len(x), len(y)
    if n != n_y:
        raise ValueError(f"Batch mismatch: {n} images but {n_y} labels; pass one label per image.")
    if n == 0:
        raise ValueError("No examples to evaluate (empty x).")
    for start in range(0, n, batch_size):
        yield x[start:start + batch_size], y[start:start + batch_size]


def predict_labels(model: Callable, x, where: str = "", indices=None) -> np.ndarray:
    """Arg-max class of ``model(x)`` as a numpy int array; non-finite logits raise (naming ``where``)."""
    logits = np.asarray(model(x))
    check_finite_logits(logits, where, indices)
    return np.argmax(logits, axis=1).astype(np.int64)


def _check_inside_ball(attack, x, x_adv, eps: float, bounds) -> None:
    """Refuses adversarial images outside the eps-ball or the bounds: they would give too low numbers."""
    lo, hi = bounds
    if tuple(x_adv.shape) != tuple(x.shape):
        raise ValueError(f"Attack {attack.label} returned shape {tuple(x_adv.shape)} for inputs {tuple(x.shape)}.")
    delta = np.asarray(x_adv, dtype=np.float64) - np.asarray(x, dtype=np.float64)
    flat = delta.reshape(delta.shape[0], -1)
    norm = getattr(attack, "norm", "linf")
    size = np.abs(flat).max(axis=1) if norm == "linf" else np.linalg.norm(flat, axis=1)
    tol = _BALL_TOLERANCE * max(1.0, eps, hi - lo)
    if np.any(size > eps + tol) or np.any(np.asarray(x_adv) < lo - tol) or np.any(np.asarray(x_adv) > hi + tol):
        raise ValueError(
            f"Attack {attack.label} left the {norm} ball of radius {eps} or the bounds {bounds} "
            f"(largest perturbation {size.max():.6g}); its accuracy would be too low to trust."
        )


@dataclass
class _EpsOutcome:
    robust_correct: List[np.ndarray]
    n_attacked: int = 0
    seconds: float = 0.0


class _Progress:
    """Progress of ``evaluate_epsilons``: examples evaluated and the running robust accuracy per eps.

    ``progress=True`` shows a Keras ``Progbar`` (with its ETA) when stdout is a terminal and nothing
    otherwise; a callable is called as ``progress(done, total, accuracies)`` after every batch, with
    ``total`` None when the data size is unknown and ``accuracies`` ``{"clean": a, "eps=0.1": b, ...}``.
    """

    def __init__(self, progress, total: int | None, attack_label: str, epsilons: Sequence[float]):
        self.callback = None
        self.bar = None
        if callable(progress):
            self.callback = progress
        elif progress is True:
            if sys.stdout is not None and hasattr(sys.stdout, "isatty") and sys.stdout.isatty():
                import tf_keras as keras  # noqa: PLC0415  (only when progress is shown)

                print(f"{attack_label}: attacking {total if total is not None else 'all'} examples at "
                      f"eps {', '.join(f'{e:g}' for e in epsilons)}", flush=True)
                self.bar = keras.utils.Progbar(total, unit_name="example",
                                               stateful_metrics=["clean"] + [f"eps={e:g}" for e in epsilons])
        elif progress not in (False, None):
            raise TypeError(f"progress must be True, False or a callable(done, total, accuracies), got {progress!r}.")
        self.total, self.epsilons = total, list(epsilons)
        self.done, self.clean, self.robust = 0, 0, np.zeros(len(self.epsilons))
        self.lock = threading.Lock()

    @property
    def active(self) -> bool:
        return self.callback is not None or self.bar is not None

    def wrap(self, work: Callable[[], Any]) -> Callable[[], Any]:
        """``work`` followed by a progress update with its batch result."""
        def run():
            result = work()
            clean, robust_per_eps = result[0], result[1]
            with self.lock:
                self.done += len(clean)
                self.clean += int(np.sum(clean))
                self.robust += np.array([np.sum(r) for r in robust_per_eps], dtype=float)
                accuracies = {"clean": self.clean / self.done}
                accuracies.update({f"eps={e:g}": float(r) / self.done for e, r in zip(self.epsilons, self.robust)})
                if self.callback is not None:
                    self.callback(self.done, self.total, accuracies)
                if self.bar is not None:
                    self.bar.update(self.done, values=list(accuracies.items()))
            return result
        return run


def _known_size(x) -> int | None:
    """The number of examples of an array-like ``x``; None for a Dataset or an unknown size."""
    if isinstance(x, tf.data.Dataset):
        return None
    shape = getattr(x, "shape", None)
    if shape is not None and len(shape) and shape[0] is not None:
        return int(shape[0])
    return None


def evaluate_epsilons(model: Callable, x, y, *, attack, epsilons: Sequence[float], batch_size: int = 256,
                      early_stop: bool = True, bounds: Sequence[float] = (0.0, 1.0), strategy=None,
                      progress=False):
    """Clean and robust per-example correctness of ``model`` for several eps in one pass over the data.

    This is the engine behind ``robust_accuracy`` and ``epsilon_sweep``; see the module docstring. With a
    ``tf.distribute`` ``strategy`` the batches are spread over its replicas and workers
    (``tfrobust.evaluation.sharding``), with the same per-example results.

    ``progress=True`` shows a Keras ``Progbar`` while the batches are attacked: examples done, the
    running clean and robust accuracy at each eps, and the ETA; it stays silent when stdout is not a
    terminal. A callable ``progress(done, total, accuracies)`` receives the same numbers after each batch.

    Returns:
        (logits_model, attack, epsilons, clean_correct, outcomes) with ``outcomes[i]`` holding the
        robust correctness, attacked count and time at ``epsilons[i]``.
    """
    bounds = check_bounds(bounds)
    attack = as_attack(attack)
    norm = getattr(attack, "norm", "linf")
    epsilons = [check_epsilon(e, bounds, norm=norm, name="epsilon") for e in np.atleast_1d(epsilons).tolist()]
    if not epsilons:
        raise ValueError("epsilons is empty; give at least one eps, e.g. [0, 0.1, 0.3].")
    batch_size = int(check_positive(batch_size, "batch_size", integer=True))
    if not isinstance(early_stop, bool):
        raise TypeError(f"early_stop must be True or False, got {early_stop!r}.")
    shards = EvaluationShards(strategy)
    progress = _Progress(progress, _known_size(x), getattr(attack, "label", str(attack)), epsilons)
    logits_model: LogitsModel | None = None
    sizes: List[int] = []
    offset = 0  # position of the batch in the data, for error messages and the results
    for index, (xb, yb) in enumerate(iterate_batches(x, y, batch_size)):
        xb = check_images(xb, bounds)
        if logits_model is None:
            logits_model = as_logits_model(model, xb)
        yb = check_labels(yb, logits_model.num_classes, int(xb.shape[0]))
        if shards.owns(index):
            work = functools.partial(_evaluate_batch, logits_model, attack, xb, yb, epsilons=epsilons,
                                     early_stop=early_stop, bounds=bounds, offset=offset)
            shards.submit(index, progress.wrap(work) if progress.active else work)
        sizes.append(int(xb.shape[0]))
        offset += sizes[-1]
    if logits_model is None:
        raise ValueError("The dataset yielded no batches; nothing to evaluate.")
    clean, robust, attacked, seconds = _combine(shards, shards.finish(), sizes, len(epsilons))
    outcomes = [_EpsOutcome([robust[i]], int(attacked[i]), float(seconds[i])) for i in range(len(epsilons))]
    return logits_model, attack, epsilons, clean, outcomes


def _evaluate_batch(logits_model, attack, xb, yb, *, epsilons, early_stop, bounds, offset):
    """Clean correctness and, per eps, robust correctness, attacked count and seconds of one batch."""
    labels = yb.numpy().astype(np.int64)
    clean = predict_labels(logits_model, xb, "on the clean images", offset + np.arange(len(labels))) == labels
    robust_per_eps, attacked, seconds = [], [], []
    for eps in epsilons:
        start = time.perf_counter()
        robust = clean.copy()
        idx = np.flatnonzero(clean) if early_stop else np.arange(len(labels))
        if eps > 0 and idx.size:
            x_att, y_att = tf.gather(xb, idx), tf.gather(yb, idx)
            x_adv = attack(logits_model, x_att, y_att, eps=eps, bounds=bounds, early_stop=early_stop)
            x_adv = tf.convert_to_tensor(x_adv, tf.float32)
            check_finite(x_adv, f"The adversarial images of {attack.label}", f"at eps={eps}", offset + idx)
            _check_inside_ball(attack, x_att, x_adv, eps, bounds)
            robust[idx] &= predict_labels(logits_model, x_adv, f"after {attack.label} at eps={eps}",
                                          offset + idx) == labels[idx]
        robust_per_eps.append(robust)
        attacked.append(int(idx.size) if eps > 0 else 0)
        seconds.append(time.perf_counter() - start)
    return clean, robust_per_eps, attacked, seconds


def _combine(shards: EvaluationShards, results, sizes: List[int], num_eps: int):
    """Per-example arrays over the whole data from this worker's batches, summed over workers as counts."""
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    n = int(starts[-1])
    clean = np.zeros(n, np.int8)
    robust = np.zeros((num_eps, n), np.int8)
    attacked, seconds = np.zeros(num_eps), np.zeros(num_eps)
    for index, (batch_clean, batch_robust, batch_attacked, batch_seconds) in results.items():
        rows = slice(starts[index], starts[index + 1])
        clean[rows] = batch_clean
        robust[:, rows] = np.stack(batch_robust)
        attacked += batch_attacked
        seconds += batch_seconds
    if shards.num_workers > 1:
        total = shards.all_reduce_sum(np.concatenate([clean, robust.reshape(-1), attacked, seconds]))
        clean, robust = total[:n], total[n:n + num_eps * n].reshape(num_eps, n)
        attacked, seconds = total[n + num_eps * n:n + num_eps * n + num_eps], total[n + num_eps * n + num_eps:]
    return clean.astype(bool), robust.astype(bool), attacked, seconds


def model_name(model) -> str:
    """The model's ``name`` attribute when it has one (unwrapping a LogitsModel), else ""."""
    inner = model.model if isinstance(model, LogitsModel) else model
    name = getattr(inner, "name", "")
    return name if isinstance(name, str) else ""


def robust_accuracy(model: Callable, x, y=None, *, attack, eps: float, batch_size: int = 256,
                    early_stop: bool = True, bounds: Sequence[float] = (0.0, 1.0),
                    per_example: bool = False, strategy=None, progress=False) -> RobustAccuracyResult:
    """Robust accuracy of ``model`` under ``attack`` at ``eps`` (Madry et al. 2017; Croce & Hein 2020).

    Args:
        model: any callable images -> logits (a softmax output is detected and attacked on
            log-probabilities, see ``tfrobust.logits``).
        x: images in ``bounds`` (numpy, tensor), or a ``tf.data.Dataset`` of (x, y) batches.
        y: labels, sparse or one-hot; ``None`` when ``x`` is a Dataset.
        attack: an ``Attack``, a spec string such as ``"pgd:steps=40"``, a dict, or a function
            ``fn(model, x, y, *, eps, bounds)`` returning adversarial images.
        eps: perturbation size in pixel units; at 0 the robust accuracy is the clean accuracy.
        batch_size: examples per attack call.
        early_stop: attack only examples that are still classified correctly (same number, less work).
        bounds: (low, high) of valid pixel values.
        per_example: keep per-example clean and robust correctness in the result.
        strategy: a ``tf.distribute`` strategy whose replicas and workers share the attack batches
            (``tfrobust.evaluation.sharding``); the numbers equal the single-device ones example for example.
        progress: True shows a Keras progress bar (examples, running accuracies, ETA) when stdout is a
            terminal; a callable ``progress(done, total, accuracies)`` gets the numbers after each batch.

    Returns:
        A ``RobustAccuracyResult``.

    Raises:
        ValueError, TypeError: bad images, labels, eps, batch size, attack, or an attack whose
            output leaves the eps-ball or the bounds.
    """
    logits_model, attack, (eps,), clean, (outcome,) = evaluate_epsilons(
        model, x, y, attack=attack, epsilons=[eps], batch_size=batch_size, early_stop=early_stop, bounds=bounds,
        strategy=strategy, progress=progress)
    robust = np.concatenate(outcome.robust_correct)
    return RobustAccuracyResult(
        attack=attack.label, attack_config={"name": attack.name, **attack.resolve(eps)}, eps=eps, n=int(clean.size),
        clean_accuracy=float(clean.mean()), robust_accuracy=float(robust.mean()), early_stop=early_stop,
        n_attacked=outcome.n_attacked, seconds=outcome.seconds, model_name=model_name(model),
        clean_correct=clean if per_example else None, robust_correct=robust if per_example else None)
