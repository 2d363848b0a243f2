"""The XLA setting and the model contract (logits vs probabilities, Keras 2/3, plain callables)."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrobust import config
from tfrobust.logits import as_logits_model, looks_like_probabilities


def test_xla_auto_follows_gpu_presence():
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    with config.xla("auto"):
        assert config.use_xla() is has_gpu
    with config.xla("on"):
        assert config.use_xla() is True
        assert config.compile_function(lambda t: t)._jit_compile is True
    with config.xla(False):
        assert config.use_xla() is False
    assert config.get_xla() == "auto"


@pytest.mark.parametrize("bad", ["sometimes", 2, None, 0.5])
def test_xla_rejects_unknown_settings(bad):
    with pytest.raises(ValueError, match="XLA setting"):
        config.set_xla(bad)


def test_softmax_model_detected_and_attacked_on_log_probabilities(trained_cnn, trained_cnn_softmax, test_batch):
    x, _ = test_batch
    logits_model = as_logits_model(trained_cnn, x)
    prob_model = as_logits_model(trained_cnn_softmax, x)
    assert logits_model.output_kind == "logits" and prob_model.output_kind == "probabilities"
    assert prob_model.num_classes == 10
    # log softmax(z) = z - logsumexp(z): same up to a per-row constant, so same predictions and same CE.
    z = logits_model(x[:16]).numpy()
    log_p = prob_model(x[:16]).numpy()
    np.testing.assert_allclose(log_p, z - np.log(np.exp(z).sum(1, keepdims=True)), atol=1e-4)


def test_probabilities_detected_numerically_for_plain_callables(trained_cnn_softmax, test_batch):
    x, _ = test_batch
    fn = tf.function(lambda t: trained_cnn_softmax(t))
    wrapped = as_logits_model(fn, x)
    assert wrapped.output_kind == "probabilities"
    assert looks_like_probabilities(np.array([[0.2, 0.8], [0.5, 0.5]]))
    assert not looks_like_probabilities(np.array([[0.2, 0.9], [0.5, 0.5]]))
    assert not looks_like_probabilities(np.array([[-1.0, 2.0]]))


def test_non_callable_and_wrong_output_rank_raise(test_batch):
    x, _ = test_batch
    with pytest.raises(TypeError, match="callable"):
        as_logits_model(np.zeros(3))
    with pytest.raises(ValueError, match="batch, classes"):
        as_logits_model(lambda t: tf.reduce_sum(t, axis=[1, 2, 3]), x)
