"""experiments/backdoors.py on tiny settings: the numbers it records follow from its models."""
from tfrobust.studies import make_config


def test_backdoors_tiny(load_script, where):
    script = load_script("backdoors")
    config = make_config(script.PRESETS, "quick", train_size=600, eval_size=100, epochs=2, pristine_size=200,
                         poison_rate=0.1, **where)
    result = script.run(config)
    badnets = result["summary"]["badnets"]
    assert badnets["backdoored_asr"] > badnets["clean_model_asr"]  # the poisoned model learned the trigger
    assert 0 <= result["summary"]["spectral"]["recall"] <= 1
    assert "attack success" in open(f"{where['results_root']}/backdoors/t/results.md").read()
