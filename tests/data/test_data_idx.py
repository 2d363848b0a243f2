"""The IDX parser and the Fashion-MNIST loader, on small hand-made files and (when installed) Debian's."""
import gzip
import struct

import numpy as np
import pytest

from tfrobust import data
from tfrobust.data import fashion_mnist
from tfrobust.data.idx import parse_idx, read_idx, write_idx


def _idx_bytes(type_code, dims, payload):
    """An IDX file written straight from the format description (independent of write_idx)."""
    return bytes([0, 0, type_code, len(dims)]) + struct.pack(">" + "I" * len(dims), *dims) + payload


def test_parser_reads_hand_made_files_plain_and_gzipped(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) * 10
    raw = _idx_bytes(0x08, (2, 3, 4), images.tobytes())
    (tmp_path / "plain").write_bytes(raw)
    (tmp_path / "packed.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "packed_without_suffix").write_bytes(gzip.compress(raw))  # detected by content
    for name in ("plain", "packed.gz", "packed_without_suffix"):
        out = read_idx(tmp_path / name)
        assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
        np.testing.assert_array_equal(out, images)


def test_parser_honours_big_endian_multibyte_types():
    values = [1, -2, 300, -40000]
    out = parse_idx(_idx_bytes(0x0C, (4,), struct.pack(">4i", *values)))
    np.testing.assert_array_equal(out, values)
    out = parse_idx(_idx_bytes(0x0D, (2,), struct.pack(">2f", 1.5, -0.25)))
    np.testing.assert_array_equal(out, np.array([1.5, -0.25], np.float32))
    assert out.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_write_then_read_round_trips(tmp_path, dtype):
    array = (np.random.default_rng(0).normal(size=(3, 5, 2)) * 50).astype(dtype)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "a", array)
    assert (tmp_path / "a.gz").read_bytes()[:2] == b"\x1f\x8b"
    for name in ("a.gz", "a"):
        out = read_idx(tmp_path / name)
        assert out.dtype == array.dtype
        np.testing.assert_array_equal(out, array)


@pytest.mark.parametrize("raw, message", [
    (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "two zero bytes"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "unknown IDX type code"),
    (b"\x00\x00\x08\x02\x00\x00\x00\x02\x00\x00\x00\x02\x05\x05\x05", "truncated"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x02", "dimensions"),
])
def test_corrupt_files_raise_clear_errors(raw, message):
    with pytest.raises(ValueError, match=message):
        parse_idx(raw)


@pytest.fixture()
def fake_fashion_dir(tmp_path):
    """Tiny Fashion-MNIST-named IDX files: train gzipped, test plain."""
    rng = np.random.default_rng(1)
    splits = {}
    for prefix, n, suffix in (("train", 12, ".gz"), ("t10k", 5, "")):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        raw_images = _idx_bytes(0x08, images.shape, images.tobytes())
        raw_labels = _idx_bytes(0x08, labels.shape, labels.tobytes())
        if suffix:
            raw_images, raw_labels = gzip.compress(raw_images), gzip.compress(raw_labels)
        (tmp_path / f"{prefix}-images-idx3-ubyte{suffix}").write_bytes(raw_images)
        (tmp_path / f"{prefix}-labels-idx1-ubyte{suffix}").write_bytes(raw_labels)
        splits["train" if prefix == "train" else "test"] = (images, labels)
    return tmp_path, splits


def test_fashion_mnist_loader_reads_idx_files_from_data_dir(fake_fashion_dir):
    directory, splits = fake_fashion_dir
    for split, (images, labels) in splits.items():
        x, y = data.load_numpy("fashion_mnist", split, data_dir=str(directory))
        assert x.dtype == np.float32 and y.dtype == np.int64
        np.testing.assert_array_equal(x, images[..., None].astype(np.float32) / 255)
        np.testing.assert_array_equal(y, labels)
    xb, yb = next(iter(data.load("fashion_mnist", "train", batch_size=8, shuffle=False, data_dir=str(directory))))
    assert xb.shape == (8, 28, 28, 1)
    np.testing.assert_allclose(xb.numpy(), splits["train"][0][:8, ..., None] / 255, atol=1e-7)
    assert data.info("fashion_mnist", data_dir=str(directory)).offline_available


def test_fashion_mnist_directory_from_environment(fake_fashion_dir, monkeypatch):
    directory, splits = fake_fashion_dir
    monkeypatch.setenv(fashion_mnist.ENV_VAR, str(directory))
    _, y = fashion_mnist.load_fashion_mnist("test")
    np.testing.assert_array_equal(y, splits["test"][1])


def test_missing_files_say_how_to_install_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        fashion_mnist.load_fashion_mnist("train", str(tmp_path))


@pytest.mark.skipif(not fashion_mnist.local_files_available(),
                    reason="Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")
def test_real_debian_files_have_the_published_sizes():
    for split, n in (("train", 60_000), ("test", 10_000)):
        x, y = fashion_mnist.load_fashion_mnist_uint8(split)
        assert x.shape == (n, 28, 28, 1) and x.dtype == np.uint8
        np.testing.assert_array_equal(np.bincount(y), [n // 10] * 10)
