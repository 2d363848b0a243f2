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


def test_transfer_matrix_diagonal_is_white_box_and_rows_transfer(trained_cnn, test_batch):
    from tfrobust.evaluation.transfer_check import TransferMatrix, transfer_matrix

    x, y = test_batch
    x, y = x[::4], y[::4]
    def blind(images):  # the CNN with an exactly zero input gradient: FGSM crafted on it moves nothing
        return trained_cnn(images) * 0.0 + tf.stop_gradient(trained_cnn(images))

    matrix = transfer_matrix({"cnn": trained_cnn, "blind": blind}, x, y, attack="fgsm", eps=0.3)
    clean = matrix.clean_accuracy[0]
    assert clean >= 0.9 and matrix.clean_accuracy == [clean, clean]
    np.testing.assert_allclose(matrix.accuracy[1], [clean, clean])  # crafted on the blind copy: x unchanged
    np.testing.assert_allclose(matrix.fooling_rate[1], [0.0, 0.0])
    assert matrix.accuracy[0, 0] == matrix.accuracy[0, 1] <= 0.3  # the same network: transfer = white-box
    assert matrix.fooling_rate[0, 1] >= 0.65 and matrix.mean_off_diagonal() == (matrix.fooling_rate[0, 1] + 0.0) / 2
    again = TransferMatrix.from_dict(matrix.to_dict())
    np.testing.assert_array_equal(again.accuracy, matrix.accuracy)
    assert again.sources == ["cnn", "blind"] and again.attack == matrix.attack == "fgsm"
