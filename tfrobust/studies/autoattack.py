"""AutoAttack beside a study's own attacks: one call per trained model, on the first examples of the eval split.

Seed studies report their PGD columns and, beside them, ``autoattack`` (Croce & Hein 2020), the field's standard
evaluation; ``--autoattack`` (``AutoAttackSettings``) chooses the budget and '' skips it.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from tfrobust.evaluation import robust_accuracy


def autoattack_accuracy(model, x, y, config, *, eps: Optional[float] = None) -> Optional[Dict[str, Any]]:
    """AutoAttack robust accuracy of ``model`` at ``eps`` (default ``config.eps``) on ``config.autoattack_size``
    examples, or None when the study skips AutoAttack.

    Returns:
        {"robust_accuracy", "clean_accuracy", "n", "label"}.
    """
    spec = config.autoattack_spec()
    if spec is None:
        return None
    n = min(config.autoattack_size, len(x))
    result = robust_accuracy(model, x[:n], y[:n], attack=spec, eps=config.eps if eps is None else eps)
    return {"robust_accuracy": result.robust_accuracy, "clean_accuracy": result.clean_accuracy, "n": n,
            "label": spec.label}


def autoattack_cell(entry: Dict[str, Any], key: str = "autoattack"):
    """The table cell of an entry's AutoAttack accuracy ("" when it was skipped)."""
    value = entry.get(key)
    return "" if value is None else value["robust_accuracy"]
