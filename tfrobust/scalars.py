"""Checks of plain numbers that need no TensorFlow.

``tfrobust.validation`` re-exports them; the study settings (``tfrobust.studies.config``) import them from here,
so that a script's ``--help`` builds its presets and answers without importing TensorFlow.
"""
from __future__ import annotations

import math
from numbers import Real

import numpy as np


def check_positive(value, name: str, integer: bool = False) -> float:
    """Checks a strictly positive finite number (an int when ``integer``)."""
    if integer:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, got {value!r}.")
        if value <= 0:
            raise ValueError(f"{name} must be > 0, got {value}.")
        return int(value)
    if isinstance(value, bool) or not isinstance(value, (Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number, got {value!r}.")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}.")
    return value
