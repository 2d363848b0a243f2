"""TFDS-backed datasets with tfds.testing.mock_data (offline), and the fast, clear offline failure."""
import time

import numpy as np
import pytest
import tensorflow_datasets as tfds

from tfrobust import data
from tfrobust.data import tfds_source


@pytest.mark.parametrize("name, split, shape", [
    ("mnist", "train", (28, 28, 1)),
    ("cifar10", "test", (32, 32, 3)),
    ("imagenette", "test", (64, 64, 3)),  # default image_size; "test" is TFDS's "validation"
])
def test_mocked_tfds_datasets_arrive_as_float_images_in_unit_range(name, split, shape):
    with tfds.testing.mock_data(num_examples=7):
        batches = list(data.load(name, split, batch_size=4).as_numpy_iterator())
    assert [len(b[1]) for b in batches] == [4, 3]
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    assert x.shape == (7,) + shape and x.dtype == np.float32
    assert y.dtype == np.int64 and y.min() >= 0 and y.max() < 10
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert x.max() > 0.5  # random uint8 pixels were divided by 255, not by 255**2
    assert data.info(name).input_shape == shape


def test_mocked_imagenette_is_resized_to_image_size_and_larger_sizes_use_a_larger_variant():
    with tfds.testing.mock_data(num_examples=3):
        x, y = data.load_numpy("imagenette", "train", image_size=40)
        big, _ = data.load_numpy("imagenette", "test", take=1, image_size=200)
    assert x.shape == (3, 40, 40, 3) and big.shape == (1, 200, 200, 3)
    assert data.catalog.tfds_name("imagenette", {"image_size": 200}) == "imagenette/320px-v2"


def test_fashion_mnist_falls_back_to_tfds_when_the_idx_files_are_absent(tmp_path):
    with tfds.testing.mock_data(num_examples=5):
        x, y = data.load_numpy("fashion_mnist", "test", data_dir=str(tmp_path))
    assert x.shape == (5, 28, 28, 1) and x.dtype == np.float32 and y.dtype == np.int64


def test_resize_and_center_crop_keeps_the_aspect_ratio():
    # a 20x40 image whose left and right quarters are black: the central square is white. A squashing
    # resize would keep black columns at the borders; the crop keeps only antialiasing blur at its edge.
    image = np.zeros((20, 40, 3), np.uint8)
    image[:, 10:30] = 255
    out = data.loader.resize_and_center_crop(image, 10).numpy()
    assert out.shape == (10, 10, 3) and out.dtype == np.uint8
    assert out[:, 1:-1].min() == 255 and out.min() > 128


def test_mocked_train_split_is_shuffled_reproducibly():
    with tfds.testing.mock_data(num_examples=20):
        a = np.concatenate([y for _, y in data.load("mnist", "train", batch_size=5, seed=3).as_numpy_iterator()])
        b = np.concatenate([y for _, y in data.load("mnist", "train", batch_size=5, seed=3).as_numpy_iterator()])
        plain = np.concatenate([y for _, y in data.load("mnist", "train", batch_size=5, shuffle=False)
                                .as_numpy_iterator()])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.sort(a), np.sort(plain))
    assert not np.array_equal(a, plain)


def test_offline_cifar10_fails_fast_with_a_message_naming_the_offline_datasets(tmp_path, monkeypatch):
    # A dead proxy makes every machine offline for this test (so none starts a 160 MB download).
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    start = time.perf_counter()
    with pytest.raises(data.DatasetUnavailableError) as err:
        data.load("cifar10", "train", data_dir=str(tmp_path))
    elapsed = time.perf_counter() - start
    assert elapsed < 20
    message = str(err.value)
    for needle in ("cifar10", "internet", "data_dir", "mnist5k", "fashion_mnist", "apt-get install"):
        assert needle in message
    assert not data.info("cifar10", data_dir=str(tmp_path)).offline_available
    assert isinstance(err.value, RuntimeError)


def test_unresolvable_host_is_reported_unreachable_within_the_timeout():
    start = time.perf_counter()
    reachable, why = tfds_source.host_reachable("no-such-host.invalid", 443, timeout=1.0)
    assert not reachable and why
    assert time.perf_counter() - start < 2.0


def test_failed_download_becomes_the_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(tfds_source, "host_reachable", lambda host, port: (True, ""))

    def missing_module(self, *args, **kwargs):
        raise ModuleNotFoundError("No module named 'importlib_resources'", name="importlib_resources")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", missing_module)
    with pytest.raises(data.DatasetUnavailableError, match="pip install importlib_resources") as err:
        data.load("mnist", "test", data_dir=str(tmp_path))
    assert isinstance(err.value.__cause__, ModuleNotFoundError)
    assert "mnist5k" in str(err.value)
