"""experiments/lowrank_robustness.py on tiny settings (AlexNet on 28×28×1 digits with seed 004's ranks)."""
import os

from tfrobust.studies import make_config, published


def test_lowrank_quick_tiny(load_script, where):
    script = load_script("lowrank_robustness")
    config = make_config(script.PRESETS, "quick", convs=("standard", "LR2"), train_size=32,
                         batch_size=16, epochs=1, eval_size=16, epsilons=(0.0, 0.1),
                         minimal_eps_points=3, seeds=(0,), **where)
    result = script.run(config)
    standard, low = result["entries"]["alexnet_standard_seed=0"], result["entries"]["alexnet_LR2_seed=0"]
    assert standard["ranks"] is None and low["ranks"] == [4, 20, 30, 50, 100]  # seed 004 LR1 / 2
    assert low["parameters"] < standard["parameters"]
    for entry in (standard, low):
        assert entry["fgsm"]["drop"][0] == 0.0 and entry["fgsm"]["accuracy"][0] == entry["clean_accuracy"]
    run_dir = os.path.join(where["results_root"], "lowrank_robustness", "t")
    markdown = open(os.path.join(run_dir, "results.md")).read()
    # The table shows the recorded numbers, and LR2's verdict against the standard convolutions.
    assert f"| LR2 | 4-20-30-50-100 | {low['parameters']:,} | 1 | {low['clean_accuracy']:.3f} |" in markdown
    assert result["summary"]["verdicts"]["alexnet"]["LR2"]["robustness"] in markdown
    assert "Figure 12a" in markdown and published.SEED_COMPRESSION in markdown and "4-20-30-50-100" in markdown
    assert os.path.exists(os.path.join(run_dir, "alexnet_accuracy.png"))
