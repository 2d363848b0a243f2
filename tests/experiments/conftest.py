"""Fixtures of the experiment-script tests: load a script from experiments/ and tiny settings for it."""
import importlib.util
import pathlib
import sys

import pytest

EXPERIMENTS_DIR = pathlib.Path(__file__).resolve().parents[2] / "experiments"


def _load(name: str):
    module_name = f"tfrobust_experiments_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, EXPERIMENTS_DIR / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


@pytest.fixture
def load_script():
    """``load_script("pruning_robustness")`` imports experiments/pruning_robustness.py (not a package)."""
    return _load


@pytest.fixture
def where(tmp_path):
    """Results and TensorBoard roots inside the test's tmp_path, and a fixed run name."""
    return {"results_root": str(tmp_path / "results"), "logdir_root": str(tmp_path / "tb"), "run_name": "t"}
