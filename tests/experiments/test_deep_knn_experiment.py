"""experiments/deep_knn.py on tiny settings: the AUROCs it reports follow from the credibilities it records."""
import numpy as np
import pytest

from tfrobust.studies import make_config

pytest.importorskip("faiss")


def test_deep_knn_tiny(load_script, where):
    from tfrobust.evaluation.deep_knn import credibility_auroc

    script = load_script("deep_knn")
    config = make_config(script.PRESETS, "quick", train_size=200, eval_size=80, calibration_size=40, epochs=1, k=5,
                         autoattack="", attack="pgd:steps=2", **where)
    result = script.run(config)
    sets = result["entries"]["dknn"]["sets"]
    assert list(sets) == ["clean", "FGSM", "pgd-2x1-ce"] and sets["clean"]["n"] == 40
    for name in ("FGSM", "pgd-2x1-ce"):
        want = credibility_auroc(sets["clean"]["credibility"], sets[name]["credibility"])
        assert sets[name]["auroc_credibility"] == pytest.approx(want)
        assert sets[name]["dnn_accuracy"] <= sets["clean"]["dnn_accuracy"]  # the attacks hurt the DNN
    assert np.mean(sets["clean"]["credibility"]) == pytest.approx(sets["clean"]["mean_credibility"])
    assert result["summary"]["temperature"] > 0 and 0 <= sets["clean"]["ece"]["dknn"] <= 1
    with pytest.raises(ValueError, match="--calibration_size"):
        make_config(script.PRESETS, "quick", calibration_size=1000)
