"""CIFAR-style augmentation: every output is a shifted (and maybe mirrored) crop of the padded input."""
import numpy as np
import pytest
import tensorflow as tf

from tfrobust import data
from tfrobust.data.augment import random_crop_flip


def _candidates(image, padding, pad_mode):
    """All (2p+1)^2 crops of the padded image and their mirrors, computed in numpy: {(dy, dx, flip): crop}."""
    h, w = image.shape[:2]
    widths = ((padding, padding), (padding, padding), (0, 0))
    padded = np.pad(image, widths, mode="reflect") if pad_mode == "reflect" else np.pad(image, widths)
    out = {}
    for dy in range(2 * padding + 1):
        for dx in range(2 * padding + 1):
            crop = padded[dy:dy + h, dx:dx + w]
            out[(dy, dx, False)] = crop
            out[(dy, dx, True)] = crop[:, ::-1]
    return out


def _matching_transforms(original, augmented, padding, pad_mode):
    """The (dy, dx, flip) that reproduce ``augmented``; several when reflect padding makes crops coincide."""
    matches = [key for key, crop in _candidates(original, padding, pad_mode).items()
               if np.array_equal(crop, augmented)]
    assert matches, "augmented image is not a crop/flip of the padded original"
    return matches


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((64, 12, 10, 3), dtype=np.float32)


@pytest.mark.parametrize("pad_mode", ["reflect", "zero"])
def test_every_output_is_a_crop_or_mirrored_crop_of_the_padded_input(images, pad_mode):
    out = random_crop_flip(images, tf.constant([1, 2]), padding=4, pad_mode=pad_mode).numpy()
    assert out.shape == images.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    transforms = [_matching_transforms(x, a, 4, pad_mode) for x, a in zip(images, out)]
    offsets = {(dy, dx) for matches in transforms for dy, dx, _ in matches}
    flips = sum(all(flip for _, _, flip in matches) for matches in transforms)
    assert len(offsets) > 25  # offsets spread over the 81 possible (dy, dx)
    assert 16 <= flips <= 48  # about half mirrored (binomial(64, 1/2): mean 32, sd 4)
    assert sum(np.array_equal(a, x) for x, a in zip(images, out)) < 4  # it does change images


def test_same_seed_same_output_other_seed_other_output(images):
    a = random_crop_flip(images, [5, 6]).numpy()
    b = random_crop_flip(images, [5, 6]).numpy()
    c = random_crop_flip(images, [5, 7]).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_single_image_no_flip_and_zero_padding(images):
    out = random_crop_flip(images[0], [3, 4], padding=2, flip=False).numpy()
    assert out.shape == images[0].shape
    assert any(not flip for _, _, flip in _matching_transforms(images[0], out, 2, "reflect"))
    np.testing.assert_array_equal(random_crop_flip(images, [0, 1], padding=0, flip=False).numpy(), images)


@pytest.mark.parametrize("kwargs, error", [
    (dict(padding=-1), "padding"),
    (dict(padding=1.5), "padding"),
    (dict(pad_mode="wrap"), "pad_mode"),
    (dict(padding=10), "smaller than the image"),
])
def test_bad_options_raise(images, kwargs, error):
    with pytest.raises(ValueError, match=error):
        random_crop_flip(images, [0, 0], **kwargs)


def test_pipeline_augmentation_is_seeded_changes_each_epoch_and_is_train_only():
    options = dict(num_examples=32, input_shape=(8, 8, 3))
    clean = next(data.load("synthetic", "train", 32, shuffle=False, **options).as_numpy_iterator())[0]
    ds = data.load("synthetic", "train", 32, shuffle=False, augment=True, seed=4, **options)
    epoch1 = next(ds.as_numpy_iterator())[0]
    epoch2 = next(ds.as_numpy_iterator())[0]
    again = next(data.load("synthetic", "train", 32, shuffle=False, augment=True, seed=4, **options)
                 .as_numpy_iterator())[0]
    np.testing.assert_array_equal(epoch1, again)
    assert not np.array_equal(epoch1, epoch2)
    for x, a in zip(clean, epoch1):
        _matching_transforms(x, a, 4, "reflect")
    no_flip = next(data.load("synthetic", "train", 32, shuffle=False, seed=4, augment=data.CropFlip(flip=False),
                             **options).as_numpy_iterator())[0]
    for x, a in zip(clean, no_flip):  # (8-pixel images: a crop may also equal a mirrored crop)
        assert any(not flip for _, _, flip in _matching_transforms(x, a, 4, "reflect"))
    with pytest.raises(ValueError, match="training data only"):
        data.load("synthetic", "test", augment=True)
