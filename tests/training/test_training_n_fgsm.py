"""NFGSMModel (de Jorge et al. 2022): perturbation in [-3 eps, 3 eps], not clipped to eps, the FGSM step."""
import json

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from training_helpers import small_cnn

from tfrobust.training import NFGSMModel


def test_perturbation_lies_in_three_eps_and_is_not_clipped_to_eps():
    eps = 0.1
    model = NFGSMModel(small_cnn(seed=15), eps=eps)
    rng = np.random.default_rng(0)
    x = rng.uniform(0.3, 0.7, (16, 28, 28, 1)).astype(np.float32)  # away from the bounds: no domain clipping
    y = rng.integers(0, 10, 16)
    delta = model.adversarial_examples(tf.constant(x), tf.constant(y, tf.int32)).numpy() - x
    assert np.max(np.abs(delta)) <= 3 * eps + 1e-6
    assert np.max(np.abs(delta)) > 2.5 * eps
    assert np.mean(np.abs(delta) > eps) > 0.4  # noise U[-2eps, 2eps] + eps step: |delta| > eps for ~62%
    # The step is eps * sign(grad) at the noisy point: delta - eps * sign(g) is the noise, inside [-2eps, 2eps].
    assert model.alpha == pytest.approx(eps) and model.noise == 2.0


def test_step_matches_the_formula_with_zero_noise_and_clips_to_the_domain():
    inner = small_cnn(seed=16)
    model = NFGSMModel(inner, eps=0.2, noise=0.0)
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (8, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, 8)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(y, inner(xt)))
    expected = np.clip(x + 0.2 * np.sign(tape.gradient(loss, xt).numpy()), 0, 1)
    got = model.adversarial_examples(xt, tf.constant(y, tf.int32)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert got.min() >= 0 and got.max() <= 1


def test_trains_and_round_trips(train_subset):
    x, y = train_subset[0][:300], train_subset[1][:300]
    model = NFGSMModel(small_cnn(seed=17), eps=0.1)
    model.compile(keras.optimizers.Adam(2e-3))
    history = model.fit(x, y, batch_size=100, epochs=2, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    restored = NFGSMModel.from_config(json.loads(json.dumps(model.get_config())))
    assert (restored.eps, restored.alpha, restored.noise) == (0.1, 0.1, 2.0)
    with pytest.raises(ValueError, match="noise"):
        NFGSMModel(small_cnn(), eps=0.1, noise=-1)
