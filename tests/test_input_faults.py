"""Faults a new user hits (issue 10): each ends in a clear error or the correct number, never a crash.

Cases: images of the wrong rank (used to abort the process in oneDNN), NaN model outputs (used to give
plausible accuracies), single-output sigmoid classifiers (used to be reported 100% robust), targeted
attacks on the true labels (used to report free success), models with several outputs, unbatched
datasets, and the bounded default chunk that keeps attack memory flat in N.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrobust.attacks import fgsm, pgd
from tfrobust.attacks._inputs import chunks, default_batch_size, prepare
from tfrobust.attacks.losses import cross_entropy, margin
from tfrobust.logits import as_logits_model
from tfrobust.validation import check_dataset_batched, check_finite_logits, check_input_shape, check_targets

PGD = dict(eps=0.1, step_size=0.02, steps=3)


@pytest.fixture(scope="module")
def conv_model():
    """A tiny untrained CNN on 8x8x1 images (a Conv2D, as in the oneDNN crash)."""
    keras.utils.set_random_seed(3)
    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                             keras.layers.Flatten(), keras.layers.Dense(10)])


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return rng.uniform(size=(16, 8, 8, 1)).astype(np.float32), rng.integers(0, 10, size=16)


# --- 1. wrong rank: a clean error, not SIGABRT ---------------------------------------------------

CRASH_SCRIPT = textwrap.dedent("""
    import numpy as np, tf_keras as keras
    from tfrobust.attacks import pgd
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(),
                              keras.layers.Dense(10)])
    x = np.random.default_rng(0).uniform(size=(8, 28, 28, 1)).astype("float32")
    y = np.arange(8)
    pgd(model, x, y, eps=0.1, step_size=0.01, steps=2)  # an ordinary call first, as in the report
    try:
        pgd(model, x[..., 0], y, eps=0.1, step_size=0.01, steps=2)
    except ValueError as error:
        print("CLEAN ERROR:", error)
""")


def test_wrong_rank_after_an_ordinary_call_is_a_clean_error_not_an_abort():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    done = subprocess.run([sys.executable, "-c", CRASH_SCRIPT], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, f"process died with {done.returncode}: {done.stderr[-2000:]}"
    assert "CLEAN ERROR:" in done.stdout and "x[..., None]" in done.stdout, done.stdout


@pytest.mark.parametrize("shape_of, message", [
    (lambda x: x[..., 0], r"channel axis; add it: x\[\.\.\., None\]"),
    (lambda x: x[0], r"single image without a batch dimension; add one: x\[None\]"),
    (lambda x: x[0, ..., 0], r"single image without batch and channel axes"),
    (lambda x: np.transpose(x, (0, 3, 1, 2)), "channels-first"),
    (lambda x: x.reshape(len(x), -1), r"reshape them: x.reshape\(\(-1,\) \+ \(8, 8, 1\)\)"),
    (lambda x: x[:, :6, :6], "do not fit"),
])
def test_images_that_do_not_fit_the_model_say_how_to_fix_them(conv_model, images, shape_of, message):
    x, y = images
    bad = shape_of(x)
    with pytest.raises(ValueError, match=message):
        pgd(conv_model, bad, y[:len(bad)], **PGD)


def test_input_shape_check_matches_free_axes_and_names_the_model():
    check_input_shape((5, 28, 28, 1), (None, 28, 28, None))
    with pytest.raises(ValueError, match=r"do not fit lenet, which takes batches of shape \(None, 28, 28, 1\)"):
        check_input_shape((5, 32, 32, 3), (None, 28, 28, 1), "lenet")
    with pytest.raises(ValueError, match="single image"):  # a flat image of a Dense model
        fgsm(keras.Sequential([keras.Input((16,)), keras.layers.Dense(3)]), np.zeros(16, np.float32), 0, eps=0.1)


def test_tf_function_input_signature_is_checked(images):
    x, y = images
    weights = tf.constant(np.random.default_rng(1).normal(size=(64, 10)).astype(np.float32))
    fn = tf.function(lambda t: tf.reshape(t, [-1, 64]) @ weights,
                     input_signature=[tf.TensorSpec([None, 8, 8, 1], tf.float32)])
    fgsm(fn, x, y, eps=0.1)
    with pytest.raises(ValueError, match="channel axis"):
        fgsm(fn, x[..., 0], y, eps=0.1)


# --- 2. non-finite logits name the examples --------------------------------------------------------

def _nan_model():
    """Logits of a fixed linear map, NaN for the examples whose first pixel is above 0.5."""
    weights = tf.constant(np.random.default_rng(2).normal(size=(64, 10)).astype(np.float32))

    def model(t):
        logits = tf.reshape(t, [-1, 64]) @ weights
        return tf.where(t[:, :1, 0, 0] > 0.5, tf.constant(np.nan, tf.float32), logits)

    return model


def test_nan_logits_are_an_error_naming_the_examples(images):
    x, y = images
    x = x.copy()
    x[:, 0, 0, 0] = 0.1
    x[[2, 5, 11], 0, 0, 0] = 0.9
    for attack in (lambda m: fgsm(m, x, y, eps=0.1), lambda m: pgd(m, x, y, **PGD)):
        with pytest.raises(ValueError, match=r"NaN or infinite values on the clean images for 3 of 16 examples "
                                             r"\(indices 2, 5, 11\)"):
            attack(_nan_model())


def test_check_finite_logits_counts_and_truncates_the_index_list():
    logits = np.zeros((40, 3), np.float32)
    logits[[1, 3, 5, 7, 9, 30], 1] = np.inf
    with pytest.raises(ValueError, match=r"6 of 40 examples \(indices 1, 3, 5, 7, 9, \.\.\.\)"):
        check_finite_logits(logits, "after the attack")
    check_finite_logits(np.ones((4, 3), np.float32))


def test_robust_accuracy_refuses_nan_logits_and_nan_adversarial_images(images):
    """Used to report 0.110 clean / 0.110 robust on a NaN model: argmax of NaN is class 0."""
    from tfrobust.evaluation.robust_accuracy import robust_accuracy

    x, y = images
    x = x.copy()
    x[:, 0, 0, 0] = 0.1
    x[[11, 12], 0, 0, 0] = 0.9  # in the second batch of 8: reported as positions in the data
    y = np.zeros(16, np.int64)  # the NaN rows would count as correct
    with pytest.raises(ValueError, match=r"logits contain NaN or infinite values on the clean images for 2 of 8 "
                                         r"examples \(indices 11, 12\)"):
        robust_accuracy(_nan_model(), x, y, attack="fgsm", eps=0.1, batch_size=8)

    weights = tf.constant(np.random.default_rng(5).normal(size=(64, 10)).astype(np.float32))

    @tf.custom_gradient
    def nan_gradient(t):  # finite forward pass, NaN input gradient: FGSM steps to NaN images
        return t, lambda dy: dy * np.nan

    model = lambda t: tf.reshape(nan_gradient(t), [-1, 64]) @ weights  # noqa: E731
    labels = np.argmax(model(x), axis=1)
    with pytest.raises(ValueError, match=r"adversarial images of fgsm contain NaN or infinite values at eps=0.1 "
                                         r"for 16 of 16 examples"):
        robust_accuracy(model, x, labels, attack="fgsm", eps=0.1)


# --- 3. single-output (N, 1) binary classifiers ------------------------------------------------------

@pytest.fixture(scope="module")
def binary_task():
    """Two linearly separable classes of 4x4x1 images and a trained 1-logit logistic model."""
    rng = np.random.default_rng(4)
    x = rng.uniform(0.2, 0.8, size=(400, 4, 4, 1)).astype(np.float32)
    score = x[:, :, :2].mean(axis=(1, 2, 3)) - x[:, :, 2:].mean(axis=(1, 2, 3))
    keep = np.abs(score) > 0.03
    x, y = x[keep], (score[keep] > 0).astype(np.int64)
    keras.utils.set_random_seed(4)
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.1), keras.losses.BinaryCrossentropy(from_logits=True))
    model.fit(x, y.astype(np.float32), batch_size=64, epochs=30, verbose=0)
    return model, x, y


def _binary_accuracy(model, x, y):
    return float(np.mean((np.asarray(model(x))[:, 0] > 0).astype(np.int64) == y))


def test_fgsm_breaks_a_single_logit_classifier(binary_task):
    model, x, y = binary_task
    clean = _binary_accuracy(model, x, y)
    assert clean > 0.9
    x_adv = fgsm(model, x, y, eps=0.1)
    assert _binary_accuracy(model, x_adv, y) < 0.3
    zeros = y == 0  # the reported case: every label 0, where FGSM returned x unchanged
    x_adv0 = fgsm(model, x[zeros], y[zeros], eps=0.1)
    assert np.abs(np.asarray(x_adv0) - x[zeros]).max() == pytest.approx(0.1, abs=1e-6)
    assert _binary_accuracy(model, x_adv0, y[zeros]) < 0.3
    assert _binary_accuracy(model, pgd(model, x, y, eps=0.1, step_size=0.025, steps=10, seed=0), y) < 0.3


def test_single_logit_cross_entropy_is_bce_and_margin_is_plus_minus_z(binary_task):
    model, x, y = binary_task
    z = np.asarray(model(x), np.float64)[:, 0]
    logits_model = as_logits_model(model, x)
    assert logits_model.num_classes == 2 and logits_model.output_kind == "logits"
    logits = logits_model(x)
    p = 1.0 / (1.0 + np.exp(-z))
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    np.testing.assert_allclose(cross_entropy(logits, tf.constant(y, tf.int32)).numpy(), bce, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(margin(logits, tf.constant(y, tf.int32)).numpy(), np.where(y == 1, -z, z),
                               rtol=1e-5, atol=1e-5)


def test_sigmoid_output_is_turned_back_into_its_logit(binary_task):
    model, x, y = binary_task
    sigmoid = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                                keras.layers.Dense(1, activation="sigmoid")])
    sigmoid.set_weights(model.get_weights())
    logits_model = as_logits_model(sigmoid, x)
    assert logits_model.output_kind == "probabilities" and logits_model.num_classes == 2
    np.testing.assert_allclose(np.asarray(logits_model(x)[:, 1]), np.asarray(model(x))[:, 0], atol=2e-3)
    assert _binary_accuracy(model, fgsm(sigmoid, x, y, eps=0.1), y) < 0.3


# --- 5. targeted attacks on the true labels ---------------------------------------------------------

def test_targeted_attack_on_the_predicted_labels_is_refused(conv_model, images):
    x, _ = images
    predicted = np.argmax(conv_model(x), axis=1)
    with pytest.raises(ValueError, match=r"Targets equal the model's clean prediction for 16 of 16 examples"):
        prepare(conv_model, x, predicted, (0.0, 1.0), targeted=True)
    with pytest.raises(ValueError, match=r"Targets equal the true labels for 2 of 16 examples \(indices 0, 4\)"):
        prepare(conv_model, x, (predicted + 1) % 10, (0.0, 1.0), targeted=True,
                true_labels=np.where(np.isin(np.arange(16), [0, 4]), (predicted + 1) % 10, predicted))
    other = (predicted + 1) % 10
    other[:3] = predicted[:3]  # a few targets the model already predicts are legitimate
    prepare(conv_model, x, other, (0.0, 1.0), targeted=True)


def test_every_targeted_attack_refuses_rows_whose_target_is_the_true_label(conv_model, images):
    """y_true= makes the check exact, in every attack that takes it, by name and through a spec (also at eps 0)."""
    from tfrobust.attacks import Attack, registry

    x, _ = images
    predicted = np.argmax(conv_model(x), axis=1)
    targets = (predicted + 1) % 10
    y_true = predicted.copy()
    y_true[[1, 5]] = targets[[1, 5]]
    message = r"Targets equal the true labels for 2 of 16 examples \(indices 1, 5\)"
    takers = [name for name in registry.names() if "y_true" in registry.get(name).parameters]
    assert {"fgsm", "rfgsm", "pgd", "apgd", "apgd-t", "square", "fab", "fab-minimal", "cw", "optimization",
            "deepfool"} <= set(takers)
    for name in takers:
        entry = registry.get(name)
        kwargs = {"eps": 0.1} if entry.kind == "fixed_eps" else {}
        with pytest.raises(ValueError, match=message):
            entry.function(conv_model, x, targets, targeted=True, y_true=y_true, **kwargs)
    for eps in (0.0, 0.1):
        with pytest.raises(ValueError, match=message):
            Attack("pgd", targeted=True, steps=2)(conv_model, x, targets, eps=eps, y_true=y_true)
    for name in ("apgd", "square"):  # they used to skip the targeted check: the majority rule now applies too
        with pytest.raises(ValueError, match="clean prediction for 16 of 16"):
            registry.get(name).function(conv_model, x, predicted, eps=0.1, targeted=True)


def test_check_targets_majority_rule():
    check_targets([1, 2, 3, 4], [1, 2, 0, 0])  # half: not a majority
    with pytest.raises(ValueError, match="3 of 4"):
        check_targets([1, 2, 3, 4], [1, 2, 3, 0])
    check_targets([1], [1])  # a single example is not evidence of swapped labels


# --- 6. several outputs, unbatched datasets -------------------------------------------------------

def test_model_with_two_outputs_names_them_and_says_to_wrap(images):
    x, y = images
    inputs = keras.Input((8, 8, 1))
    flat = keras.layers.Flatten()(inputs)
    model = keras.Model(inputs, [keras.layers.Dense(10)(flat), keras.layers.Dense(3)(flat)])
    with pytest.raises(ValueError, match=r"returns 2 outputs \(output 0: \(8, 10\), output 1: \(8, 3\)\).*"
                                         r"model.outputs\[0\]"):
        fgsm(model, x, y, eps=0.1)


def test_unbatched_dataset_is_refused_from_its_element_spec(conv_model, images):
    from tfrobust.evaluation.robust_accuracy import robust_accuracy

    x, y = images
    with pytest.raises(ValueError, match=r"single examples .* dataset.batch\(256\)"):
        robust_accuracy(conv_model, tf.data.Dataset.from_tensor_slices((x, y)), attack="fgsm", eps=0.1)
    check_dataset_batched(tf.data.Dataset.from_tensor_slices((x, y)).batch(4))
    result = robust_accuracy(conv_model, tf.data.Dataset.from_tensor_slices((x, y)).batch(4), attack="fgsm", eps=0)
    assert result.n == 16


def test_robust_accuracy_with_a_targeted_attack_is_refused(conv_model, images):
    """robust_accuracy hands the true labels to the attack: as targets, every "success" would be free."""
    from tfrobust.evaluation.robust_accuracy import robust_accuracy

    x, _ = images
    predicted = np.argmax(conv_model(x), axis=1)
    with pytest.raises(ValueError, match="look like the true labels"):
        robust_accuracy(conv_model, x, predicted, attack="pgd:targeted=True,steps=2", eps=0.1)


# --- 7. bounded default chunk -------------------------------------------------------------------------

def test_default_chunk_is_bounded_and_shape_aware():
    assert default_batch_size((50000, 28, 28, 1)) == 512
    assert default_batch_size((10, 32, 32, 3)) == 128
    assert default_batch_size((10, 224, 224, 3)) == 2
    assert default_batch_size((10, 4)) == 1024
    sizes = {s.stop - s.start for s in chunks((10000, 28, 28, 1), None)}
    assert max(sizes) == 512 and sum(s.stop - s.start for s in chunks((10000, 28, 28, 1), None)) == 10000
    assert max(s.stop - s.start for s in chunks(5000, None)) == 512  # a count alone: the fixed default
    assert [s.stop - s.start for s in chunks(10, 4)] == [4, 4, 2]
