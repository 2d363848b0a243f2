"""Issue 10: a bad flag value ends a script with ONE line naming the flag, before anything trains."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_negative_temperature_is_one_line_before_training(tmp_path):
    results = tmp_path / "results"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "temperature_robustness.py"),
                           "--temperatures=1,-5", f"--results_root={results}", f"--logdir_root={tmp_path / 'tb'}"],
                          capture_output=True, text=True, timeout=300, cwd=str(tmp_path),
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 1, proc.stderr
    ours = [line for line in proc.stderr.splitlines() if "temperature_robustness.py: error:" in line]
    assert ours == ["temperature_robustness.py: error: --temperatures takes comma-separated finite numbers > 0, "
                    "got 1,-5. (--help lists the flags)"], proc.stderr
    assert "Traceback" not in proc.stderr and "--temperatures:" not in proc.stderr  # no flag listing
    assert not results.exists() and not (tmp_path / "tb").exists()  # failed start leaves no folder


@pytest.mark.parametrize("values, ok", [((1.0, 50.0), True), ((1.0, -5.0), False), ((), False), ((None,), False)])
def test_temperature_configs_refuse_non_positive_values(values, ok):
    sys.path.insert(0, os.path.join(ROOT, "experiments"))
    try:
        import defensive_distillation
        import temperature_robustness
    finally:
        sys.path.pop(0)
    for module, cls in ((temperature_robustness, "TemperatureConfig"), (defensive_distillation, "DistillationConfig")):
        if ok:
            getattr(module, cls)(temperatures=values)
        else:
            with pytest.raises(ValueError, match="--temperatures takes comma-separated finite numbers > 0"):
                getattr(module, cls)(temperatures=values)


def test_help_shows_each_presets_actual_values():
    from absl import flags

    from tfrobust.studies.flags import _show, define_flags

    sys.path.insert(0, os.path.join(ROOT, "experiments"))
    try:
        import temperature_robustness as study
    finally:
        sys.path.pop(0)
    fv = flags.FlagValues()
    define_flags(study.TemperatureConfig, study.PRESETS, flag_values=fv)
    quick, paper = study.PRESETS["quick"], study.PRESETS["paper"]
    assert _show(quick.temperatures) in fv["temperatures"].help and "1,20,50,70,90" in fv["temperatures"].help
    assert f"quick: {quick.epochs}; paper: {paper.epochs}" in fv["epochs"].help
    assert "quick: 6; paper: 30" in fv["epochs"].help and "quick: mnist5k; paper: imagenette" in fv["dataset"].help
    assert f"every preset: {quick.seed}" in fv["seed"].help


@pytest.mark.parametrize("field", ["masking_steps", "masking_square_queries"])
def test_distillation_refuses_a_masking_budget_below_one(field):
    sys.path.insert(0, os.path.join(ROOT, "experiments"))
    try:
        import defensive_distillation
    finally:
        sys.path.pop(0)
    with pytest.raises(ValueError, match=f"--{field} must be a whole number >= 1; got 0"):
        defensive_distillation.DistillationConfig(**{field: 0})
