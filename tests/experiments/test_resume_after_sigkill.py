"""A pruning run SIGKILLed in the middle of its second entry and started again gives the numbers of an uninterrupted
run (issue 10, case 4). Checked to fail on the code before the fix (f0fc29a^, mid-entry BackupAndRestore resume).

The killed run is the script in a subprocess (a real SIGKILL); the uninterrupted run and the restart run in this
process (``run(config)``, the script's own entry point after its flags), which saves two TensorFlow imports. So
the first entry, recorded by the killed process and reloaded by the restart, must also equal this process's."""
import json
import os
import signal
import subprocess
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "experiments", "pruning_robustness.py")
TINY = ["--preset=quick", "--sparsities=0,0.8", "--train_size=256", "--epochs=3", "--eval_size=64",
        "--epsilons=0,0.1", "--minimal_eps_points=4", "--pruning_frequency=2", "--seeds=0", "--run_name=t"]


def _command(root):
    return [sys.executable, SCRIPT, *TINY, f"--results_root={root}/results", f"--logdir_root={root}/tb"]


def _run_in_process(script, root):
    """The script's run with the flags of ``_command(root)``, parsed as its ``__main__`` parses them."""
    from absl import flags

    from tfrobust.studies.flags import config_from_flags, define_flags

    fv = flags.FlagValues()
    define_flags(script.PruningConfig, script.PRESETS, flag_values=fv)
    fv(_command(root)[1:])
    return script.run(config_from_flags(script.PruningConfig, script.PRESETS, flag_values=fv))


def _numbers(path):
    """results.json entries without wall-clock times."""
    with open(path) as f:
        entries = json.load(f)["entries"]

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if "seconds" not in k and "time" not in k}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value
    return strip(entries)


def test_killed_and_resumed_run_equals_an_uninterrupted_one(tmp_path, load_script):
    script = load_script("pruning_robustness")
    _run_in_process(script, tmp_path / "whole")
    results = tmp_path / "killed" / "results" / "pruning_robustness" / "t" / "results.json"
    # Killed once the first entry is recorded and the second has finished an epoch of training: its "Epoch 2/"
    # line is printed after the epoch-1 callbacks ran, so a mid-entry backup (BackupAndRestore) would exist and
    # a resume from it (weights and optimiser, but not the RNG or the data order) would change the numbers.
    proc = subprocess.Popen(_command(tmp_path / "killed"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("Epoch 2/") and results.exists() and \
                    len(json.loads(results.read_text() or "{}").get("entries", {})) >= 1:
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    if proc.returncode == 0:
        pytest.fail("the run finished before it could be killed:\n" + "".join(seen[-20:]))
    assert proc.returncode == -signal.SIGKILL
    killed_entries = _numbers(results)
    assert 1 <= len(killed_entries) < 2
    _run_in_process(script, tmp_path / "killed")  # started again
    expected = _numbers(tmp_path / "whole" / "results" / "pruning_robustness" / "t" / "results.json")
    assert _numbers(results) == expected
    assert len(expected) == 2
