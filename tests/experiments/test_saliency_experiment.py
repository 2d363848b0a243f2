"""experiments/saliency.py on tiny settings: integrated gradients stay complete, and from the black image their
mass sits on the digit (they vanish on black pixels) while the plain gradient's does not."""
import os

from tfrobust.studies import make_config


def test_saliency_tiny(load_script, where):
    script = load_script("saliency")
    config = make_config(script.PRESETS, "quick", train_size=200, eval_size=40, map_size=10, grid_images=2, epochs=1,
                         train_steps=1, smoothgrad_samples=2, ig_steps=128, **where)
    result = script.run(config)
    for key in ("standard", "adversarial"):
        entry = result["summary"]["models"][key]
        assert entry["completeness_error"]["median"] < 0.01
        assert entry["integrated"]["mass_on_digit"] > entry["vanilla"]["mass_on_digit"] + 0.3
    assert os.path.exists(f"{where['results_root']}/saliency/t/saliency_grid.png")
