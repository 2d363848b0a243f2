"""experiments/universal_physical.py on tiny settings: the numbers it records follow from its perturbations."""
from tfrobust.studies import make_config


def test_universal_physical_tiny(load_script, where):
    script = load_script("universal_physical")
    config = make_config(script.PRESETS, "quick", models=("lenet5",), train_size=256, epochs=1, eval_size=64,
                         uap_sgd_train_size=64, uap_methods=("sgd",), uap_sgd_passes=1, patch_sizes=(4,), patch_steps=4,
                         rp2_size=4, rp2_steps=4, **where)
    summary = script.run(config)["summary"]
    entry = summary["uap"]["lenet5_sgd"]  # (DeepFool's UAP: tests/attacks/test_attacks_universal.py)
    assert entry["linf"] <= 0.2 + 1e-6  # the projection holds
    assert entry["transfer"]["lenet5"] == entry["held_out"]  # the table's diagonal is the held-out rate
    assert all(entry["outside_mask"] == 0 for entry in summary["rp2"].values())  # RP2 stays in its mask
    assert 0 <= summary["patch"]["4"]["random_location"] <= 1
    text = open(f"{where['results_root']}/universal_physical/t/results.md").read()
    assert "Cross-model transfer" in text and "Moosavi-Dezfooli" in text and "patch_success_vs_size.png" in text
