"""experiments/defensive_distillation.py on tiny settings."""
import os

from tfrobust.studies import make_config, published


def test_distillation_quick_tiny(load_script, where):
    script = load_script("defensive_distillation")
    config = make_config(script.PRESETS, "quick", temperatures=(5.0,), seeds=(0, 1), train_size=384, epochs=2,
                         learning_rate=3e-3, eval_size=48, masking_size=24, masking_steps=3, masking_square_queries=20,
                         attack="pgd:steps=3", epsilons=(0.0, 0.2), autoattack="", **where)
    result = script.run(config)
    assert set(result["entries"]) == {"undefended_seed=0", "undefended_seed=1", "T=5_seed=0", "T=5_seed=1"}
    undefended, student = result["entries"]["undefended_seed=0"], result["entries"]["T=5_seed=1"]
    assert student["seed"] == 1 and student["temperature"] == 5.0
    # The verdicts come from Welch's t-test over the two seeds, and name their means and test.
    verdict = result["summary"]["verdicts"]["logits_margin"]
    margins = [result["entries"][f"T=5_seed={s}"]["pgd_logits_margin"] for s in (0, 1)]
    assert verdict["variant"].startswith(f"{sum(margins) / 2:.3f} ± ") and "Welch" in verdict["test"]
    for entry in (undefended, student):
        assert entry["fgsm_probabilities"]["drop"][0] == 0.0
    # An undefended CNN is broken at eps = 0.2 by PGD with the margin loss on its logits.
    assert undefended["pgd_logits_margin"] < 0.5 * undefended["clean_accuracy"]
    # The FGSM-margin curve is the registered fgsm with loss=margin, a spec (not a wrapped function).
    assert undefended["fgsm_logits_margin"]["attack_config"] == {"name": "fgsm", "loss": "margin"}
    assert undefended["fgsm_logits_margin"]["accuracy"][-1] < undefended["clean_accuracy"]
    assert min(undefended["clean_accuracy"], student["teacher_accuracy"], student["clean_accuracy"]) > 0.5
    run_dir = os.path.join(where["results_root"], "defensive_distillation", "t")
    markdown = open(os.path.join(run_dir, "results.md")).read()
    assert published.SEED_SURVEY in markdown and "Carlini & Wagner" in markdown and "(n=2)" in markdown
    assert os.path.getsize(os.path.join(run_dir, "attacks_by_temperature.png")) > 1000


def test_distillation_paper_preset_one_step_on_mock_mnist(load_script, where):
    import tensorflow_datasets as tfds

    script = load_script("defensive_distillation")
    # AutoAttack skipped: nothing here asserts on it (the paper preset would run the full "aa" on both networks).
    config = make_config(script.PRESETS, "paper", temperatures=(100.0,), seeds=(0,), max_steps=1, epochs=1,
                         eval_size=8, masking_size=8, masking_steps=2, masking_square_queries=10, attack="pgd:steps=1",
                         autoattack="", **where)
    assert config.dataset == "mnist" and config.optimizer == "sgd" and config.eps == 0.3
    assert script.PRESETS["paper"].attack_spec().label == "pgd-40x1-ce"
    with tfds.testing.mock_data(num_examples=16):
        result = script.run(config)
    assert set(result["entries"]) == {"undefended_seed=0", "T=100_seed=0"}
    assert result["entries"]["T=100_seed=0"]["fgsm_probabilities"]["n"] == 8
