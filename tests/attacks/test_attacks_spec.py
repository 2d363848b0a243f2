"""Attack specs over the registry: parsing, eps-dependent defaults, settings taken from the function, noise."""
import numpy as np
import pytest

from tfrobust.attacks import Attack, as_attack, fgsm, make_attack, noise, parse_attack, pgd
from tfrobust.evaluation import robust_accuracy


def test_parse_and_madry_step_rule():
    attack = parse_attack("pgd:steps=40,restarts=2,loss=margin,random_start=false")
    assert attack == Attack("pgd", steps=40, restarts=2, loss="margin", random_start=False)
    resolved = attack.resolve(0.3)
    assert resolved["step_size"] == pytest.approx(2.5 * 0.3 / 40) and resolved["steps"] == 40
    assert parse_attack("pgd").resolve(0.3)["steps"] == 40
    assert parse_attack("pgd:steps=10").resolve(0.2)["step_size"] == pytest.approx(0.05)
    assert parse_attack("PGD:step_size=0.01").resolve(0.3)["step_size"] == 0.01
    assert parse_attack("rfgsm").resolve(0.2)["alpha"] == pytest.approx(0.1)
    assert parse_attack("fgsm:norm=l2").label == "fgsm-l2"
    assert attack.label == "pgd-40x2-margin"
    assert Attack(**attack.to_dict()) == attack
    assert as_attack({"name": "noise", "restarts": 3}) == Attack("noise", restarts=3)
    assert as_attack(pgd) == Attack("pgd") and as_attack(fgsm) == Attack("fgsm")
    assert Attack("pgd").resolve(0.1)["seed"] == 0  # evaluations repeat unless asked otherwise


def test_any_setting_the_function_takes_is_a_spec(trained_cnn, test_batch):
    """FGSM on the margin loss is a spec now (it used to need a CallableAttack around functools.partial)."""
    x, y = test_batch
    spec = parse_attack("fgsm:loss=margin")
    assert spec.label == "fgsm-margin"
    np.testing.assert_array_equal(np.asarray(spec(trained_cnn, x[:20], y[:20], eps=0.1)),
                                  np.asarray(fgsm(trained_cnn, x[:20], y[:20], eps=0.1, loss="margin")))


@pytest.mark.parametrize("spec, match", [
    ("cw-nonexistent", "Unknown attack"),
    ("pgd:steps=0", "steps"),
    ("pgd:steps=2.5", "integer"),
    ("pgd:loss=hinge", "Unknown loss"),
    ("pgd:norm=l1", "Unknown norm"),
    ("pgd:stepz=3", "Unknown attack setting"),
    ("pgd:steps", "key=value"),
    ("fgsm:steps=10", "Unknown attack setting.*'fgsm'"),
    ("pgd:alpha=0.1", "Unknown attack setting.*'pgd'"),
    ("noise:norm=l2", "L-inf"),
    ("pgd:eps=0.3", "Unknown attack setting"),
    ("", "non-empty"),
])
def test_bad_specs_raise(spec, match):
    with pytest.raises((ValueError, TypeError), match=match):
        parse_attack(spec)


def test_make_attack_rejects_unknown_setting():
    with pytest.raises(ValueError, match="Unknown attack setting"):
        make_attack("fgsm", eps=0.1)


def test_noise_is_random_sign_noise_of_size_eps(trained_cnn):
    x = np.full((4, 28, 28, 1), 0.5, np.float32)
    y = np.zeros(4, np.int64)
    noisy = noise(trained_cnn, x, y, eps=0.1, seed=1).numpy()
    np.testing.assert_allclose(np.abs(noisy - x), 0.1, atol=1e-6)
    signs = np.sign(noisy - x)
    assert 0.3 < (signs > 0).mean() < 0.7
    np.testing.assert_array_equal(noisy, noise(trained_cnn, x, y, eps=0.1, seed=1).numpy())
    clipped = noise(trained_cnn, np.ones_like(x), y, eps=0.1, seed=1).numpy()
    assert clipped.max() <= 1.0 and clipped.min() >= 0.9 - 1e-6


def test_noise_baseline_is_much_weaker_than_fgsm(trained_cnn, test_batch):
    x, y = test_batch
    noise_result = robust_accuracy(trained_cnn, x, y, attack=Attack("noise", restarts=2), eps=0.15)
    fgsm_result = robust_accuracy(trained_cnn, x, y, attack="fgsm", eps=0.15)
    assert noise_result.robust_accuracy > 0.85
    assert fgsm_result.robust_accuracy < noise_result.robust_accuracy - 0.5


def test_minimal_attack_at_fixed_eps_keeps_only_perturbations_within_eps(trained_cnn, test_batch):
    """A minimal-perturbation spec at eps returns its example where the minimal norm <= eps, x elsewhere,
    so robust accuracy at eps equals the share of norms above eps."""
    x, y = test_batch
    x, y = x[:40], y[:40]
    grid = np.linspace(0.0, 0.3, 7)
    spec = Attack("minimal_epsilon", epsilons=grid)
    x_adv, info = spec(trained_cnn, x, y, eps=0.1, return_info=True)
    norms = info["extra"]["minimal_norms"]
    changed = np.any(np.asarray(x_adv) != x, axis=(1, 2, 3))
    np.testing.assert_array_equal(changed, (norms <= 0.1) & (norms > 0))
    result = robust_accuracy(trained_cnn, x, y, attack=spec, eps=0.1, early_stop=False)
    assert result.robust_accuracy == pytest.approx(np.mean(norms > 0.1))
