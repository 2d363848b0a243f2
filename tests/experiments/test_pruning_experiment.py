"""experiments/pruning_robustness.py on tiny settings, and resuming a run: finished work is skipped."""
import os

from tfrobust import experiment, published


def _config(script, where, sparsities):
    return experiment.make_config(script.PRESETS, "quick", sparsities=sparsities, train_size=256, epochs=2,
                                  eval_size=64, epsilons=(0.0, 0.05, 0.1), minimal_eps_points=6,
                                  pruning_frequency=2, **where)


def test_pruning_quick_tiny_and_resume(load_script, where, monkeypatch):
    script = load_script("pruning_robustness")
    fits = []
    real_fit = experiment.fit
    monkeypatch.setattr(experiment, "fit", lambda *a, **k: fits.append(1) or real_fit(*a, **k))

    result = script.run(_config(script, where, (0.0, 0.8)))
    assert len(fits) == 2
    dense, sparse = result["entries"]["fc5_sparsity=0"], result["entries"]["fc5_sparsity=0.8"]
    assert dense["measured_sparsity"] < 0.01
    assert abs(sparse["measured_sparsity"] - 0.8) < 0.01  # strip() keeps the target sparsity
    for entry in (dense, sparse):
        sweep = entry["fgsm"]
        assert sweep["drop"][0] == 0.0 and all(0.0 <= a <= 1.0 for a in sweep["accuracy"])
        assert sweep["accuracy"][0] == entry["clean_accuracy"]
        minimal = entry["minimal_epsilon"]
        assert sum(minimal["counts"]) + minimal["never_flipped"] == round(entry["clean_accuracy"] * 64)
    assert result["summary"]["verdicts"]["fc5"]["80%"]["robustness"] in (
        published.MORE_ROBUST, published.LESS_ROBUST, published.NO_CLEAR_EFFECT, published.NOT_COMPARABLE)
    run_dir = os.path.join(where["results_root"], "pruning_robustness", "t")
    markdown = open(os.path.join(run_dir, "results.md")).read()
    assert "Figure 11" in markdown and published.SEED_COMPRESSION in markdown
    for name in ("fc5_accuracy.png", "fc5_drop.png"):
        assert os.path.getsize(os.path.join(run_dir, name)) > 1000

    # Rerun with one more sparsity: the two finished models are neither retrained nor re-evaluated.
    again = script.run(_config(script, where, (0.0, 0.8, 0.5)))
    assert len(fits) == 3
    assert again["entries"]["fc5_sparsity=0.8"] == sparse
    assert abs(again["entries"]["fc5_sparsity=0.5"]["measured_sparsity"] - 0.5) < 0.01
