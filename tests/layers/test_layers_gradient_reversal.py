"""GradientReversal: identity forward, exactly -lambda * upstream backward, lambda changes without retracing."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrobust.layers import GradientReversal, GradientReversalSchedule, ganin_lambda


def test_forward_identity_and_reversed_gradient():
    x = tf.random.stateless_normal((4, 3), seed=(0, 1))
    upstream = tf.random.stateless_normal((4, 3), seed=(0, 2))
    layer = GradientReversal(lam=0.7)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(y * upstream)
    np.testing.assert_array_equal(y.numpy(), x.numpy())
    np.testing.assert_array_equal(tape.gradient(loss, x).numpy(), (-np.float32(0.7) * upstream).numpy())
    assert layer.trainable_weights == []


def test_lambda_change_applies_inside_tf_function_without_retracing():
    layer = GradientReversal(lam=1.0)
    traces = []

    @tf.function
    def input_gradient(x):
        traces.append(1)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x) * 3.0)
        return tape.gradient(loss, x)

    x = tf.ones((2, 2))
    np.testing.assert_array_equal(input_gradient(x).numpy(), -3.0 * np.ones((2, 2)))
    layer.set_lambda(0.25)
    np.testing.assert_array_equal(input_gradient(x).numpy(), -0.75 * np.ones((2, 2)))
    layer.lam.assign(-2.0)
    np.testing.assert_array_equal(input_gradient(x).numpy(), 6.0 * np.ones((2, 2)))
    assert len(traces) == 1


def test_schedule_callback_sets_lambda_during_fit():
    inputs = keras.Input((3,))
    reversal = GradientReversal(lam=0.0)
    model = keras.Model(inputs, keras.layers.Dense(1)(reversal(inputs)))
    model.compile("sgd", "mse")
    seen = []
    probe = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(float(reversal.lam.numpy())))
    schedule = GradientReversalSchedule(lambda epoch: 0.1 * (epoch + 1), per="epoch")
    model.fit(np.ones((8, 3)), np.ones((8, 1)), batch_size=4, epochs=3, verbose=0, callbacks=[schedule, probe])
    np.testing.assert_allclose(seen, [0.1, 0.2, 0.3], rtol=1e-6)
    assert ganin_lambda(0.0) == 0.0 and abs(ganin_lambda(1.0) - 0.99991) < 1e-5


def test_gradient_reversal_rejects_bad_lambda():
    with pytest.raises(TypeError, match="lam"):
        GradientReversal(lam="big")
    with pytest.raises(ValueError, match="per"):
        GradientReversalSchedule(lambda e: 1.0, per="step")
