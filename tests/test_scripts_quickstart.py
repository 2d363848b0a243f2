"""The quickstart and evaluate_model scripts run end to end (tiny settings) and agree with each other.

Both run in this process, from their flags through their ``main`` (and evaluate_model, for a bad flag, through its
``__main__``, ``run_script``): a subprocess would only add a TensorFlow import (~12 s). A script run as a real
process, through ``run_script`` and absl's ``app.run``, is tests/experiments/test_resume_after_sigkill.py (and every
script's ``__main__`` answers ``--help`` in tests/experiments/test_help_without_tensorflow.py)."""
import importlib.util
import json
import os
import runpy
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load_script(name):
    spec = importlib.util.spec_from_file_location(f"tfrobust_experiments_{name}",
                                                  os.path.join(ROOT, "experiments", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _run_main(script, config_cls, argv):
    """``script.main`` with the config of flags ``argv``, parsed as the script's ``__main__`` parses them."""
    from absl import flags

    from tfrobust import config as tfr_config
    from tfrobust.studies.flags import config_from_flags, define_flags

    fv = flags.FlagValues()
    define_flags(config_cls, flag_values=fv)
    fv(argv)
    previous_xla = tfr_config.get_xla()  # the script sets XLA process-wide; this process goes on testing
    try:
        script.main(config_from_flags(config_cls, flag_values=fv))
    finally:
        tfr_config.set_xla(previous_xla)


@pytest.fixture(scope="module")
def quickstart_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("quickstart")
    script = _load_script("quickstart")
    _run_main(script, script.QuickstartConfig, [
        "quickstart.py", "--epochs=2", "--eval_size=200", "--attacks=fgsm;pgd:steps=10,step_size=0.03",
        "--epsilons=0.1,0.3", f"--out_dir={out / 'results'}", f"--logdir={out / 'tb'}"])
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
    script = _load_script("evaluate_model")
    _run_main(script, script.EvaluateConfig, [
        "evaluate_model.py", f"--model={out / 'results' / 'lenet5.keras'}", "--num_examples=200", "--attacks=fgsm",
        "--epsilons=0.1", "--masking_eps=0", f"--out_dir={result_dir}", f"--logdir={out / 'tb2'}"])
    with open(result_dir / "report.json") as f:
        report = json.load(f)
    assert report["format"] == "tf_keras"
    # Same model, same 200 digits: the reloaded model reproduces the quickstart's numbers exactly.
    assert report["clean_accuracy"] == pytest.approx(quick["clean_accuracy"])
    assert report["sweeps"]["fgsm"]["accuracy"][1] == pytest.approx(quick["sweeps"]["fgsm"]["accuracy"][1])


def test_a_bad_flag_value_is_a_one_line_usage_error(tmp_path, monkeypatch, capsys):
    from absl import flags

    script = os.path.join(ROOT, "experiments", "evaluate_model.py")
    # The script's __main__ as `python evaluate_model.py ...` runs it, with a flag registry of its own (the
    # process-wide one is left as it was).
    monkeypatch.setattr(flags, "FLAGS", flags.FlagValues())
    monkeypatch.setattr(sys, "argv", [script, "--model=m.keras", "--attacks=pgd:stepz=3"])
    monkeypatch.chdir(tmp_path)  # where its results/ and tensorboard_logs/ would go
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(script, run_name="__main__")
    assert exit_.value.code == 1
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("evaluate_model.py: error: "), captured.err  # no traceback
    assert "--attacks='pgd:stepz=3'" in lines[0] and "stepz" in lines[0]
    assert list(tmp_path.iterdir()) == []  # refused before anything ran or any folder was made
