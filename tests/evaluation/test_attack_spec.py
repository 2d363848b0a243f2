"""Attack specs: parsing, eps-dependent defaults, the noise baseline."""
import numpy as np
import pytest

from tfrobust.evaluation import Attack, as_attack, make_attack, parse_attack, random_sign_noise, robust_accuracy


def test_parse_and_madry_step_rule():
    attack = parse_attack("pgd:steps=40,restarts=2,loss=margin,random_start=false")
    assert attack == Attack("pgd", steps=40, restarts=2, loss="margin", random_start=False)
    resolved = attack.resolve(0.3)
    assert resolved["step_size"] == pytest.approx(2.5 * 0.3 / 40) and resolved["steps"] == 40
    assert parse_attack("pgd").resolve(0.3)["steps"] == 40
    assert parse_attack("PGD:step_size=0.01").resolve(0.3)["step_size"] == 0.01
    assert parse_attack("rfgsm").resolve(0.2)["alpha"] == pytest.approx(0.1)
    assert parse_attack("fgsm:norm=l2").label == "fgsm-l2"
    assert attack.label == "pgd-40x2-margin"
    assert Attack(**attack.to_dict()) == attack
    assert as_attack({"name": "noise", "restarts": 3}) == Attack("noise", restarts=3)


@pytest.mark.parametrize("spec, match", [
    ("cw", "Unknown attack"),
    ("pgd:steps=0", "steps"),
    ("pgd:steps=2.5", "integer"),
    ("pgd:loss=hinge", "Unknown loss"),
    ("pgd:norm=l1", "Unknown norm"),
    ("pgd:stepz=3", "Unknown attack setting"),
    ("pgd:steps", "key=value"),
    ("fgsm:steps=10", "PGD settings"),
    ("pgd:alpha=0.1", "R\\+FGSM"),
    ("noise:norm=l2", "L-inf"),
    ("", "non-empty"),
])
def test_bad_specs_raise(spec, match):
    with pytest.raises((ValueError, TypeError), match=match):
        parse_attack(spec)


def test_make_attack_rejects_unknown_setting():
    with pytest.raises(ValueError, match="Unknown attack setting"):
        make_attack("fgsm", eps=0.1)


def test_noise_is_random_sign_noise_of_size_eps():
    x = np.full((4, 5, 5, 1), 0.5, np.float32)
    noisy = random_sign_noise(None, x, eps=0.1, seed=1).numpy()
    np.testing.assert_allclose(np.abs(noisy - x), 0.1, atol=1e-6)
    signs = np.sign(noisy - x)
    assert 0.3 < (signs > 0).mean() < 0.7
    np.testing.assert_array_equal(noisy, random_sign_noise(None, x, eps=0.1, seed=1).numpy())
    clipped = random_sign_noise(None, np.ones_like(x), eps=0.1, seed=1).numpy()
    assert clipped.max() <= 1.0 and clipped.min() >= 0.9 - 1e-6


def test_noise_baseline_is_much_weaker_than_fgsm(trained_cnn, test_batch):
    x, y = test_batch
    noise = robust_accuracy(trained_cnn, x, y, attack=Attack("noise", restarts=2), eps=0.15)
    fgsm = robust_accuracy(trained_cnn, x, y, attack="fgsm", eps=0.15)
    assert noise.robust_accuracy > 0.85
    assert fgsm.robust_accuracy < noise.robust_accuracy - 0.5


@pytest.mark.parametrize("name", ["fgsm", "rfgsm", "pgd", "noise"])
def test_every_attack_is_the_identity_at_eps_zero(name, trained_cnn, test_batch):
    x, y = test_batch
    x_adv = Attack(name)(trained_cnn, x[:16], y[:16], eps=0.0)
    np.testing.assert_array_equal(np.asarray(x_adv), x[:16])
