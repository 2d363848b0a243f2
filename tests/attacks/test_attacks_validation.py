"""Every bad input raises a clear error, eagerly, that names what was wrong."""
import numpy as np
import pytest

from tfrobust.attacks import fgsm, minimal_epsilon, optimization_attack, pgd, rfgsm


def _pgd(**overrides):
    kwargs = dict(eps=0.1, step_size=0.01, steps=2)
    kwargs.update(overrides)
    return lambda m, x, y: pgd(m, x, y, **kwargs)


CASES = {
    "negative eps": (lambda m, x, y: fgsm(m, x, y, eps=-0.1), ValueError, ">= 0"),
    "nan eps": (lambda m, x, y: fgsm(m, x, y, eps=float("nan")), ValueError, "finite"),
    "string eps": (lambda m, x, y: fgsm(m, x, y, eps="0.1"), TypeError, "number"),
    "eps above bounds range": (_pgd(eps=1.5), ValueError, "larger than the whole bounds range"),
    "nan images": (lambda m, x, y: fgsm(m, np.where(x > 0.5, np.nan, x), y, eps=0.1), ValueError, "NaN"),
    "out-of-bounds images": (lambda m, x, y: fgsm(m, x * 255.0, y, eps=0.1), ValueError, "outside bounds"),
    "uint8 images": (lambda m, x, y: fgsm(m, (x * 255).astype(np.uint8), y, eps=0.1), TypeError, "integer dtype"),
    "label out of range": (lambda m, x, y: fgsm(m, x, np.full_like(y, 10), eps=0.1), ValueError, r"\[0, 9\]"),
    "negative label": (lambda m, x, y: pgd(m, x, -np.ones_like(y), eps=0.1, step_size=0.01, steps=2),
                       ValueError, r"\[0, 9\]"),
    "soft labels": (lambda m, x, y: fgsm(m, x, np.full((len(y), 10), 0.1), eps=0.1), ValueError, "soft"),
    "batch mismatch": (lambda m, x, y: fgsm(m, x, y[:-1], eps=0.1), ValueError, "Batch mismatch"),
    "steps zero": (_pgd(steps=0), ValueError, "steps must be > 0"),
    "steps not integer": (_pgd(steps=2.5), TypeError, "steps must be an integer"),
    "restarts zero": (_pgd(restarts=0), ValueError, "restarts must be > 0"),
    "unknown norm": (_pgd(norm="l1"), ValueError, "Unknown norm"),
    "unknown loss": (_pgd(loss="hinge"), ValueError, "Unknown loss"),
    "step_size zero": (_pgd(step_size=0.0), ValueError, "step_size"),
    "step_size negative": (_pgd(step_size=-0.01), ValueError, "step_size"),
    "negative seed": (_pgd(seed=-1), ValueError, "seed"),
    "batch_size zero": (_pgd(batch_size=0), ValueError, "batch_size"),
    "targeted not bool": (_pgd(targeted="yes"), TypeError, "targeted"),
    "bounds reversed": (_pgd(bounds=(1, 0)), ValueError, "low < high"),
    "bounds not a pair": (_pgd(bounds=(0,)), ValueError, "pair"),
    "rfgsm alpha equals eps": (lambda m, x, y: rfgsm(m, x, y, eps=0.1, alpha=0.1), ValueError, "alpha"),
    "rfgsm alpha zero": (lambda m, x, y: rfgsm(m, x, y, eps=0.1, alpha=0.0), ValueError, "alpha"),
    "empty epsilons": (lambda m, x, y: minimal_epsilon(m, x, y, []), ValueError, "empty"),
    "nan in epsilons": (lambda m, x, y: minimal_epsilon(m, x, y, [0.1, float("nan")]), ValueError, "finite"),
    "negative epsilons": (lambda m, x, y: minimal_epsilon(m, x, y, [-0.1, 0.1]), ValueError, ">= 0"),
    "optimization linf": (lambda m, x, y: optimization_attack(m, x, y, norm="linf"), ValueError, "Unknown norm"),
    "optimization dlr": (lambda m, x, y: optimization_attack(m, x, y, loss="dlr"), ValueError, "Unknown loss"),
    "optimization c_init": (lambda m, x, y: optimization_attack(m, x, y, c_init=0.0), ValueError, "c_init"),
    "model not callable": (lambda m, x, y: fgsm("model.h5", x, y, eps=0.1), TypeError, "callable"),
    "images without channel axis": (lambda m, x, y: pgd(m, x[..., 0], y, eps=0.1, step_size=0.01, steps=2),
                                    ValueError, r"add it: x\[\.\.\., None\]"),
    "single image without batch axis": (lambda m, x, y: fgsm(m, x[0], y[:1], eps=0.1), ValueError,
                                        r"single image without a batch dimension"),
    "images of another size": (lambda m, x, y: fgsm(m, x[:, :20, :20], y, eps=0.1), ValueError,
                               r"do not fit .* \(None, 28, 28, 1\)"),
    "targets are the true labels": (lambda m, x, y: pgd(m, x, y, eps=0.1, step_size=0.01, steps=2, targeted=True),
                                    ValueError, "Targets equal the model's clean prediction"),
    "targeted fgsm on the true labels": (lambda m, x, y: fgsm(m, x, y, eps=0.1, targeted=True), ValueError,
                                         "look like the true labels"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_raises_clear_error(case, trained_cnn, test_batch):
    attack, error, message = CASES[case]
    x, y = test_batch
    with pytest.raises(error, match=message):
        attack(trained_cnn, x[:8], y[:8])


def test_many_distinct_bad_inputs_are_covered():
    assert len(CASES) >= 15
