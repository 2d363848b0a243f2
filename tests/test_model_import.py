"""Model import: every supported format loads back to the same function; Lambda layers need --unsafe."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrobust.model_import import UnsafeModelError, detect_format, load_model


@pytest.fixture(scope="module")
def small_model():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((6, 6, 1))
    h = keras.layers.Flatten()(inputs)
    outputs = keras.layers.Dense(3)(h)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def batch():
    return np.random.default_rng(0).uniform(size=(4, 6, 6, 1)).astype(np.float32)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_tf_keras_files_round_trip(tmp_path, small_model, batch, suffix):
    path = str(tmp_path / f"m{suffix}")
    small_model.save(path)
    loaded = load_model(path)
    assert loaded.format == "tf_keras"
    np.testing.assert_allclose(loaded.model(batch).numpy(), small_model(batch).numpy(), atol=1e-6)


def test_saved_model_round_trip(tmp_path, small_model, batch):
    path = str(tmp_path / "sm")
    tf.saved_model.save(small_model, path)
    loaded = load_model(path)
    assert loaded.format == "saved_model"
    np.testing.assert_allclose(np.asarray(loaded.model(batch)), small_model(batch).numpy(), atol=1e-6)


def test_keras3_file_round_trip(tmp_path, batch):
    import keras as keras3  # only to write a Keras 3 file, as a user of Keras 3 would

    model3 = keras3.Sequential([keras3.Input((6, 6, 1)), keras3.layers.Flatten(), keras3.layers.Dense(3)])
    path = str(tmp_path / "k3.keras")
    model3.save(path)
    assert detect_format(path) == "keras3"
    loaded = load_model(path)
    np.testing.assert_allclose(np.asarray(loaded.model(batch)), np.asarray(model3(batch)), atol=1e-6)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_lambda_layers_refused_in_safe_mode(tmp_path, batch, suffix):
    inputs = keras.Input((6, 6, 1))
    h = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    outputs = keras.layers.Dense(3)(keras.layers.Flatten()(h))
    model = keras.Model(inputs, outputs)
    path = str(tmp_path / f"lam{suffix}")
    model.save(path)
    with pytest.raises(UnsafeModelError, match="Lambda"):
        load_model(path)
    loaded = load_model(path, safe_mode=False)
    np.testing.assert_allclose(loaded.model(batch).numpy(), model(batch).numpy(), atol=1e-6)


def test_bad_paths_raise_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No model"):
        load_model(str(tmp_path / "missing.keras"))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="format"):
        load_model(str(tmp_path / "notes.txt"))
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(ValueError, match="saved_model.pb"):
        load_model(str(tmp_path / "empty_dir"))


def test_saved_model_with_other_input_shape_gives_a_clear_error(tmp_path, small_model):
    """Used to be a 408-line TensorFlow traceback; .keras/.h5 already had their clear message."""
    from tfrobust.attacks import fgsm

    path = str(tmp_path / "sm")
    tf.saved_model.save(small_model, path)
    loaded = load_model(path)
    assert loaded.input_shape == (6, 6, 1) and loaded.batch_input_shape == (None, 6, 6, 1)
    wrong = np.random.default_rng(0).uniform(size=(4, 5, 5, 1)).astype(np.float32)
    for model in (loaded, loaded.model):  # the LoadedModel and its bare callable
        with pytest.raises(ValueError, match=r"Images of shape \(4, 5, 5, 1\) do not fit sm, which takes batches of "
                                             r"shape \(None, 6, 6, 1\)"):
            fgsm(model, wrong, np.zeros(4, np.int64), eps=0.1)


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_truncated_model_file_is_a_clear_error(tmp_path, small_model, suffix):
    path = tmp_path / f"m{suffix}"
    small_model.save(str(path))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match="truncated|not a valid .keras archive"):
        load_model(str(path))


def test_truncated_saved_model_is_a_clear_error(tmp_path, small_model):
    path = tmp_path / "sm"
    tf.saved_model.save(small_model, str(path))
    pb = path / "saved_model.pb"
    pb.write_bytes(pb.read_bytes()[:100])
    with pytest.raises(ValueError, match="truncated"):
        load_model(str(path))
