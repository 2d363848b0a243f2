"""Deep k-NN (Papernot & McDaniel 2018): p-values by the formula, credibility flags PGD examples."""
import numpy as np
import pytest

from tfrobust.attacks import pgd
from tfrobust.evaluation.deep_knn import DeepKNN, credibility_auroc, credibility_reliability

pytest.importorskip("faiss")


@pytest.fixture(scope="module")
def dknn(trained_cnn, mnist5k):
    x_train, y_train, x_test, y_test = mnist5k
    return DeepKNN(trained_cnn, k=75).fit(x_train, y_train, x_test[1::4], y_test[1::4])  # 250 calibration


def test_p_values_follow_the_calibration_formula(dknn, trained_cnn, mnist5k):
    x_train, y_train, x_test, y_test = mnist5k
    x = x_test[::50]
    counts = dknn.neighbour_counts(x)
    assert np.all(counts.sum(axis=1) == 75 * len(dknn.layers))
    # brute-force neighbours in the last layer agree with faiss
    logits_train = np.asarray(trained_cnn(x_train))
    logits_x = np.asarray(trained_cnn(x))
    d = ((logits_x[:, None] - logits_train[None]) ** 2).sum(-1)
    brute = y_train[np.argsort(d, axis=1)[:, :75]]
    last = dknn._indexes[-1].search(np.ascontiguousarray(logits_x, dtype=np.float32), 75)[1]
    np.testing.assert_array_equal(np.sort(y_train[last], 1), np.sort(brute, 1))
    alpha = dknn.nonconformity(x)
    calibration = dknn._calibration
    want = np.array([[np.mean(calibration >= a) for a in row] for row in alpha])
    result = dknn.predict(x)
    np.testing.assert_allclose(result["p_values"], want)
    assert np.mean(result["prediction"] == y_test[::50]) >= 0.9


def test_credibility_separates_pgd_examples_from_clean(dknn, trained_cnn, test_batch):
    x, y = test_batch
    x, y = x[::2], y[::2]
    x_adv = pgd(trained_cnn, x, y, eps=0.2, steps=20, seed=0)
    clean, adversarial = dknn.predict(x)["credibility"], dknn.predict(x_adv)["credibility"]
    auroc = credibility_auroc(clean, adversarial)
    assert auroc >= 0.8  # measured 0.856 (mean credibility 0.51 clean, 0.17 PGD)


def test_auroc_formula():
    assert credibility_auroc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert credibility_auroc([0.5], [0.5]) == 0.5
    assert credibility_auroc([0.1, 0.2], [0.9, 0.8]) == 0.0


def test_p_values_are_valid_and_credibility_is_binned(dknn, mnist5k):
    _, _, x_test, y_test = mnist5k
    x, y = x_test[2::4], y_test[2::4]  # 250 clean digits outside the calibration split
    result = dknn.predict(x)
    true_p = result["p_values"][np.arange(len(y)), y]
    # conformal validity: the true label's p-value is about uniform, P(p <= t) ~ t
    for t in (0.2, 0.5):
        assert abs(np.mean(true_p <= t) - t) < 0.1  # measured 0.200, 0.508
    diagram = credibility_reliability(result, y, n_bins=10)
    assert diagram.count.sum() == len(y)
    assert diagram.accuracy_overall == pytest.approx(np.mean(result["prediction"] == y))
    assert diagram.confidence_overall == pytest.approx(result["credibility"].mean())
