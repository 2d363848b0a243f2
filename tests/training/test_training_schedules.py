"""Learning-rate schedules against their formulas."""
import numpy as np
import pytest
import tf_keras as keras

from tfrobust.training import PiecewiseLinearSchedule, TriangularCyclicSchedule, one_cycle, piecewise_linear

STEPS = [0, 1, 7, 39, 40, 41, 63, 99, 100, 150]


def test_piecewise_linear_matches_numpy_interp():
    # Wong et al. MNIST: 0 -> 5e-3 at 2/5 of training -> 0 (100 steps).
    schedule = piecewise_linear([0, 40, 100], [0.0, 5e-3, 0.0])
    expected = np.interp(STEPS, [0, 40, 100], [0.0, 5e-3, 0.0])
    np.testing.assert_allclose([float(schedule(s)) for s in STEPS], expected, rtol=1e-6, atol=1e-12)
    assert float(schedule(20)) == pytest.approx(2.5e-3)


def test_piecewise_linear_is_constant_outside_the_boundaries():
    schedule = piecewise_linear([10, 20, 30], [0.1, 0.3, 0.2])
    assert float(schedule(0)) == pytest.approx(0.1)
    assert float(schedule(15)) == pytest.approx(0.2)
    assert float(schedule(25)) == pytest.approx(0.25)
    assert float(schedule(1000)) == pytest.approx(0.2)


def test_one_cycle_is_the_triangle():
    schedule = one_cycle(100, 0.2)
    for step in STEPS:
        expected = 0.2 * (step / 50 if step <= 50 else max(0.0, (100 - step) / 50))
        assert float(schedule(step)) == pytest.approx(expected, abs=1e-7)


def test_triangular_cyclic_matches_smith_formula():
    schedule = TriangularCyclicSchedule(0.01, 0.1, half_cycle_steps=10)
    for step in range(0, 65, 3):
        cycle = np.floor(1 + step / 20)
        u = abs(step / 10 - 2 * cycle + 1)
        assert float(schedule(step)) == pytest.approx(0.01 + 0.09 * max(0.0, 1 - u), abs=1e-7)
    assert float(schedule(10)) == pytest.approx(0.1) and float(schedule(20)) == pytest.approx(0.01)


def test_schedules_serialise():
    for schedule in (one_cycle(30, 0.5, peak_fraction=0.2), TriangularCyclicSchedule(0.0, 1.0, 4)):
        restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
        assert type(restored) is type(schedule)
        assert [float(restored(s)) for s in range(0, 30, 5)] == pytest.approx([float(schedule(s)) for s in range(0, 30, 5)])


def test_invalid_schedules_raise():
    with pytest.raises(ValueError, match="increasing"):
        PiecewiseLinearSchedule([0, 10, 10], [0.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="same length"):
        piecewise_linear([0, 10], [0.0])
    with pytest.raises(ValueError, match="peak_fraction"):
        one_cycle(100, 0.1, peak_fraction=1.0)
    with pytest.raises(ValueError, match="max_lr"):
        TriangularCyclicSchedule(0.1, 0.01, 10)
