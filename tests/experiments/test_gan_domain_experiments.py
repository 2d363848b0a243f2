"""experiments/gan.py and experiments/domain_adaptation.py on tiny settings: results, tables, figures, logs.

The done-when numbers (FID drop, DANN gain, Defense-GAN gap) need the quick presets' minutes of training; these
smoke tests check the plumbing and the numbers that hold even after a few steps.
"""
import glob
import os

from tfrobust.studies import make_config


def test_gan_experiment_tiny(load_script, where):
    script = load_script("gan")
    config = make_config(script.PRESETS, "quick", gan_losses=("non_saturating", "minimax"), epochs=2, max_steps=3,
                         train_size=256, eval_size=64, fid_samples=64, classifier_epochs=1, i2i_epochs=1, width=8,
                         dg_steps=3, dg_restarts=2, dg_size=16, attack_steps=2, eot_samples=2, masking_steps=2,
                         square_queries=10, **where)
    result = script.run(config)
    entries = result["entries"]
    assert len(entries["gan_minimax"]["classifier_fid"]) == 2
    inpainting = entries["inpainting"]
    # The occluded input's hole is all zeros (energy only at its right and bottom edges): less than the digits'.
    assert inpainting["occluded"]["hole sharpness"] < inpainting["original"]["hole sharpness"]
    assert inpainting["original"]["hole_l1"] == 0.0 and inpainting["L1"]["hole_l1"] > 0.0
    # The naive attacker has no gradient through the projection: the masking report must say so.
    dg = entries["defense_gan"]
    # Defense-GAN projects onto the generator with the highest last classifier score (--dg_generator=best).
    scores = {k: entries[f"gan_{k}"]["classifier_score"][-1] for k in ("non_saturating", "minimax")}
    assert dg["generator"] == result["summary"]["defense_gan_generator"] == max(scores, key=scores.get)
    assert "zero_or_nan_gradients" in dg["masking_fired"]
    assert dg["masking"]["checks"]["attacked_gradients"]["zero_share"] == 1.0
    out = os.path.join(where["results_root"], "gan", "t")
    for name in ("classifier_fid.png", "generator_gradient.png", "samples.png", "inpainting.png",
                 "defense_gan_projection.png"):
        assert os.path.getsize(os.path.join(out, name)) > 1000
    assert "classifier FID" in open(os.path.join(out, "results.md")).read()
    assert glob.glob(os.path.join(where["logdir_root"], "gan", "t", "gan_minimax", "samples", "events.*"))


def test_domain_adaptation_experiment_tiny(load_script, where):
    script = load_script("domain_adaptation")
    config = make_config(script.PRESETS, "quick", targets=("sklearn_digits",), epochs=1, baseline_epochs=1,
                         max_steps=2, eval_size=32, attack="pgd:steps=2", **where)
    result = script.run(config)
    entry = result["entries"]["sklearn_digits"]
    assert len(entry["domain_accuracy_per_epoch"]) == 1
    assert set(entry) >= {"source only", "DANN", "train on target", "domain_accuracy_final", "gain"}
    # One epoch: the held-out domain accuracy is measured after it, raw and with the averaged weights that fit
    # deployed (so the "averaged" value is the final one).
    held_out = entry["domain_accuracy_held_out"]
    assert held_out["epoch"] == [1] and held_out["averaged"][0] == entry["domain_accuracy_final"]
    checks = result["summary"]["checks"]["sklearn_digits"]
    assert checks["gain >= 10 points"] == (entry["gain"] >= 0.10)
    assert checks["held-out domain accuracy <= 0.65"] == (entry["domain_accuracy_final"] <= 0.65)
    out = os.path.join(where["results_root"], "domain_adaptation", "t")
    assert os.path.getsize(os.path.join(out, "features_pca_sklearn_digits.png")) > 1000
    markdown = open(os.path.join(out, "results.md")).read()
    assert "Table 1" in markdown and "Checks (both in this run)" in markdown
