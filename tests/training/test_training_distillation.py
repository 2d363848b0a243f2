"""DistillationModel (Hinton et al. 2015; Papernot et al. 2016 defensive distillation)."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from training_helpers import accuracy, small_cnn

from tfrobust.training import DistillationModel


def test_student_at_t_matches_teacher_accuracy(temperature_50, train_subset, mnist5k):
    x, y = train_subset
    _, _, x_test, y_test = mnist5k
    student = DistillationModel(small_cnn(seed=6), temperature_50.inner, temperature=50.0)
    student.compile(keras.optimizers.Adam(2e-3))
    teacher_before = [w.copy() for w in temperature_50.inner.get_weights()]
    history = student.fit(x, y, batch_size=100, epochs=5, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    teacher_accuracy = accuracy(temperature_50.inner, x_test, y_test)
    student_accuracy = accuracy(student.inner, x_test, y_test)  # deployed at T = 1
    assert teacher_accuracy > 0.75
    assert abs(student_accuracy - teacher_accuracy) <= 0.04, (student_accuracy, teacher_accuracy)
    for before, after in zip(teacher_before, temperature_50.inner.get_weights()):
        np.testing.assert_array_equal(before, after)  # the teacher is frozen
    assert len(student.update_variables()) == len(student.inner.trainable_variables)


@pytest.mark.parametrize("alpha", [0.0, 0.4])
def test_loss_is_t_squared_kl_plus_hard_cross_entropy(trained_cnn, alpha):
    student = small_cnn(seed=7)
    model = DistillationModel(student, trained_cnn, temperature=3.0, alpha=alpha)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(0, 1, (8, 28, 28, 1)).astype(np.float32))
    y = tf.constant(rng.integers(0, 10, 8), tf.int32)
    per_example, logits, _ = model.training_loss(x, y, None)

    def log_softmax(z):
        z = z.astype(np.float64)
        z = z - z.max(1, keepdims=True)
        return z - np.log(np.exp(z).sum(1, keepdims=True))

    t, s = trained_cnn(x).numpy(), student(x).numpy()
    p_t = np.exp(log_softmax(t / 3.0))
    kl = np.sum(p_t * (log_softmax(t / 3.0) - log_softmax(s / 3.0)), axis=1)
    hard = -log_softmax(s)[np.arange(8), y.numpy()]
    np.testing.assert_allclose(per_example.numpy(), (1 - alpha) * 9.0 * kl + alpha * hard, rtol=1e-4)


def test_invalid_settings_raise(trained_cnn):
    with pytest.raises(ValueError, match="alpha"):
        DistillationModel(small_cnn(), trained_cnn, temperature=10.0, alpha=2.0)
    with pytest.raises(ValueError, match="different"):
        DistillationModel(trained_cnn, trained_cnn, temperature=10.0)
