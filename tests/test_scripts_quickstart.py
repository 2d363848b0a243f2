"""The quickstart and evaluate_model scripts run end to end (tiny settings) and agree with each other."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(script, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")  # tfrobust is installed: the scripts need no sys.path edits
    result = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", script), *args],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def quickstart_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("quickstart")
    _run("quickstart.py", "--epochs=2", "--eval_size=200", "--attacks=fgsm;pgd:steps=10,step_size=0.03",
         "--epsilons=0.1,0.3", f"--out_dir={out / 'results'}", f"--logdir={out / 'tb'}")
    with open(out / "results" / "report.json") as f:
        return out, json.load(f)


def test_quickstart_writes_report_figures_model_and_logs(quickstart_run):
    out, report = quickstart_run
    for name in ("accuracy_vs_eps.png", "drop_vs_eps.png", "adversarial_examples.png", "report.md", "lenet5.keras"):
        assert (out / "results" / name).stat().st_size > 0, name
    assert any(name.startswith("events.out") for _, _, files in os.walk(out / "tb") for name in files)
    fgsm, pgd = report["sweeps"]["fgsm"], report["sweeps"]["pgd-10x1-ce"]
    assert report["clean_accuracy"] > 0.85  # two epochs of LeNet-5 on 4,000 digits
    assert fgsm["accuracy"][0] == pytest.approx(report["clean_accuracy"])  # eps = 0 is the clean point
    # At eps = 0.3 an undefended LeNet-5 is broken, by PGD at least as much as by FGSM.
    assert pgd["accuracy"][-1] <= fgsm["accuracy"][-1] + 0.02
    assert pgd["accuracy"][-1] < 0.2
    assert report["masking"]["suspicious"] is False


def test_evaluate_model_reads_the_saved_quickstart_model(quickstart_run):
    out, quick = quickstart_run
    result_dir = out / "evaluated"
    _run("evaluate_model.py", f"--model={out / 'results' / 'lenet5.keras'}", "--num_examples=200",
         "--attacks=fgsm", "--epsilons=0.1", "--masking_eps=0", f"--out_dir={result_dir}", f"--logdir={out / 'tb2'}")
    with open(result_dir / "report.json") as f:
        report = json.load(f)
    assert report["format"] == "tf_keras"
    # Same model, same 200 digits: the reloaded model reproduces the quickstart's numbers exactly.
    assert report["clean_accuracy"] == pytest.approx(quick["clean_accuracy"])
    assert report["sweeps"]["fgsm"]["accuracy"][1] == pytest.approx(quick["sweeps"]["fgsm"]["accuracy"][1])


def test_a_bad_flag_value_is_a_one_line_usage_error(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "evaluate_model.py"),
                             f"--model={tmp_path / 'm.keras'}", "--attacks=pgd:stepz=3"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "--attacks='pgd:stepz=3'" in result.stderr and "stepz" in result.stderr
