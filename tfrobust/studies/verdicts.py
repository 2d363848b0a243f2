"""Verdicts: a measured change of robustness (or clean accuracy) put into the seeds' direction vocabulary.

The seeds state their findings as directions ("higher sparsity lowers robustness"); ``tfrobust.studies.published``
keeps them with one of the words below, and every study judges its own measurement with
``robustness_direction`` into the same words, so the two can stand side by side in a table.

One training run cannot tell a direction from seed-to-seed noise, so the studies train every entry once per
seed (``--seeds``) and judge with ``seed_direction``: a direction is called only when Welch's t-test over the
seeds (``welch_test``, two-sided, p < 0.05; ``SEED_TEST`` names it in every table) rejects equal means, and
"no clear effect" is the outcome otherwise. ``relative_robustness`` (robust / clean accuracy) compares models
at matched clean accuracy, beside the drop(ε) that falls whenever clean accuracy falls.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Sequence, Tuple

import numpy as np

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


# ----------------------------------------------------------------------------------------- over seeds
#: The test behind every verdict over seeds, named in every table that shows one.
SEED_TEST = "Welch's t-test over seeds, two-sided, p < 0.05"


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (ddof = 1; 0 for one value) of one number over seeds.

    Raises:
        ValueError: no values.
    """
    array = np.asarray(list(values), dtype=np.float64)
    if array.size == 0:
        raise ValueError("mean_std needs at least one value (one per seed).")
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else 0.0


def format_mean_std(values: Sequence[float], digits: int = 3) -> str:
    """``"0.812 ± 0.011 (n=3)"``: mean ± sample std over seeds (just the number for one seed)."""
    mean, std = mean_std(values)
    n = len(list(values))
    return f"{mean:.{digits}f}" if n == 1 else f"{mean:.{digits}f} ± {std:.{digits}f} (n={n})"


@dataclasses.dataclass(frozen=True)
class SeedComparison:
    """Welch's t-test of a variant's number against the baseline's, both measured once per seed.

    Attributes:
        difference: mean(variant) - mean(baseline).
        p_value: two-sided p-value (NaN when a side has fewer than two seeds: no spread, no test).
        n_baseline, n_variant: seeds on each side.
        significant: ``p_value < alpha``.
    """

    difference: float
    p_value: float
    n_baseline: int
    n_variant: int
    significant: bool


def welch_test(baseline: Sequence[float], variant: Sequence[float], *, alpha: float = 0.05) -> SeedComparison:
    """Welch's unequal-variance t-test (Welch 1947) of ``variant`` against ``baseline``.

    t = (m_v - m_b) / sqrt(s_v²/n_v + s_b²/n_b) with sample variances s², Welch-Satterthwaite degrees of freedom
    ν = (s_v²/n_v + s_b²/n_b)² / ((s_v²/n_v)²/(n_v-1) + (s_b²/n_b)²/(n_b-1)), p = 2 P(T_ν > |t|)
    (``scipy.stats.ttest_ind(equal_var=False)``). With zero spread on both sides a non-zero difference has
    p = 0 and no difference p = 1; with fewer than two seeds on a side there is no spread to compare with, so
    p is NaN and the difference is never significant.

    Raises:
        ValueError: ``alpha`` outside (0, 1) or an empty side.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}.")
    b, v = (np.asarray(list(s), dtype=np.float64) for s in (baseline, variant))
    if b.size == 0 or v.size == 0:
        raise ValueError("welch_test needs at least one value on each side.")
    difference = float(v.mean() - b.mean())
    if b.size < 2 or v.size < 2:
        p = float("nan")
    elif b.std(ddof=1) == 0.0 and v.std(ddof=1) == 0.0:
        p = 1.0 if difference == 0.0 else 0.0
    else:
        from scipy import stats

        p = float(stats.ttest_ind(v, b, equal_var=False).pvalue)
    return SeedComparison(difference, p, int(b.size), int(v.size), bool(np.isfinite(p) and p < alpha))


def seed_direction(baseline: Sequence[float], variant: Sequence[float], *, higher_is_robust: bool = True,
                   baseline_clean: Optional[Sequence[float]] = None, variant_clean: Optional[Sequence[float]] = None,
                   max_clean_loss: float = 0.25, alpha: float = 0.05, tolerance: float = 0.0) -> str:
    """``robustness_direction`` over seeds: a direction only when Welch's test says it exceeds the seed spread.

    Args:
        baseline, variant: the robustness number of each model, one value per seed.
        higher_is_robust: True for accuracies, False for drops.
        baseline_clean, variant_clean: clean accuracies per seed (optional; refuse a collapsed variant).
        max_clean_loss: largest loss of mean clean accuracy for which the comparison is made.
        alpha: significance level of ``welch_test``.
        tolerance: a significant difference smaller than this still counts as no clear effect.

    Returns:
        ``MORE_ROBUST``, ``LESS_ROBUST``, ``NO_CLEAR_EFFECT`` or ``NOT_COMPARABLE``.
    """
    if baseline_clean is not None and variant_clean is not None and \
            mean_std(variant_clean)[0] < mean_std(baseline_clean)[0] - max_clean_loss:
        return NOT_COMPARABLE
    test = welch_test(baseline, variant, alpha=alpha)
    gain = test.difference if higher_is_robust else -test.difference
    if not test.significant or abs(gain) <= tolerance:
        return NO_CLEAR_EFFECT
    return MORE_ROBUST if gain > 0 else LESS_ROBUST


def seed_clean_direction(baseline_clean: Sequence[float], variant_clean: Sequence[float], *,
                         alpha: float = 0.05) -> str:
    """``LOWER_CLEAN`` when the variant's clean accuracy is lower by Welch's test over seeds, else unchanged."""
    test = welch_test(baseline_clean, variant_clean, alpha=alpha)
    return LOWER_CLEAN if test.significant and test.difference < 0 else UNCHANGED_CLEAN


def relative_robustness(robust_accuracy: float, clean_accuracy: float) -> float:
    """Robust accuracy relative to clean accuracy (robustness at matched clean accuracy; 0 when clean is 0).

    A model that loses clean accuracy also loses drop(ε) = clean - robust without being any harder to attack;
    robust / clean compares the fraction of correctly classified examples the attack leaves correct.
    """
    return float(robust_accuracy) / float(clean_accuracy) if clean_accuracy > 0 else 0.0


def seed_verdict(baseline: Sequence[float], variant: Sequence[float], **direction) -> dict:
    """``seed_direction`` with what stands behind it, for a results.json verdict and a table row.

    Args:
        baseline, variant: the robustness number of each model, one value per seed.
        **direction: ``seed_direction``'s keyword arguments (``higher_is_robust``, the clean accuracies, ...).

    Returns:
        ``{"ours": direction, "baseline": "m ± s (n=k)", "variant": ..., "difference", "p" (None with one seed),
        "test": SEED_TEST}``.
    """
    test = welch_test(baseline, variant, alpha=direction.get("alpha", 0.05))
    return {"ours": seed_direction(baseline, variant, **direction), "baseline": format_mean_std(baseline),
            "variant": format_mean_std(variant), "difference": test.difference,
            "p": float(test.p_value) if np.isfinite(test.p_value) else None, "test": SEED_TEST}


def verdict_cell(verdict: dict) -> str:
    """``"more robust (0.61 ± 0.02 (n=3) vs 0.52 ± 0.01 (n=3), p=0.003)"``: a ``seed_verdict`` in one cell."""
    p = "no test (one seed)" if verdict.get("p") is None else f"p={verdict['p']:.3g}"
    return f"{verdict['ours']} ({verdict['variant']} vs {verdict['baseline']}, {p})"


def spearman_rho(ours: dict, theirs: dict) -> dict:
    """Spearman's rank correlation of two rankings of the same names (e.g. activations by robust accuracy).

    ρ = 1 - 6 Σ d_i² / (n (n² - 1)) without ties (d_i: the difference of name i's ranks); with ties, Pearson's
    correlation of the average ranks (``scipy.stats.spearmanr``). Only names present in both are ranked.

    Args:
        ours, theirs: name -> number (higher = ranked first).

    Returns:
        ``{"rho", "p" (two-sided; None below 3 names), "n", "names"}``; rho is None below 2 names or when a side
        is constant.
    """
    names = [name for name in ours if name in theirs and ours[name] is not None and theirs[name] is not None]
    if len(names) < 2:
        return {"rho": None, "p": None, "n": len(names), "names": names}
    a = np.asarray([ours[n] for n in names], np.float64)
    b = np.asarray([theirs[n] for n in names], np.float64)
    if np.all(a == a[0]) or np.all(b == b[0]):
        return {"rho": None, "p": None, "n": len(names), "names": names}
    from scipy import stats

    rho, p = stats.spearmanr(a, b)
    return {"rho": float(rho), "p": float(p) if len(names) >= 3 and np.isfinite(p) else None, "n": len(names),
            "names": names}
