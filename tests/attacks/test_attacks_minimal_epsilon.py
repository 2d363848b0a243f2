"""minimal_epsilon (seed 004) must agree with FGSM run at the grid values."""
import numpy as np

from tfrobust.attacks import fgsm, minimal_epsilon


def test_minimal_epsilon_is_consistent_with_fgsm(trained_cnn, small_batch):
    x, y = small_batch
    grid = np.linspace(0.0, 0.3, 13)
    found_result = minimal_epsilon(trained_cnn, x, y, grid[::-1])  # order of the grid does not matter
    result = found_result.info["epsilon"]
    assert result.shape == (len(y),)
    assert set(np.unique(result)) <= set(grid) | {np.inf}
    predictions = {}
    for eps in grid:
        x_adv = fgsm(trained_cnn, x, y, eps=float(eps))
        predictions[eps] = np.argmax(trained_cnn(x_adv, training=False), axis=1) != y
    found = np.isfinite(result)
    assert found.mean() > 0.8
    for i in np.flatnonzero(found):
        k = int(np.flatnonzero(grid == result[i])[0])
        assert predictions[grid[k]][i]
        assert k == 0 or not predictions[grid[k - 1]][i]
    for i in np.flatnonzero(~found):
        assert not any(predictions[eps][i] for eps in grid)
    # x_adv is the FGSM image at the minimal eps (x itself where none flips it).
    x_adv = np.asarray(found_result.x_adv)
    for i in np.flatnonzero(found & (result > 0))[:10]:
        np.testing.assert_allclose(x_adv[i], np.asarray(fgsm(trained_cnn, x[i:i + 1], y[i:i + 1],
                                                              eps=float(result[i])))[0], atol=1e-6)
    np.testing.assert_array_equal(x_adv[~found], x[~found])
    # The accuracy curve read off the norms: robust at eps = FGSM fails at every grid value up to eps.
    for eps in grid:
        survived = np.all([~predictions[g] for g in grid if g <= eps], axis=0)
        assert np.mean(result > eps) == np.mean(survived)
    # L-inf FGSM images move some pixel by the whole step, so the norms are the grid eps themselves.
    np.testing.assert_allclose(found_result.norms[found], result[found], atol=1e-6)


def test_minimal_epsilon_zero_for_misclassified_and_inf_when_never_flipped(trained_cnn, small_batch):
    x, y = small_batch
    wrong = (y + 1) % 10  # every clean prediction disagrees with these labels (almost always)
    clean_pred = np.argmax(trained_cnn(x, training=False), axis=1)
    result = minimal_epsilon(trained_cnn, x, wrong, [0.05, 0.1]).info["epsilon"]
    np.testing.assert_array_equal(result[clean_pred != wrong], 0.0)
    tiny = minimal_epsilon(trained_cnn, x, y, [1e-4]).info["epsilon"]
    correct = clean_pred == y
    assert np.mean(np.isinf(tiny[correct])) > 0.95
