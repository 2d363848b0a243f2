"""PATE: noisy-max aggregation, the student beats one teacher, the accounting is dp-accounting's RDP."""
import numpy as np
import pytest
import tf_keras as keras

from tfrobust.privacy import (confident_gnmax, gnmax, lnmax, privacy_cost, train_student, train_teachers,
                              vote_histogram)

dp_accounting = pytest.importorskip("dp_accounting")


def _mlp():
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(64, activation="relu"), keras.layers.Dense(10)])


def _accuracy(model, x, y):
    return float(np.mean(np.argmax(np.asarray(model(x)), axis=1) == y))


def test_student_beats_a_single_teacher_and_its_epsilon_is_rdp(mnist5k):
    x_train, y_train, x_test, y_test = mnist5k
    teachers = train_teachers(x_train, y_train, teachers=20, build=_mlp, epochs=6, seed=0)  # 200 digits each
    public, evaluation = np.arange(0, 1000, 2), np.arange(1, 1000, 2)
    histogram = vote_histogram(teachers, x_test[public], num_classes=10)
    assert np.all(histogram.sum(axis=1) == 20)
    labels = gnmax(histogram, sigma=2.0, seed=0)
    student = train_student(x_test[public], labels, build=_mlp, epochs=15, seed=0)
    single = np.mean([_accuracy(t, x_test[evaluation], y_test[evaluation]) for t in teachers[:3]])
    assert _accuracy(student, x_test[evaluation], y_test[evaluation]) >= single + 0.03  # measured 79.2 vs 68.9
    # the same 500 answers, accounted by hand: RDP of GNMax is Q * lambda / sigma^2, the classic conversion
    # eps = min over lambda of RDP + log(1/delta) / (lambda - 1) bounds dp-accounting's (tighter) value
    eps = privacy_cost(mechanism="gnmax", queries=len(labels), sigma=2.0, delta=1e-5)
    orders = np.linspace(1.01, 64, 2000)
    classic = np.min(len(labels) * orders / 4.0 + np.log(1e5) / (orders - 1))
    assert 0.8 * classic <= eps <= classic + 1e-9
    accountant = dp_accounting.rdp.RdpAccountant()
    accountant.compose(dp_accounting.SelfComposedDpEvent(dp_accounting.GaussianDpEvent(2.0 / np.sqrt(2)), 500))
    assert eps == pytest.approx(accountant.get_epsilon(1e-5))


def test_noisy_max_mechanisms():
    histogram = np.array([[9, 1, 0], [0, 2, 8], [5, 5, 0]])
    np.testing.assert_array_equal(gnmax(histogram, sigma=0.01, seed=0)[:2], [0, 2])
    np.testing.assert_array_equal(lnmax(histogram, gamma=100.0, seed=0)[:2], [0, 2])
    answers = confident_gnmax(histogram, threshold=7, sigma1=0.01, sigma2=0.01, seed=0)
    np.testing.assert_array_equal(answers.answered, [True, True, False])
    np.testing.assert_array_equal(answers.labels, [0, 2, -1])
    # unanswered queries pay only the threshold check
    full = privacy_cost(mechanism="confident_gnmax", queries=100, answered=100, sigma1=50, sigma2=20, delta=1e-5)
    part = privacy_cost(mechanism="confident_gnmax", queries=100, answered=10, sigma1=50, sigma2=20, delta=1e-5)
    assert part < full
    # LNMax: one answer is pure (2 gamma)-DP; its RDP conversion at delta 1e-5 is within 5% of that
    assert 2 * 0.05 <= privacy_cost(mechanism="lnmax", queries=1, gamma=0.05, delta=1e-5) <= 1.05 * 2 * 0.05
    with pytest.raises(ValueError, match="mechanism"):
        privacy_cost(mechanism="laplace", queries=1, delta=1e-5)
