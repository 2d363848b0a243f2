"""epsilon_sweep with a minimal-perturbation attack: the whole curve from one run per batch."""
import numpy as np

from tfrobust.attacks import Attack, deepfool
from tfrobust.evaluation import epsilon_sweep
from tfrobust.evaluation.robust_accuracy import evaluate_epsilons

EPSILONS = [0.0, 0.5, 1.0, 1.5, 3.0]


def test_curve_from_norms_equals_per_eps_evaluation(trained_cnn, test_batch):
    x, y = test_batch[0][::10], test_batch[1][::10]
    spec = Attack("deepfool", steps=5)
    sweep = epsilon_sweep(trained_cnn, x, y, attack=spec, epsilons=EPSILONS, batch_size=8, per_example=True)
    # acc(eps) = mean(clean & norm > eps), from one direct DeepFool run
    result = deepfool(trained_cnn, x, y, steps=5)
    clean = np.argmax(trained_cnn(x), axis=1) == y
    expected = [float(np.mean(clean & (result.norms > eps))) if eps > 0 else float(clean.mean()) for eps in EPSILONS]
    np.testing.assert_allclose(sweep.accuracy, expected)
    # the generic path (the attack rerun at every eps, images checked in the ball) gives the same curve
    _, _, _, generic_clean, outcomes = evaluate_epsilons(trained_cnn, x, y, attack=spec, epsilons=EPSILONS,
                                                         batch_size=8)
    np.testing.assert_allclose(sweep.accuracy, [float(np.concatenate(o.robust_correct).mean()) for o in outcomes])
    assert sweep.clean_accuracy == float(generic_clean.mean())
    assert sweep.accuracy[0] > sweep.accuracy[2] > sweep.accuracy[-1]  # the curve falls (median L2 ~1.2)
    assert sweep.n_attacked == [0] + [int(clean.sum())] * 4
    assert sweep.robust_correct.shape == (5, 20)
