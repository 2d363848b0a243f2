"""CatastrophicOverfittingDetector: FGSM and PGD accuracy in the epoch logs and TensorBoard, and the flag."""
import glob

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from training_helpers import accuracy, small_cnn

from tfrobust.attacks import fgsm
from tfrobust.training import CatastrophicOverfittingDetector, FastAdversarialModel


def _tensorboard_scalars(log_dir):
    values = {}
    for path in glob.glob(f"{log_dir}/train/events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                values.setdefault(value.tag, []).append(float(tf.make_ndarray(value.tensor)))
    return values


def test_detector_logs_fgsm_and_pgd_accuracy_to_history_and_tensorboard(trained_cnn, test_batch, tmp_path):
    x, y = test_batch[0][::2], test_batch[1][::2]
    clone = keras.models.clone_model(trained_cnn)
    clone.set_weights(trained_cnn.get_weights())
    model = FastAdversarialModel(clone, eps=0.1)
    model.compile(keras.optimizers.SGD(0.0))  # weights fixed: every epoch measures the same model
    detector = CatastrophicOverfittingDetector(x, y, eps=0.1, threshold=0.03)
    history = model.fit(x, y, batch_size=100, epochs=2, verbose=0,
                        callbacks=[detector, keras.callbacks.TensorBoard(str(tmp_path))])
    fgsm_acc = history.history["co_fgsm_accuracy"]
    pgd_acc = history.history["co_pgd_accuracy"]
    # FGSM accuracy equals the library's FGSM attack, computed separately.
    expected_fgsm = accuracy(trained_cnn, np.asarray(fgsm(trained_cnn, x, y, eps=0.1)), y)
    assert fgsm_acc == pytest.approx([expected_fgsm] * 2, abs=1e-6)
    # PGD-10 is stronger than FGSM on a standard model, and the gap is flagged above the threshold.
    assert pgd_acc[0] < fgsm_acc[0] - 0.03, (fgsm_acc, pgd_acc)
    assert history.history["co_gap"] == pytest.approx([f - p for f, p in zip(fgsm_acc, pgd_acc)])
    assert detector.overfitting_epochs == [0, 1] and detector.collapsed_epoch == 0
    scalars = _tensorboard_scalars(tmp_path)
    assert scalars["epoch_co_pgd_accuracy"] == pytest.approx(pgd_acc)
    assert scalars["epoch_co_fgsm_accuracy"] == pytest.approx(fgsm_acc)


def test_no_flag_when_the_gap_is_small_and_bad_inputs(trained_cnn, test_batch):
    x, y = test_batch[0][::4], test_batch[1][::4]
    model = FastAdversarialModel(trained_cnn, eps=0.02)
    model.compile(keras.optimizers.SGD(0.0))
    detector = CatastrophicOverfittingDetector(x, y, eps=0.02)  # tiny eps: both accuracies near clean
    model.fit(x, y, batch_size=50, epochs=1, verbose=0, callbacks=[detector])
    entry = detector.history[0]
    assert entry["gap"] < 0.3 and detector.overfitting_epochs == []
    assert entry["pgd_accuracy"] <= entry["fgsm_accuracy"] + 0.05
    with pytest.raises(ValueError, match="eps"):
        CatastrophicOverfittingDetector(x, y, eps=-1.0)
    with pytest.raises(TypeError, match="integer"):
        CatastrophicOverfittingDetector(np.zeros((2, 28, 28, 1), np.uint8), [0, 1], eps=0.1)
