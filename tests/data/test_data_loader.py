"""tfrobust.data.load / load_numpy / info: the synthetic source, options, and clear errors on bad input."""
import numpy as np
import pytest
import tensorflow as tf

from tfrobust import data


def test_synthetic_is_deterministic_balanced_and_learnable():
    x, y = data.load_numpy("synthetic", "train", num_examples=100, input_shape=(6, 5, 2), num_classes=4)
    x2, y2 = data.load_numpy("synthetic", "train", num_examples=100, input_shape=(6, 5, 2), num_classes=4)
    xt, yt = data.load_numpy("synthetic", "test", num_examples=100, input_shape=(6, 5, 2), num_classes=4)
    assert x.shape == (100, 6, 5, 2) and x.dtype == np.float32 and y.dtype == np.int64
    assert x.min() >= 0 and x.max() <= 1
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(np.bincount(y), [25] * 4)
    assert not np.array_equal(x, xt)
    # classes are separable: the nearest class mean of the train split labels the test split perfectly
    means = np.stack([x[y == c].mean(0) for c in range(4)])
    distances = ((xt[:, None] - means[None]) ** 2).reshape(100, 4, -1).sum(-1)
    np.testing.assert_array_equal(distances.argmin(1), yt)
    other = data.load_numpy("synthetic", "train", num_examples=100, input_shape=(6, 5, 2), num_classes=4,
                            data_seed=1)[0]
    assert not np.array_equal(x, other)


def test_batches_element_spec_take_and_unbatched():
    ds = data.load("synthetic", "train", batch_size=16, take=40, num_examples=100)
    assert ds.element_spec[0].shape.as_list() == [None, 28, 28, 1]
    assert ds.element_spec[0].dtype == tf.float32 and ds.element_spec[1].dtype == tf.int64
    assert [len(y) for _, y in ds.as_numpy_iterator()] == [16, 16, 8]
    # take picks the same first 40 examples whatever the seed
    subset = np.sort(np.concatenate([y for _, y in ds.as_numpy_iterator()]))
    other_seed = data.load("synthetic", "train", batch_size=16, take=40, seed=9, num_examples=100)
    np.testing.assert_array_equal(subset, np.sort(np.concatenate([y for _, y in other_seed.as_numpy_iterator()])))
    single = data.load("synthetic", "test", batch_size=None, num_examples=3)
    assert single.element_spec[0].shape.as_list() == [28, 28, 1]


def test_info_describes_datasets():
    assert data.info("MNIST5K").splits == {"train": 4000, "test": 1000, "all": 5000}
    assert data.info("imagenette", image_size=96).input_shape == (96, 96, 3)
    assert data.info("cifar10").class_names[0] == "airplane"
    synthetic = data.info("synthetic", input_shape=(4, 4, 3), num_classes=3, num_examples=7)
    assert synthetic.input_shape == (4, 4, 3) and synthetic.num_classes == 3 and synthetic.splits["test"] == 7
    assert data.info("mnist5k").offline_available and synthetic.offline_available


@pytest.mark.parametrize("call, error, message", [
    (lambda: data.load("svhn"), ValueError, "mnist5k, fashion_mnist, mnist, cifar10, imagenette, synthetic"),
    (lambda: data.load("mnist5k", "validation"), ValueError, "train, test, all"),
    (lambda: data.load("cifar10", "val"), ValueError, "train, test"),
    (lambda: data.load("mnist5k", batch_size=0), ValueError, "batch_size"),
    (lambda: data.load("mnist5k", take=-5), ValueError, "take"),
    (lambda: data.load("mnist5k", seed=1.5), ValueError, "seed"),
    (lambda: data.load("mnist5k", augment="yes"), TypeError, "CropFlip"),
    (lambda: data.load("mnist5k", image_size=64), TypeError, "no extra options"),
    (lambda: data.load("imagenette", image_size=0), ValueError, "image_size"),
    (lambda: data.load("synthetic", input_shape=(28, 28)), ValueError, "input_shape"),
    (lambda: data.load("synthetic", num_classes=1), ValueError, "num_classes"),
    (lambda: data.load_numpy("synthetic", "test", num_examples=0), ValueError, "num_examples"),
    (lambda: data.CropFlip(pad_mode="edge"), ValueError, "reflect, zero"),
])
def test_bad_arguments_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
