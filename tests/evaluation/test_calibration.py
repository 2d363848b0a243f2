"""Calibration (Guo et al. 2017): ECE against an independent numpy loop, temperature recovery."""
import numpy as np
import pytest

from tfrobust.evaluation.calibration import (calibration_summary, confidence_reliability, expected_calibration_error,
                                             fit_temperature, negative_log_likelihood, reliability_diagram)


def _calibrated_logits(n, classes, scale, seed):
    """Logits z and labels drawn from softmax(z): calibrated at T = 1 by construction."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, scale, size=(n, classes))
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    labels = np.array([rng.choice(classes, p=row) for row in p])
    return z, labels


def _ece_loop(probs, labels, n_bins):
    conf, pred = probs.max(1), probs.argmax(1)
    total = 0.0
    for m in range(1, n_bins + 1):
        in_bin = (conf > (m - 1) / n_bins) & (conf <= m / n_bins)
        if in_bin.any():
            total += in_bin.mean() * abs((pred[in_bin] == labels[in_bin]).mean() - conf[in_bin].mean())
    return total


@pytest.mark.parametrize("n_bins", [15, 7])
def test_ece_matches_numpy_loop_on_probabilities_and_logits(n_bins):
    z, labels = _calibrated_logits(3000, 10, 2.0, seed=1)
    z = 2.5 * z  # overconfident
    probs = np.exp(z - z.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    expected = _ece_loop(probs, labels, n_bins)
    assert expected > 0.05
    assert expected_calibration_error(probs, labels, n_bins) == pytest.approx(expected, abs=1e-12)
    assert expected_calibration_error(z, labels, n_bins) == pytest.approx(expected, abs=1e-9)
    onehot = np.eye(10)[labels]
    assert expected_calibration_error(z, onehot, n_bins) == pytest.approx(expected, abs=1e-9)


def test_ece_of_perfect_predictions_and_confidence_one():
    probs = np.eye(4)[[0, 1, 2, 3]]
    assert expected_calibration_error(probs, [0, 1, 2, 3]) == 0.0
    assert expected_calibration_error(probs, [1, 1, 2, 3]) == pytest.approx(0.25)  # confidence 1 in the last bin


def test_reliability_diagram_bins():
    z, labels = _calibrated_logits(2000, 5, 2.0, seed=2)
    diagram = reliability_diagram(z, labels, n_bins=10)
    assert diagram.count.sum() == 2000
    assert diagram.bin_edges[0] == 0 and diagram.bin_edges[-1] == 1 and diagram.n_bins == 10
    nonempty = diagram.count > 0
    assert np.all((diagram.confidence[nonempty] > diagram.bin_edges[:-1][nonempty])
                  & (diagram.confidence[nonempty] <= diagram.bin_edges[1:][nonempty]))
    # overall accuracy = count-weighted bin accuracy
    assert np.nansum(diagram.accuracy * diagram.count) / 2000 == pytest.approx(diagram.accuracy_overall)
    assert diagram.ece < 0.05  # calibrated by construction
    assert set(diagram.to_dict()) >= {"bin_edges", "accuracy", "confidence", "count", "ece"}


@pytest.mark.parametrize("true_t", [3.0, 0.5])
def test_fit_temperature_recovers_scaling(true_t):
    z, labels = _calibrated_logits(5000, 10, 2.0, seed=3)
    t = fit_temperature(true_t * z, labels)
    assert t == pytest.approx(true_t, rel=0.05)
    # the fitted T minimises the NLL: nudging it either way does not help
    nll = negative_log_likelihood(true_t * z, labels, t)
    assert nll <= negative_log_likelihood(true_t * z, labels, 1.1 * t)
    assert nll <= negative_log_likelihood(true_t * z, labels, t / 1.1)


def test_calibration_summary_improves_ece_and_nll():
    z, labels = _calibrated_logits(4000, 10, 2.0, seed=4)
    summary = calibration_summary(3.0 * z, labels)
    assert summary["temperature"] == pytest.approx(3.0, rel=0.05)
    assert summary["ece_scaled"] < 0.5 * summary["ece"]
    assert summary["nll_scaled"] < summary["nll"]


def test_nll_matches_formula():
    z = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    y = np.array([0, 1])
    t = 2.0
    expected = np.mean([np.log(np.exp(z[i] / t).sum()) - z[i, y[i]] / t for i in range(2)])
    assert negative_log_likelihood(z, y, t) == pytest.approx(expected)


def test_separable_logits_give_the_smallest_temperature():
    assert fit_temperature(np.array([[5.0, 0.0], [0.0, 5.0]]), [0, 1]) == pytest.approx(1e-3)


@pytest.mark.parametrize("args, error, match", [
    ((np.zeros((3,)), [0, 0, 0]), ValueError, "shape"),
    ((np.full((2, 3), np.nan), [0, 1]), ValueError, "NaN"),
    ((np.zeros((2, 3)), [0, 5]), ValueError, "lie in"),
    ((np.zeros((2, 3)), [0]), ValueError, "mismatch"),
])
def test_bad_inputs_raise(args, error, match):
    with pytest.raises(error, match=match):
        expected_calibration_error(*args)


def test_bad_bins_and_forced_probabilities():
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error(np.eye(3), [0, 1, 2], n_bins=0)
    with pytest.raises(ValueError, match="not probability"):
        expected_calibration_error(np.array([[2.0, -1.0]]), [0], from_logits=False)


def test_reliability_of_any_confidence_score():
    # a credibility of 0 falls in the first bin: ECE = 1/4 |0 - 0.05| + 2/4 |0.5 - 0.95| + 1/4 |1 - 0.5|
    diagram = confidence_reliability([0.05, 0.95, 0.95, 0.5], [False, True, False, True], n_bins=10)
    assert diagram.ece == pytest.approx(0.0125 + 0.225 + 0.125)
    np.testing.assert_array_equal(diagram.count, [1, 0, 0, 0, 1, 0, 0, 0, 0, 2])
    assert confidence_reliability([0.0, 1.0], [False, True]).ece == 0.0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        confidence_reliability([1.5], [True])
