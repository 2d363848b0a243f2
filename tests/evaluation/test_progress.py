"""Progress of evaluations (issue 10): a callback sees every batch, a Progbar only on a terminal."""
import io
import sys

import numpy as np
import pytest

from tfrobust.evaluation import epsilon_sweep, robust_accuracy


def test_progress_callback_sees_running_accuracies_that_end_at_the_result(trained_cnn, test_batch):
    x, y = test_batch
    x, y = x[:60], y[:60]
    calls = []
    result = robust_accuracy(trained_cnn, x, y, attack="fgsm", eps=0.1, batch_size=25,
                             progress=lambda done, total, acc: calls.append((done, total, dict(acc))))
    assert [c[0] for c in calls] == [25, 50, 60] and all(c[1] == 60 for c in calls)
    assert calls[-1][2]["clean"] == pytest.approx(result.clean_accuracy)
    assert calls[-1][2]["eps=0.1"] == pytest.approx(result.robust_accuracy)
    assert result.robust_accuracy < result.clean_accuracy  # the attack did something the bar reports


def test_progress_bar_only_on_a_terminal(trained_cnn, test_batch, monkeypatch):
    x, y = test_batch[0][:20], test_batch[1][:20]

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for stream, shown in ((io.StringIO(), False), (Terminal(), True)):
        monkeypatch.setattr(sys, "stdout", stream)
        sweep = epsilon_sweep(trained_cnn, x, y, attack="fgsm", epsilons=[0.0, 0.2], batch_size=10, progress=True)
        text = stream.getvalue()
        monkeypatch.undo()
        assert ("eps=0.2" in text and "example" in text and "fgsm" in text) == shown, text
        assert np.isfinite(sweep.accuracy).all()


def test_bad_progress_value_raises(trained_cnn, test_batch):
    with pytest.raises(TypeError, match="progress must be"):
        robust_accuracy(trained_cnn, *test_batch, attack="fgsm", eps=0.1, progress="yes")


def test_report_and_script_settings_pass_progress_on(trained_cnn, test_batch):
    from tfrobust.report import evaluate_robustness
    from tfrobust.studies.config import ReportSettings

    calls = []
    evaluate_robustness(trained_cnn, test_batch[0][:20], test_batch[1][:20], attacks={"fgsm": "fgsm"},
                        epsilons=[0.1], batch_size=10, progress=lambda *args: calls.append(args))
    assert [c[0] for c in calls] == [10, 20]
    assert ReportSettings().verbose == 1 and ReportSettings(verbose=0).verbose == 0
    with pytest.raises(ValueError, match="--verbose takes 0 or 1"):
        ReportSettings(verbose=2)
