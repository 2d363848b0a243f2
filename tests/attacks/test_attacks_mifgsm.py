"""MI-FGSM (Dong et al. 2018) and the substitute-model transfer attack (Papernot et al. 2017)."""
import numpy as np
import pytest
import tf_keras as keras

from tfrobust.attacks import Attack, fgsm, mifgsm, parse_attack
from tfrobust.attacks.transfer import LabelOracle, jacobian_augment, train_substitute, transfer_attack


def _numpy_mifgsm(weights, bias, x, y, eps, steps, decay):
    """Algorithm 1 of Dong et al. on a linear softmax model, gradients in closed form."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    adv, momentum = flat.copy(), np.zeros_like(flat)
    alpha = eps / steps
    for _ in range(steps):
        logits = adv @ weights + bias
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        grad = (p - np.eye(weights.shape[1])[y]) @ weights.T  # d CE / d x
        momentum = decay * momentum + grad / np.abs(grad).sum(1, keepdims=True)
        adv = np.clip(np.clip(adv + alpha * np.sign(momentum), flat - eps, flat + eps), 0.0, 1.0)
    return adv.reshape(x.shape)


def test_mifgsm_matches_the_papers_update_on_a_linear_model(linear_model):
    model, weights, bias = linear_model
    rng = np.random.default_rng(0)
    x = rng.uniform(0.2, 0.8, size=(8, 4, 4, 1)).astype(np.float32)
    y = rng.integers(0, 10, size=8)
    got = np.asarray(mifgsm(model, x, y, eps=0.1, steps=5, decay=1.0))
    np.testing.assert_allclose(got, _numpy_mifgsm(weights, bias, x, y, 0.1, 5, 1.0), atol=1e-5)
    # mu = 0 and one step of size eps is FGSM
    np.testing.assert_allclose(np.asarray(mifgsm(model, x, y, eps=0.1, steps=1, decay=0.0)),
                               np.asarray(fgsm(model, x, y, eps=0.1)), atol=1e-6)


def test_mifgsm_breaks_the_cnn_and_is_registered(trained_cnn, small_batch, accuracy):
    x, y = small_batch
    assert accuracy(trained_cnn, x, y) >= 0.9
    x_adv, info = Attack("mifgsm")(trained_cnn, x, y, eps=0.2, return_info=True)
    assert np.abs(np.asarray(x_adv) - x).max() <= 0.2 + 1e-6
    assert accuracy(trained_cnn, np.asarray(x_adv), y) <= 0.15
    assert info["example_steps"] == 10 * len(x)
    assert parse_attack("mi-fgsm:steps=20,decay=0.5").label == "mifgsm-20-mu0.5"


def test_mifgsm_refuses_a_negative_decay(trained_cnn, small_batch):
    x, y = small_batch
    with pytest.raises(ValueError, match="decay must be"):
        mifgsm(trained_cnn, x, y, eps=0.1, decay=-1.0)


def test_jacobian_augmentation_steps_along_the_sign_of_the_label_logit(linear_model):
    model, weights, _ = linear_model
    x = np.full((3, 4, 4, 1), 0.5, np.float32)
    labels = np.array([0, 3, 7])
    got = jacobian_augment(model, x, labels, step=0.1)
    want = 0.5 + 0.1 * np.sign(weights[:, labels].T).reshape(x.shape)  # d z_k / dx = W[:, k]
    np.testing.assert_allclose(got, want, atol=1e-6)


def _substitute_builder():
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(16, 5, strides=2, activation="relu"),
                             keras.layers.Flatten(), keras.layers.Dense(64, activation="relu"),
                             keras.layers.Dense(10)])


def test_substitute_from_label_queries_transfers_iterative_attacks(trained_cnn, mnist5k, test_batch):
    """Papernot et al.'s attack: 150 held-out digits (15 per class, none of test_batch) + 2 rounds of Jacobian
    augmentation, labels only. Iterative attacks on the substitute at eps 0.3 must cost the target >= 30 points:
    MI-FGSM, and PGD's last iterate (I-FGSM: MI-FGSM with mu = 0 and Madry's step 2.5 eps / steps)."""
    _, _, x_test, y_test = mnist5k
    seed_set = x_test[np.concatenate([np.flatnonzero(y_test == c)[20:35] for c in range(10)])]
    oracle = LabelOracle(trained_cnn)
    substitute = train_substitute(oracle, seed_set, build=_substitute_builder, rounds=3, epochs=5, seed=0)
    assert substitute.queries == 150 * 4 == oracle.queries  # S_0 doubles each augmented round
    assert substitute.dataset_sizes == [150, 300, 600]
    x, y = test_batch
    for attack in ("mifgsm", "mifgsm:decay=0.0,steps=10,step_size=0.075"):
        result = transfer_attack(trained_cnn, substitute.model, x, y, attack=attack, eps=0.3)
        assert result["target_clean_accuracy"] >= 0.9
        drop = result["target_clean_accuracy"] - result["target_adversarial_accuracy"]
        assert drop >= 0.30, (attack, drop)
