"""The black-box transfer attack of Papernot et al. 2017: a substitute from label queries only, then white-box
attacks on it transferred to the target (tfrobust.attacks.transfer)."""
import numpy as np
import tf_keras as keras

from tfrobust.attacks import Attack
from tfrobust.attacks.transfer import LabelOracle, jacobian_augment, train_substitute, transfer_attack, transfer_pgd
from tfrobust.evaluation.robust_accuracy import robust_accuracy


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


def test_substitute_from_label_queries_transfers_far_below_noise(trained_cnn, mnist5k, test_batch):
    """Papernot et al.'s attack: 150 held-out digits (15 per class, none of test_batch) + 2 rounds of Jacobian
    augmentation, labels only. PGD (its last iterate, ``transfer_pgd``) and MI-FGSM crafted on the substitute at
    eps 0.3 must cost the target >= 30 points, and leave it >= 30 points below random sign noise of the same eps;
    PGD's first fooling iterate (white-box bookkeeping) transfers much worse than its last."""
    _, _, x_test, y_test = mnist5k
    seed_set = x_test[np.concatenate([np.flatnonzero(y_test == c)[20:35] for c in range(10)])]
    oracle = LabelOracle(trained_cnn)
    substitute = train_substitute(oracle, seed_set, build=_substitute_builder, rounds=3, epochs=5, seed=0)
    assert substitute.queries == 150 * 4 == oracle.queries  # S_0 doubles each augmented round
    assert substitute.dataset_sizes == [150, 300, 600]
    x, y = test_batch
    x, y = x[::2], y[::2]
    noise = robust_accuracy(trained_cnn, x, y, attack=Attack("noise", seed=0), eps=0.3).robust_accuracy
    pgd_last = transfer_pgd(0.3, steps=10)
    assert pgd_last.label == "mifgsm-10-mu0-rs" and pgd_last.settings["step_size"] == 0.075
    accuracy = {}
    for name, attack in (("pgd_last", pgd_last), ("mifgsm", Attack("mifgsm")), ("pgd_best", Attack("pgd", steps=10))):
        result = transfer_attack(trained_cnn, substitute.model, x, y, attack=attack, eps=0.3)
        assert result["target_clean_accuracy"] >= 0.9 and result["source_adversarial_accuracy"] <= 0.05
        accuracy[name] = result["target_adversarial_accuracy"]
    clean = result["target_clean_accuracy"]
    assert noise >= 0.8, noise
    for name in ("pgd_last", "mifgsm"):
        assert clean - accuracy[name] >= 0.30 and noise - accuracy[name] >= 0.30, (name, accuracy, noise)
    assert accuracy["pgd_best"] > accuracy["pgd_last"] + 0.15, accuracy
