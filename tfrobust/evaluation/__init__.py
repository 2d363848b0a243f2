"""tfrobust.evaluation: honest robustness numbers and the checks that they can be trusted.

- ``Attack`` / ``make_attack`` / ``parse_attack``: an attack and its settings, run at any eps.
- ``robust_accuracy``: accuracy under attack at one eps (early stop on fooled examples, AutoAttack-style).
- ``epsilon_sweep`` / ``sweep_models``: accuracy and drop(eps) = acc(0) - acc(eps) over a list of eps (seed 004).
- ``masking_report``: gradient-masking warning signs (Carlini et al. 2019; Athalye et al. 2018).
- ``expected_calibration_error`` / ``reliability_diagram`` / ``fit_temperature``: calibration (Guo et al. 2017).
- ``write_json_atomic`` / ``write_text_atomic`` / ``markdown_table``: crash-safe result files.
"""
from tfrobust.evaluation.attack_spec import Attack, CallableAttack, as_attack, make_attack, parse_attack
from tfrobust.evaluation.calibration import (ReliabilityDiagram, calibration_summary, expected_calibration_error,
                                             fit_temperature, negative_log_likelihood, reliability_diagram)
from tfrobust.evaluation.epsilon_sweep import SweepResult, epsilon_sweep, sweep_models, sweeps_table
from tfrobust.evaluation.masking import MaskingReport, input_gradient_stats, masking_report
from tfrobust.evaluation.random_noise import random_sign_noise
from tfrobust.evaluation.results import (markdown_table, to_jsonable, write_bytes_atomic, write_json_atomic,
                                         write_text_atomic)
from tfrobust.evaluation.robust_accuracy import RobustAccuracyResult, robust_accuracy

__all__ = [
    "Attack", "CallableAttack", "as_attack", "make_attack", "parse_attack",
    "ReliabilityDiagram", "calibration_summary", "expected_calibration_error", "fit_temperature",
    "negative_log_likelihood", "reliability_diagram",
    "SweepResult", "epsilon_sweep", "sweep_models", "sweeps_table",
    "MaskingReport", "input_gradient_stats", "masking_report",
    "random_sign_noise",
    "markdown_table", "to_jsonable", "write_bytes_atomic", "write_json_atomic", "write_text_atomic",
    "RobustAccuracyResult", "robust_accuracy",
]
