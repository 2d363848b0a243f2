"""What every attack returns besides the adversarial images: one info dict shape, one minimal-norm result.

Fixed-eps attacks (``attack(model, x, y, *, eps, ..., return_info=True)``) return ``(x_adv, info)`` with
``info = attack_info(...)``: the same keys for every attack, so evaluation code never special-cases one.
Minimal-perturbation attacks return a ``MinimalPerturbation``: per example the smallest perturbation they
found and its norm, from which a whole accuracy-vs-eps curve follows without re-running the attack.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional

import numpy as np
import tensorflow as tf

from tfrobust.attacks.norms import perturbation_norm

#: The keys of every fixed-eps attack's info dict, in order.
INFO_KEYS = ("success", "loss", "perturbation_norm", "example_steps", "forward_passes", "extra")


def attack_info(*, success, loss, x, x_adv, norm: str, example_steps: int = 0, forward_passes: int = 0,
                extra: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The info dict of a fixed-eps attack.

    Args:
        success: per example, whether the attack succeeded at ``x_adv`` (untargeted: the prediction left
            the label; targeted: it reached the target).
        loss: per example, the attack's loss at ``x_adv`` (``None`` for an attack without one: NaN).
        x: the clean images.
        x_adv: the returned adversarial images.
        norm: the threat model's norm, for ``perturbation_norm``.
        example_steps: forward+backward example evaluations spent (gradient queries).
        forward_passes: forward-only example evaluations spent (the queries of a black-box attack).
        extra: attack-specific details.

    Returns:
        A dict with the keys ``INFO_KEYS``: "success" (bool (N,)), "loss" (float32 (N,)),
        "perturbation_norm" (float32 (N,)), "example_steps" (int), "forward_passes" (int), "extra" (dict).
    """
    success = np.asarray(success, dtype=bool).reshape(-1)
    if loss is None:
        loss = np.full(success.shape, np.nan, np.float32)
    delta = tf.convert_to_tensor(x_adv, tf.float32) - tf.convert_to_tensor(x, tf.float32)
    return {
        "success": success,
        "loss": np.asarray(loss, dtype=np.float32).reshape(-1),
        "perturbation_norm": perturbation_norm(delta, norm).numpy().astype(np.float32),
        "example_steps": int(example_steps),
        "forward_passes": int(forward_passes),
        "extra": dict(extra or {}),
    }


@dataclasses.dataclass(frozen=True)
class MinimalPerturbation:
    """Result of a minimal-perturbation attack (optimisation attack, minimal-eps FGSM, CW, DeepFool, FAB).

    Attributes:
        x_adv: float32 tensor like x: per example the smallest successful adversarial example found, or x
            itself where the attack failed.
        norms: float64 (N,): the perturbation norm of ``x_adv`` where the attack succeeded; 0.0 where x is
            already misclassified (untargeted) or already the target (targeted); ``np.inf`` where it failed.
        success: bool (N,): the attack found an adversarial example (``np.isfinite(norms)``).
        norm: the norm the sizes are measured in ("linf" or "l2").
        info: attack-specific details (e.g. the constant c per example).
    """

    x_adv: tf.Tensor
    norms: np.ndarray
    success: np.ndarray
    norm: str = "l2"
    info: Dict[str, Any] = dataclasses.field(default_factory=dict)

    def accuracy_at(self, eps: float, clean_correct: Optional[np.ndarray] = None) -> float:
        """Robust accuracy at ``eps`` read off the norms: the share of examples whose minimal norm exceeds eps.

        An example with norm 0 (already misclassified) is never robust; ``clean_correct``, when given, is
        and-ed in as well.
        """
        robust = self.norms > float(eps)
        if clean_correct is not None:
            robust &= np.asarray(clean_correct, dtype=bool)
        return float(robust.mean())

    def within(self, eps: float) -> np.ndarray:
        """Per example: the attack found an adversarial example of norm at most ``eps``."""
        return self.norms <= float(eps)


def measure_outcome(inputs, x_adv, *, loss: str, targeted: bool, batch_size=None):
    """Per-example attack loss and success at ``x_adv``, by one forward pass per chunk.

    Args:
        inputs: the attack's ``AttackInputs`` (model, clean x, labels).
        x_adv: the adversarial images.
        loss: the attack loss name.
        targeted: whether labels are targets.
        batch_size: chunk size (None: the ``chunks`` default).

    Returns:
        (loss float32 (N,), success bool (N,)) as numpy arrays.
    """
    from tfrobust.attacks import _compiled
    from tfrobust.attacks._inputs import chunks

    evaluate = _compiled.evaluate(inputs.model, loss, targeted)
    losses, success = [], []
    for part in chunks(int(inputs.x.shape[0]), batch_size):
        labels = inputs.labels[part]
        source = _compiled.source_labels(inputs.model, inputs.x[part], labels, loss, targeted)
        part_loss, logits = evaluate(x_adv[part], labels, source)
        losses.append(part_loss.numpy())
        success.append(_compiled.attack_succeeded(logits, labels, targeted).numpy())
    return np.concatenate(losses), np.concatenate(success)
