"""Summaries of sampled networks, as seed 000 reports them (the A-R scatter is tested in tests/test_plotting.py)."""
import numpy as np
import pytest

from tfrobust.hypernet.robustness import Measurement
from tfrobust.hypernet.sampling import summarise_samples


def _measurement():
    accuracy = np.array([0.95, 0.40, 0.80, 0.10, 0.70], np.float32)
    robustness = np.array([0.20, 0.90, 0.60, 1.00, 0.65], np.float32)
    return Measurement(accuracy, robustness, accuracy * robustness, 100)


def test_summary_ranks_robust_samples_above_the_accuracy_threshold():
    summary = summarise_samples(_measurement(), alpha=0.5, beta=0.5, top=2)
    assert [s["index"] for s in summary["most_robust"]] == [4, 2]  # 1 and 3 have A < 0.5
    assert summary["best_objective"]["index"] == 2  # 0.5 * 0.8 + 0.5 * 0.6 = 0.70 is the highest
    assert summary["best_objective"]["objective"] == pytest.approx(0.70)
    assert summary["num_low_accuracy"] == 2 and summary["share_low_accuracy"] == pytest.approx(0.4)
    assert summary["mean_accuracy"] == pytest.approx(0.59)
    assert summary["most_robust"][0]["robust_accuracy"] == pytest.approx(0.7 * 0.65)
    accuracy_heavy = summarise_samples(_measurement(), alpha=0.9, beta=0.1)
    assert accuracy_heavy["best_objective"]["index"] == 0
