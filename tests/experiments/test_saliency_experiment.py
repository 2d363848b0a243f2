"""experiments/saliency.py on tiny settings: from the black image, integrated gradients put their mass on the digit
(they vanish on black pixels) while the plain gradient does not, and the grid is drawn. IG's completeness within 1%
is asserted on a trained CNN in tests/interpret/test_saliency.py."""
import os

from tfrobust.studies import make_config


def test_saliency_tiny(load_script, where):
    script = load_script("saliency")
    config = make_config(script.PRESETS, "quick", train_size=100, eval_size=20, map_size=6, grid_images=2, epochs=1,
                         train_steps=1, smoothgrad_samples=1, ig_steps=16, attack="pgd:steps=1", **where)
    result = script.run(config)
    for key in ("standard", "adversarial"):
        entry = result["summary"]["models"][key]
        assert entry["integrated"]["mass_on_digit"] > entry["vanilla"]["mass_on_digit"] + 0.3  # measured 0.9 vs 0.2
        assert entry["completeness_error"]["median"] < 0.2  # a loose check of the wiring at 16 steps
    assert os.path.exists(f"{where['results_root']}/saliency/t/saliency_grid.png")
