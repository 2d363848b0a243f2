"""Verdicts: a measured change of robustness (or clean accuracy) put into the seeds' direction vocabulary.

The seeds state their findings as directions ("higher sparsity lowers robustness"); ``tfrobust.studies.published``
keeps them with one of the words below, and every study judges its own measurement with
``robustness_direction`` into the same words, so the two can stand side by side in a table.
"""
from __future__ import annotations

from typing import Optional

MORE_ROBUST = "more robust"
LESS_ROBUST = "less robust"
NO_CLEAR_EFFECT = "no clear effect"
APPARENT_ROBUSTNESS = "apparent robustness"
LOWER_CLEAN = "lower clean accuracy"
UNCHANGED_CLEAN = "unchanged clean accuracy"
NOT_COMPARABLE = "not comparable (clean accuracy collapsed)"


def robustness_direction(baseline: float, variant: float, *, tolerance: float = 0.02,
                         higher_is_robust: bool = True, baseline_clean: Optional[float] = None,
                         variant_clean: Optional[float] = None, max_clean_loss: float = 0.25) -> str:
    """Classifies a measured change of robustness into the shared direction vocabulary.

    A model that lost most of its clean accuracy (e.g. a collapsed training that predicts one class)
    keeps its few correct answers under any attack; calling it "more robust" would be wrong, so with
    both clean accuracies given such a comparison is refused.

    Args:
        baseline: the reference model's robustness number (e.g. accuracy under attack, or drop).
        variant: the studied model's number.
        tolerance: changes smaller than this count as ``"no clear effect"``.
        higher_is_robust: True for accuracies, False for drops (smaller drop = more robust).
        baseline_clean, variant_clean: clean accuracies of the two models (optional).
        max_clean_loss: largest clean-accuracy loss for which the comparison is still made.

    Returns:
        ``MORE_ROBUST``, ``LESS_ROBUST``, ``NO_CLEAR_EFFECT`` or ``NOT_COMPARABLE``.

    Raises:
        ValueError: a negative tolerance.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}.")
    if baseline_clean is not None and variant_clean is not None and variant_clean < baseline_clean - max_clean_loss:
        return NOT_COMPARABLE
    gain = (variant - baseline) if higher_is_robust else (baseline - variant)
    if gain > tolerance:
        return MORE_ROBUST
    if gain < -tolerance:
        return LESS_ROBUST
    return NO_CLEAR_EFFECT


def clean_direction(baseline_clean: float, variant_clean: float, *, tolerance: float = 0.02) -> str:
    """``LOWER_CLEAN`` when the variant lost more than ``tolerance`` clean accuracy, else ``UNCHANGED_CLEAN``."""
    return LOWER_CLEAN if variant_clean < baseline_clean - tolerance else UNCHANGED_CLEAN
