"""Verdicts over seeds: Welch's t-test against the formula computed here, and its directions."""
import math

import numpy as np
import pytest
from scipy import stats

from tfrobust.studies import verdicts as v


def _welch_by_hand(b, a):
    b, a = np.asarray(b, float), np.asarray(a, float)
    sb, sa = b.var(ddof=1) / b.size, a.var(ddof=1) / a.size
    t = (a.mean() - b.mean()) / math.sqrt(sa + sb)
    df = (sa + sb) ** 2 / (sa ** 2 / (a.size - 1) + sb ** 2 / (b.size - 1))
    return 2 * stats.t.sf(abs(t), df)


def test_welch_matches_formula_and_mean_std():
    base, variant = [0.50, 0.53, 0.51], [0.56, 0.61, 0.58, 0.60]
    test = v.welch_test(base, variant)
    # t = 0.07417 / sqrt(0.000492/4 + 0.000233/3) = 5.23 (by hand): p = 0.0034
    assert test.p_value == pytest.approx(_welch_by_hand(base, variant), rel=1e-9)
    assert test.p_value == pytest.approx(0.00337, abs=5e-5)
    assert test.difference == pytest.approx(0.074167, abs=1e-6) and test.significant
    assert v.mean_std([1.0, 2.0, 4.0]) == pytest.approx((7 / 3, math.sqrt(7 / 3)))
    assert v.format_mean_std([0.5, 0.52, 0.51]) == "0.510 ± 0.010 (n=3)"


def test_direction_needs_difference_beyond_seed_spread():
    # Same mean gain of 0.03: called with a tight spread, "no clear effect" with a wide one.
    assert v.seed_direction([0.50, 0.51, 0.49], [0.53, 0.54, 0.52]) == v.MORE_ROBUST
    assert v.seed_direction([0.40, 0.60, 0.50], [0.43, 0.63, 0.53]) == v.NO_CLEAR_EFFECT
    # Drops: a smaller drop is more robust.
    assert v.seed_direction([0.30, 0.31, 0.29], [0.20, 0.21, 0.19], higher_is_robust=False) == v.MORE_ROBUST
    assert v.seed_direction([0.5], [0.9]) == v.NO_CLEAR_EFFECT  # one seed: no spread, no verdict
    assert v.seed_direction([0.5, 0.5], [0.4, 0.4]) == v.LESS_ROBUST  # zero spread, a real difference
    assert v.seed_direction([0.5, 0.5, 0.5], [0.9, 0.9, 0.9], baseline_clean=[0.98] * 3,
                            variant_clean=[0.2, 0.21, 0.19]) == v.NOT_COMPARABLE
    assert v.seed_clean_direction([0.98, 0.97, 0.98], [0.90, 0.91, 0.89]) == v.LOWER_CLEAN
    assert v.seed_clean_direction([0.98, 0.90, 0.94], [0.96, 0.92, 0.90]) == v.UNCHANGED_CLEAN
    assert v.relative_robustness(0.3, 0.6) == pytest.approx(0.5) and v.relative_robustness(0.0, 0.0) == 0.0
    with pytest.raises(ValueError, match="alpha"):
        v.welch_test([1, 2], [1, 2], alpha=1.5)


def test_seeds_setting_refuses_repeats_and_negatives():
    from tfrobust.studies.config import SeedsSettings

    assert SeedsSettings().seeds == (0, 1, 2)
    for bad in ((), (0, 0), (-1, 2)):
        with pytest.raises(ValueError, match="--seeds must be distinct integers"):
            SeedsSettings(seeds=bad)
