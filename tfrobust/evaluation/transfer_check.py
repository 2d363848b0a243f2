"""A gradient-masking check: transfer from a substitute is stronger than the white-box attack.

Athalye, Carlini & Wagner (2018) and Carlini et al. (2019, "On evaluating adversarial robustness") list it
among the signs of masked gradients: if adversarial examples crafted on *another* model (a substitute trained
by label queries, ``tfrobust.attacks.transfer``, or a standard model of the same task) fool the defended
model more often than a white-box attack on the defended model itself, the white-box attack was not
finding the examples that exist, and its robust accuracy overstates the robustness. Seed 003 makes the same
point for defensive distillation: its gradients vanish, yet examples transferred from a substitute still work.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Sequence

import numpy as np
import tensorflow as tf

from tfrobust.attacks.spec import as_attack
from tfrobust.logits import as_logits_model

DEFAULT_MARGIN = 0.02  # accuracy points by which transfer must beat white-box to flag masking


def _accuracy(model, x, y) -> float:
    logits_model = as_logits_model(model, x[:1])
    return float(np.mean(np.argmax(np.asarray(logits_model(x)), axis=1) == y))


def substitute_transfer_check(model: Callable, substitute: Callable, x, y, *, eps: float, attack="pgd",
                              bounds: Sequence[float] = (0.0, 1.0), margin: float = DEFAULT_MARGIN) -> Dict[str, Any]:
    """Runs ``attack`` white-box on ``model`` and on ``substitute`` (transferred to ``model``) and compares.

    Args:
        model: the defended model.
        substitute: the model the transfer examples are crafted on.
        x, y: images and true labels.
        eps: perturbation size.
        attack: a registered attack, spec string or ``Attack`` (e.g. "mifgsm" for stronger transfer).
        bounds: pixel range.
        margin: how many accuracy points lower the transfer accuracy must be to flag masking.

    Returns:
        dict with "white_box_accuracy", "transfer_accuracy", "fired" (transfer < white-box - margin) and
        "message".
    """
    spec = as_attack(attack)
    x = tf.convert_to_tensor(x, tf.float32)
    y = np.asarray(y).reshape(-1)
    white_box = _accuracy(model, spec(model, x, y, eps=eps, bounds=bounds), y)
    transfer = _accuracy(model, spec(substitute, x, y, eps=eps, bounds=bounds), y)
    fired = transfer < white_box - float(margin)
    message = (f"transfer from a substitute ({transfer:.1%}) is stronger than white-box {spec.label} "
               f"({white_box:.1%}): the white-box gradients are likely masked" if fired else "")
    return {"white_box_accuracy": white_box, "transfer_accuracy": transfer, "fired": bool(fired), "message": message}
