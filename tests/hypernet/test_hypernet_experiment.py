"""experiments/robust_generator.py end to end with tiny settings: the paper preset on TFDS mock data."""
import importlib.util
import json
import pathlib
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "experiments" / "robust_generator.py"


@pytest.fixture(scope="module")
def script():
    name = "tfrobust_experiments_robust_generator"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_paper_preset_runs_writes_the_seed_table_and_resumes(script, tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    from tfrobust.studies import make_config

    # AutoAttack skipped: nothing here asserts on it (the paper preset would run the full "aa" on 4 networks).
    config = make_config(
        script.PRESETS, "paper", max_steps=1, epochs=1, at_epochs=1, train_size=64, eval_size=20, subset_size=16,
        pretrain_steps=2, loop_epochs=1, loop_steps_per_epoch=1, eval_pgd_steps=2, loop_pgd_steps=2,
        at_pgd_steps=1, attack="pgd:steps=1,restarts=1", autoattack="", num_samples=3,
        results_root=str(tmp_path / "results"), logdir_root=str(tmp_path / "tb"), run_name="t")
    assert config.dataset == "mnist" and config.eps == 0.175
    with tfds.testing.mock_data(num_examples=64):
        first = script.run(config)
        second = script.run(config)  # everything is recorded: nothing is trained or measured again
    assert second["entries"] == first["entries"]
    entries = first["entries"]
    assert {"original", "pgd_trained", "pretrained", "value", "direct", "check_value_best"} <= set(entries)
    assert len(entries["value"]["accuracy"]) == 3 and len(entries["direct"]["latent"]) == 3
    run_dir = tmp_path / "results" / "robust_generator" / "t"
    saved = json.loads((run_dir / "results.json").read_text())
    assert saved["summary"]["published"]["best_generated_robustness"] == 0.654
    table = (run_dir / "results.md").read_text()
    assert "| 0.991 | 0.202 |" in table and "0.765–0.801" in table and "8/20" in table
    assert (run_dir / "accuracy_vs_robustness.png").stat().st_size > 1000
    assert any((tmp_path / "tb" / "robust_generator" / "t" / "generator_value").rglob("events.out.tfevents*"))
