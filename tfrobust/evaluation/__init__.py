"""tfrobust.evaluation: honest robustness numbers and the checks that they can be trusted.

- ``robust_accuracy``: accuracy under attack at one eps (early stop on fooled examples, AutoAttack-style).
- ``epsilon_sweep`` / ``sweep_models``: accuracy and drop(eps) = acc(0) - acc(eps) over a list of eps (seed 004).
- ``masking_report``: gradient-masking warning signs (Carlini et al. 2019; Athalye et al. 2018).
- ``expected_calibration_error`` / ``reliability_diagram`` / ``fit_temperature``: calibration (Guo et al. 2017);
  ``confidence_reliability`` bins any confidence score (e.g. Deep k-NN's credibility).

Crash-safe result files and markdown tables live in ``tfrobust.io``; the report that adds figures and
TensorBoard logs to these numbers is ``tfrobust.report`` (a layer above).
"""
from tfrobust.evaluation.calibration import (ReliabilityDiagram, calibration_summary, confidence_reliability,
                                             expected_calibration_error, fit_temperature, negative_log_likelihood,
                                             reliability_diagram)
from tfrobust.evaluation.epsilon_sweep import SweepResult, epsilon_sweep, sweep_models, sweeps_table
from tfrobust.evaluation.masking import MaskingReport, input_gradient_stats, masking_report
from tfrobust.evaluation.robust_accuracy import RobustAccuracyResult, robust_accuracy

__all__ = [
    "ReliabilityDiagram", "calibration_summary", "confidence_reliability", "expected_calibration_error", "fit_temperature",
    "negative_log_likelihood", "reliability_diagram",
    "SweepResult", "epsilon_sweep", "sweep_models", "sweeps_table",
    "MaskingReport", "input_gradient_stats", "masking_report",
    "RobustAccuracyResult", "robust_accuracy",
]
