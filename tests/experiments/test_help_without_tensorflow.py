"""Issue 10: every script's ``--help`` answers without importing TensorFlow, exits 0 and shows each preset's values.

One subprocess blocks ``tensorflow``, ``tf_keras`` and ``keras`` (a meta-path finder that raises ImportError),
imports the TensorFlow-free parts every script shares (numpy, absl, ``tfrobust.studies.config`` / ``.flags``) once,
and forks one child per script that runs ``experiments/<script>.py --help``. The child records what its script
passes to ``run_script`` (the settings class and presets), so the test checks the help against the real presets.
"""
import json
import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p.name for p in (ROOT / "experiments").glob("*.py") if not p.name.startswith("_"))

_DRIVER = r'''
import dataclasses, json, os, runpy, sys

class _NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "tf_keras", "keras"):
            raise ImportError(f"--help must not import {name}")

sys.meta_path.insert(0, _NoTensorFlow())
import numpy, absl.app, absl.flags  # noqa: E401,F401  (shared by every script: loaded once, before the forks)
from tfrobust.studies import config, flags

root, out = sys.argv[1], sys.argv[2]
codes = {}
for script in sys.argv[3:]:
    pid = os.fork()
    if pid == 0:
        log = os.open(os.path.join(out, script + ".out"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(log, 1)
        os.dup2(log, 2)
        real = flags.run_script

        def run_script(main, config_cls, presets=None):
            if presets is None:
                expected = {f.name: [f"(default: {flags._show(f.default)})"] for f in dataclasses.fields(config_cls)
                            if f.default is not dataclasses.MISSING and f.default is not None}
            else:
                expected = {f.name: [flags._preset_values(presets, f.name)] for f in dataclasses.fields(config_cls)
                            if f.name != "preset"}
                expected["preset"] = list(presets)  # an enum flag of the preset names
            with open(os.path.join(out, script + ".json"), "w") as fh:
                json.dump(expected, fh)
            real(main, config_cls, presets)

        flags.run_script = run_script
        sys.argv = [os.path.join(root, "experiments", script), "--help"]
        code = 0
        try:
            runpy.run_path(sys.argv[0], run_name="__main__")
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 3
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    codes[script] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
print(json.dumps(codes))
'''


def _squash(text: str) -> str:
    return "".join(text.split())  # absl wraps help at 80 columns, inside values too


def test_every_script_answers_help_without_tensorflow_and_shows_the_presets(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", _DRIVER, str(ROOT), str(tmp_path), *SCRIPTS], capture_output=True,
                          text=True, timeout=300, cwd=str(tmp_path), env=env)
    assert proc.returncode == 0, proc.stderr
    codes = json.loads(proc.stdout.strip().splitlines()[-1])
    failures = {}
    for script in SCRIPTS:
        output = (tmp_path / f"{script}.out").read_text()
        if codes[script] != 0:
            failures[script] = f"exit {codes[script]}: " + " | ".join(output.strip().splitlines()[-4:])
            continue
        expected = json.loads((tmp_path / f"{script}.json").read_text())
        squashed = _squash(output)
        missing = [f"--{name}: {texts[0]}" for name, texts in expected.items()
                   if not re.search(rf"--(\[no\])?{name}:", output) or not all(_squash(t) in squashed for t in texts)]
        if missing:
            failures[script] = f"help lacks {missing[:3]}"
    assert not failures, "\n".join(f"{script}: {why}" for script, why in failures.items())
