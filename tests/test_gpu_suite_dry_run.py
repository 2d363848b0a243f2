"""benchmarks/gpu_suite.py runs end to end on tiny shapes (--dry_run), so it is known to work before a GPU is lent."""
import importlib.util
import json
import os
import sys

import numpy as np


def test_gpu_suite_dry_run_measures_everything(tmp_path, capsys):
    path = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "gpu_suite.py")
    spec = importlib.util.spec_from_file_location("gpu_suite", path)
    suite = importlib.util.module_from_spec(spec)
    sys.modules["gpu_suite"] = suite  # dataclasses look their module up there
    spec.loader.exec_module(suite)
    out = tmp_path / "gpu.json"
    assert suite.main(["--dry_run", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert set(results["fast_at_epoch_s"]) == {"xla=off,mixed=off", "xla=off,mixed=on", "xla=on,mixed=off",
                                               "xla=on,mixed=on"}
    assert all(np.isfinite(v) and v > 0 for v in results["fast_at_epoch_s"].values())
    assert results["pgd"]["ratio"] > 0 and results["kaf_vs_relu_xla"]["ratio"] > 0
    assert "skipped" in results["autoattack"] or 0.0 <= results["autoattack"]["robust_accuracy"] <= 1.0
    printed = capsys.readouterr().out
    assert "fast-AT epoch [xla=on,mixed=on]" in printed and "KAF / ReLU" in printed
    import tf_keras as keras
    assert keras.mixed_precision.global_policy().name == "float32"  # the suite restored the policy
