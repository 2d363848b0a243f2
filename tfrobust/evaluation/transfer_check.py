"""Transfer evaluation: the masking check "transfer from a substitute stronger than white-box", and the
transfer-rate matrix across models.

**The masking check.** Athalye, Carlini & Wagner (2018, Sec. 3) and Carlini et al. (2019, "On evaluating
adversarial robustness", Sec. 5) list it among the signs of masked gradients: if adversarial examples crafted on
*another* model (a substitute trained by label queries, ``tfrobust.attacks.transfer``, or a standard model of the
same task) fool the defended model more often than a white-box attack on the defended model itself, the
white-box attack was not finding the examples that exist, and its robust accuracy overstates the robustness.
Seed 003 makes the same point for defensive distillation: its gradients vanish, yet examples transferred from a
substitute still work (Papernot et al. 2017, "Practical black-box attacks", Sec. 6). With ``ok_white`` the
per-example "robust to every white-box attack" and ``ok_transfer`` "still correct on the transferred example",
the check fires when

    mean(ok_transfer) < mean(ok_white) - tolerance      or      mean(ok_white & ~ok_transfer) > tolerance,

i.e. the transferred examples reach a lower accuracy, or fool examples that every white-box attack failed on
(the same rule as AutoAttack's black-box check; Croce & Hein 2020, Sec. 5). ``masking_report(substitute=...)``
runs it beside its other checks; ``substitute_transfer_check`` runs it alone against one white-box attack.

**The transfer matrix.** For models M_1..M_k, examples are crafted white-box on M_i and classified by M_j:

    accuracy[i, j] = mean_n 1[M_j(x_adv^i_n) = y_n]
    fooling_rate[i, j] = mean over {n : M_j(x_n) = y_n} of 1[M_j(x_adv^i_n) != y_n]

The diagonal is the white-box attack; off-diagonal entries are transfer (Papernot, McDaniel & Goodfellow 2016,
"Transferability in machine learning", Fig. 3; Dong et al. 2018, Table 1, for MI-FGSM against I-FGSM).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, List, Mapping, Sequence

import numpy as np
import tensorflow as tf

from tfrobust.attacks.spec import as_attack
from tfrobust.attacks.transfer import transfer_pgd
from tfrobust.evaluation.robust_accuracy import predict_labels
from tfrobust.io import to_jsonable
from tfrobust.logits import as_logits_model
from tfrobust.validation import check_bounds, check_epsilon, check_images, check_labels

DEFAULT_MARGIN = 0.02  # accuracy points by which transfer must beat white-box to flag masking
CHECK_NAME = "transfer_stronger_than_white_box"


def _predict(model: Callable, x: tf.Tensor, batch_size: int, where: str) -> np.ndarray:
    logits_model = as_logits_model(model, x[:1])
    return np.concatenate([predict_labels(logits_model, x[start:start + batch_size], where=where)
                           for start in range(0, int(x.shape[0]), batch_size)])


def _craft(source: Callable, x: tf.Tensor, y: np.ndarray, *, attack, eps: float, bounds, batch_size: int):
    return tf.concat([tf.convert_to_tensor(attack(source, x[start:start + batch_size], y[start:start + batch_size],
                                                  eps=eps, bounds=bounds), tf.float32)
                      for start in range(0, int(x.shape[0]), batch_size)], axis=0)


def transfer_measurements(model: Callable, substitute: Callable, x, y, *, eps: float, white_box_ok,
                          attack="pgd", bounds: Sequence[float] = (0.0, 1.0),
                          batch_size: int = 256) -> Dict[str, Any]:
    """Crafts ``attack`` on ``substitute`` and measures the numbers of the check on ``model``.

    Args:
        model: the defended model (only its predictions are used).
        substitute: the model the examples are crafted on (a Keras model or any callable images -> logits).
        x, y: images (already in ``bounds``) and sparse labels.
        eps: perturbation size (pixel units).
        white_box_ok: per example, True when it survived every white-box attack on ``model``.
        attack: a registered attack, spec string or ``Attack``, run with the true labels on the substitute.
        bounds: pixel range.
        batch_size: examples per attack call.

    Returns:
        {"attack" (its label), "substitute_accuracy" (clean), "substitute_adversarial_accuracy",
        "transfer_accuracy", "white_box_accuracy", "transfer_only_fooled_share"}.
    """
    spec = as_attack(attack)
    x = tf.convert_to_tensor(x, tf.float32)
    y = np.asarray(y).reshape(-1).astype(np.int64)
    white_box_ok = np.asarray(white_box_ok, bool).reshape(-1)
    if white_box_ok.shape != y.shape:
        raise ValueError(f"white_box_ok has {white_box_ok.size} entries for {y.size} examples; give one per example.")
    x_adv = _craft(substitute, x, y, attack=spec, eps=eps, bounds=bounds, batch_size=batch_size)
    transfer_ok = _predict(model, x_adv, batch_size, "the model on transferred examples") == y
    return {"attack": spec.label,
            "substitute_accuracy": float(np.mean(_predict(substitute, x, batch_size, "the substitute") == y)),
            "substitute_adversarial_accuracy": float(np.mean(
                _predict(substitute, x_adv, batch_size, "the substitute on its own examples") == y)),
            "transfer_accuracy": float(transfer_ok.mean()), "white_box_accuracy": float(white_box_ok.mean()),
            "transfer_only_fooled_share": float(np.mean(white_box_ok & ~transfer_ok))}


def transfer_fires(measured: Mapping[str, Any], tolerance: float) -> bool:
    """The check's rule (module docstring) on ``transfer_measurements``' numbers."""
    return bool(measured["transfer_accuracy"] < measured["white_box_accuracy"] - tolerance
                or measured["transfer_only_fooled_share"] > tolerance)


def transfer_finding(measured: Mapping[str, Any], eps: float) -> str:
    """The sentence of a fired check: its name, the numbers and what to do."""
    return (f"Transfer from a substitute stronger than white-box: {measured['attack']} crafted on the substitute "
            f"(clean accuracy {measured['substitute_accuracy']:.3f}) leaves the model accuracy "
            f"{measured['transfer_accuracy']:.3f} at eps={eps:g} versus {measured['white_box_accuracy']:.3f} under the "
            f"best white-box attack, and fools {measured['transfer_only_fooled_share']:.1%} of the examples every "
            f"white-box attack failed on. The white-box gradients are masked; report the transfer (black-box) "
            f"numbers, or attack with BPDA / EOT / gradient-free attacks.")


def substitute_transfer_check(model: Callable, substitute: Callable, x, y, *, eps: float, attack="pgd",
                              substitute_attack=None, bounds: Sequence[float] = (0.0, 1.0),
                              margin: float = DEFAULT_MARGIN, batch_size: int = 256) -> Dict[str, Any]:
    """Runs ``attack`` white-box on ``model``, ``substitute_attack`` on ``substitute`` (transferred), and compares.

    Args:
        model: the defended model.
        substitute: the model the transfer examples are crafted on.
        x, y: images and true labels.
        eps: perturbation size.
        attack: the white-box attack on ``model``: a registered attack, spec string or ``Attack``.
        substitute_attack: the attack crafted on ``substitute``; default PGD's last iterate with ``attack``'s
            steps (``tfrobust.attacks.transfer.transfer_pgd``: ``pgd`` returns the first iterate that fools the
            substitute, which rarely transfers); "mifgsm" is the other strong choice.
        bounds: pixel range.
        margin: the check's tolerance (accuracy points, and share of examples only the transfer fools).
        batch_size: examples per attack call.

    Returns:
        ``transfer_measurements``' dict plus "fired" (the rule of the module docstring) and "message".
    """
    spec = as_attack(attack)
    bounds = check_bounds(bounds)
    x = check_images(x, bounds)
    y = np.asarray(y).reshape(-1).astype(np.int64)
    x_white = _craft(model, x, y, attack=spec, eps=eps, bounds=bounds, batch_size=batch_size)
    white_ok = _predict(model, x_white, batch_size, "the model on white-box examples") == y
    if substitute_attack is None:
        substitute_attack = transfer_pgd(eps, steps=int(getattr(spec, "setting", lambda _: None)("steps") or 20))
    measured = transfer_measurements(model, substitute, x, y, eps=eps, white_box_ok=white_ok,
                                     attack=substitute_attack, bounds=bounds, batch_size=batch_size)
    fired = transfer_fires(measured, float(margin))
    return {**measured, "fired": fired, "message": transfer_finding(measured, eps) if fired else ""}


@dataclasses.dataclass
class TransferMatrix:
    """Examples crafted on each source model, classified by each target model (module docstring).

    Attributes:
        sources, targets: model names, rows and columns.
        attack: the attack's label; eps: its size.
        accuracy: (sources x targets) accuracy of the target on the source's examples.
        fooling_rate: (sources x targets) share of the target's clean-correct examples the source's examples fool.
        clean_accuracy: per target, its clean accuracy.
    """

    sources: List[str]
    targets: List[str]
    attack: str
    eps: float
    accuracy: np.ndarray
    fooling_rate: np.ndarray
    clean_accuracy: List[float]

    def to_dict(self) -> Dict[str, Any]:
        return to_jsonable({"sources": self.sources, "targets": self.targets, "attack": self.attack, "eps": self.eps,
                            "accuracy": self.accuracy.tolist(), "fooling_rate": self.fooling_rate.tolist(),
                            "clean_accuracy": self.clean_accuracy})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TransferMatrix":
        return cls(list(data["sources"]), list(data["targets"]), data["attack"], float(data["eps"]),
                   np.asarray(data["accuracy"], float), np.asarray(data["fooling_rate"], float),
                   [float(v) for v in data["clean_accuracy"]])

    def mean_off_diagonal(self, values: str = "fooling_rate") -> float:
        """Mean over the pairs of different models (sources and targets matched by name) of ``values``."""
        table = getattr(self, values)
        cells = [table[i, j] for i, s in enumerate(self.sources) for j, t in enumerate(self.targets) if s != t]
        return float(np.mean(cells)) if cells else float("nan")


def transfer_matrix(models: Mapping[str, Callable], x, y, *, attack, eps: float,
                    targets: Mapping[str, Callable] | None = None, bounds: Sequence[float] = (0.0, 1.0),
                    batch_size: int = 256) -> TransferMatrix:
    """The transfer matrix of ``attack`` at ``eps``: crafted on each of ``models``, classified by each target.

    Args:
        models: name -> source model (callable images -> logits).
        x, y: images in ``bounds`` and true labels.
        attack: a registered attack, spec string or ``Attack``.
        eps: perturbation size.
        targets: name -> target model; default ``models`` (a square matrix whose diagonal is white-box).
        bounds: pixel range.
        batch_size: examples per attack call.

    Returns:
        A ``TransferMatrix``.

    Raises:
        ValueError: no models, bad images, labels or eps.
    """
    if not models:
        raise ValueError("transfer_matrix needs at least one source model, got none.")
    targets = dict(models if targets is None else targets)
    bounds = check_bounds(bounds)
    eps = check_epsilon(eps, bounds)
    spec = as_attack(attack)
    x = check_images(x, bounds)
    num_classes = as_logits_model(next(iter(models.values())), x[:1]).num_classes
    y = np.asarray(check_labels(y, num_classes, int(x.shape[0]))).astype(np.int64)
    clean_ok = {name: _predict(model, x, batch_size, f"target {name}") == y for name, model in targets.items()}
    accuracy = np.zeros((len(models), len(targets)))
    fooling = np.zeros_like(accuracy)
    for i, source in enumerate(models.values()):
        x_adv = _craft(source, x, y, attack=spec, eps=eps, bounds=bounds, batch_size=batch_size)
        for j, (name, target) in enumerate(targets.items()):
            ok = _predict(target, x_adv, batch_size, f"target {name}") == y
            accuracy[i, j] = ok.mean()
            fooling[i, j] = np.mean(~ok[clean_ok[name]]) if clean_ok[name].any() else np.nan
    return TransferMatrix(list(models), list(targets), spec.label, float(eps), accuracy, fooling,
                          [float(ok.mean()) for ok in clean_ok.values()])
