"""epsilon_sweep: drop(eps) = acc(0) - acc(eps), agreement with robust_accuracy, JSON, tables, several models."""
import numpy as np
import pytest
import tf_keras as keras

from tfrobust.attacks import Attack
from tfrobust.evaluation import SweepResult, epsilon_sweep, robust_accuracy, sweep_models, sweeps_table

EPSILONS = [0.0, 0.05, 0.1, 0.2, 0.3]


@pytest.fixture(scope="module")
def pgd_sweep(trained_cnn, test_batch):
    x, y = test_batch
    return epsilon_sweep(trained_cnn, x[::2], y[::2], attack=Attack("pgd", steps=10), epsilons=EPSILONS,
                         per_example=True)


def test_drop_starts_at_zero_and_grows_to_clean_accuracy(pgd_sweep):
    drop = np.asarray(pgd_sweep.drop)
    assert drop[0] == 0.0 and pgd_sweep.accuracy[0] == pgd_sweep.clean_accuracy
    assert np.all(np.diff(drop) >= 0), drop
    assert pgd_sweep.clean_accuracy > 0.9
    assert pgd_sweep.accuracy_at(0.3) <= 0.02  # an undefended MNIST CNN falls to ~0 at eps = 0.3
    assert drop[-1] == pytest.approx(pgd_sweep.clean_accuracy - pgd_sweep.accuracy[-1])


def test_sweep_agrees_with_robust_accuracy_and_per_example(pgd_sweep, trained_cnn, test_batch):
    x, y = test_batch
    single = robust_accuracy(trained_cnn, x[::2], y[::2], attack=Attack("pgd", steps=10), eps=0.1)
    assert single.robust_accuracy == pytest.approx(pgd_sweep.accuracy_at(0.1))
    assert pgd_sweep.robust_correct.shape == (len(EPSILONS), 100)
    np.testing.assert_allclose(pgd_sweep.robust_correct.mean(axis=1), pgd_sweep.accuracy)
    assert pgd_sweep.n_attacked[0] == 0 and pgd_sweep.n_attacked[1] == round(100 * pgd_sweep.clean_accuracy)
    with pytest.raises(KeyError, match="not evaluated"):
        pgd_sweep.accuracy_at(0.15)


def test_json_roundtrip_and_table(pgd_sweep, tmp_path):
    path = tmp_path / "sweep.json"
    pgd_sweep.to_json(str(path))
    back = SweepResult.from_json(str(path))
    assert back.accuracy == pgd_sweep.accuracy and back.epsilons == EPSILONS and back.drop == pgd_sweep.drop
    np.testing.assert_array_equal(back.robust_correct, pgd_sweep.robust_correct)
    assert back.attack == "pgd-10x1-ce" and back.attack_config["steps"] == 10
    table = pgd_sweep.as_table().splitlines()
    assert table[0] == "| eps | accuracy | drop |" and len(table) == 2 + len(EPSILONS)
    assert table[2] == f"| 0.0000 | {pgd_sweep.clean_accuracy:.4f} | 0.0000 |"


def test_sweep_models_on_several_models(trained_cnn, test_batch):
    x, y = test_batch[0][:60], test_batch[1][:60]
    untrained = keras.Sequential([keras.layers.Flatten(input_shape=(28, 28, 1)), keras.layers.Dense(10)])
    sweeps = sweep_models({"cnn": trained_cnn, "untrained": untrained}, x, y, attack="fgsm",
                          epsilons=[0.0, 0.1])
    assert list(sweeps) == ["cnn", "untrained"] and sweeps["cnn"].model_name == "cnn"
    assert sweeps["cnn"].clean_accuracy > 0.8 > sweeps["untrained"].clean_accuracy
    table = sweeps_table(sweeps, metric="drop").splitlines()
    assert table[0] == "| eps | cnn | untrained |" and len(table) == 4
    with pytest.raises(ValueError, match="non-empty"):
        sweep_models({}, x, y, attack="fgsm", epsilons=[0.1])


def test_bad_sweeps_raise(trained_cnn, test_batch):
    x, y = test_batch[0][:8], test_batch[1][:8]
    with pytest.raises(ValueError, match="empty"):
        epsilon_sweep(trained_cnn, x, y, attack="fgsm", epsilons=[])
    with pytest.raises(ValueError, match=">= 0"):
        epsilon_sweep(trained_cnn, x, y, attack="fgsm", epsilons=[0.1, -0.1])
    with pytest.raises(ValueError, match="accuracies"):
        SweepResult("fgsm", {}, [0.1, 0.2], [0.5], 0.9, 10)
    a = SweepResult("fgsm", {}, [0.0, 0.1], [0.9, 0.5], 0.9, 10)
    b = SweepResult("fgsm", {}, [0.0, 0.2], [0.9, 0.5], 0.9, 10)
    with pytest.raises(ValueError, match="cannot tabulate"):
        sweeps_table({"a": a, "b": b})
