"""The substitute-transfer masking check fires on a model with vanishing input gradients, not on the CNN."""
import numpy as np
import tensorflow as tf

from tfrobust.evaluation.transfer_check import substitute_transfer_check


def test_transfer_beats_white_box_on_a_gradient_masked_model(trained_cnn, trained_cnn_softmax, test_batch):
    x, y = test_batch
    x, y = x[::4], y[::4]

    def masked(images):  # the CNN on 4-level quantised pixels, its input gradient stopped: exactly zero
        quantised = images + tf.stop_gradient(tf.round(images * 3.0) / 3.0 - images)
        return trained_cnn(quantised) * 0.0 + tf.stop_gradient(trained_cnn(quantised))

    check = substitute_transfer_check(masked, trained_cnn, x, y, eps=0.3, attack="pgd:steps=10")
    assert check["fired"] and check["white_box_accuracy"] >= 0.9 and check["transfer_accuracy"] <= 0.5, check
    plain = substitute_transfer_check(trained_cnn, trained_cnn_softmax, x, y, eps=0.3, attack="pgd:steps=10")
    assert not plain["fired"], plain
