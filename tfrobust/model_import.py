"""Loading someone else's model for evaluation: tf_keras ``.keras``/``.h5``, Keras 3 ``.keras``, SavedModel.

``load_model(path)`` returns a callable from images to outputs that the attacks accept, with the
input shape the file declares (``LoadedModel.batch_input_shape``; for a SavedModel, its signature's),
so images of another shape get a clear error before the first call. A truncated or corrupt file is
a ``ValueError`` that says so, not an h5py or protobuf traceback. Loading is
safe by default: a model that contains ``Lambda`` layers (arbitrary Python code serialised with the
model) is refused unless ``safe_mode=False``. tf_keras enforces this for ``.keras`` files itself but
loads ``.h5`` lambdas silently, so tfrobust inspects the stored configuration of both formats first.
"""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from typing import Any, Callable

import tensorflow as tf
import tf_keras as keras

import tfrobust.models  # noqa: F401  (registers tfrobust's serialisable layers for load_model)
from tfrobust.validation import check_input_shape

FORMATS = ("tf_keras", "keras3", "saved_model")


class UnsafeModelError(ValueError):
    """The model file holds serialised Python code and safe mode is on."""


@dataclass
class LoadedModel:
    """A loaded model: ``model`` is callable on a float32 image batch; ``format`` says how it was read."""

    model: Callable
    format: str
    path: str
    input_shape: Any = None

    def __call__(self, x, training: bool = False):
        return self.model(x)

    @property
    def name(self) -> str:
        """The file or directory name, for messages and result tables."""
        return os.path.basename(os.path.normpath(self.path))

    @property
    def batch_input_shape(self):
        """The input shape with the batch axis first (``None`` where free), or None when unknown.

        ``tfrobust.logits`` compares images with it before the first call, so images that do not fit
        get a clear error instead of TensorFlow's (or oneDNN's) own.
        """
        return None if self.input_shape is None else (None,) + tuple(self.input_shape)


def _has_lambda(config: Any) -> bool:
    if isinstance(config, dict):
        if config.get("class_name") == "Lambda":
            return True
        return any(_has_lambda(v) for v in config.values())
    if isinstance(config, list):
        return any(_has_lambda(v) for v in config)
    return False


def _refuse_if_lambda(config: dict, path: str, safe_mode: bool) -> None:
    if safe_mode and _has_lambda(config):
        raise UnsafeModelError(
            f"{path} contains a Lambda layer, i.e. Python code that runs when the model is loaded. Refusing in "
            f"safe mode; if you trust the file, load it with safe_mode=False (evaluate_model.py --unsafe)."
        )


def _keras_zip_metadata(path: str):
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
        metadata = json.loads(archive.read("metadata.json")) if "metadata.json" in archive.namelist() else {}
    return config, metadata


def _saved_model_callable(path: str) -> Callable:
    loaded = tf.saved_model.load(path)
    signature = loaded.signatures.get("serving_default") if hasattr(loaded, "signatures") else None
    if signature is None:
        if callable(loaded):
            return loaded
        raise ValueError(f"SavedModel at {path} has no 'serving_default' signature and is not callable.")
    _, kwargs_spec = signature.structured_input_signature
    if len(kwargs_spec) != 1:
        raise ValueError(
            f"SavedModel at {path} takes inputs {sorted(kwargs_spec)}; tfrobust needs a single image input.")
    input_name = next(iter(kwargs_spec))
    spec = kwargs_spec[input_name]
    dtype = spec.dtype
    shape = tuple(spec.shape.as_list()) if spec.shape.rank is not None else None

    def call(x):
        if shape is not None:
            check_input_shape(tuple(x.shape), shape, f"the SavedModel at {path}")
        outputs = signature(**{input_name: tf.cast(x, dtype)})
        if len(outputs) != 1:
            shapes = ", ".join(f"{k}: {tuple(v.shape)}" for k, v in sorted(outputs.items()))
            raise ValueError(f"SavedModel at {path} returns {len(outputs)} outputs ({shapes}); tfrobust attacks "
                             f"one logits tensor: export a signature that returns only the logits.")
        return next(iter(outputs.values()))

    call._tfrobust_keepalive = loaded  # keep the loaded object (and its variables) alive
    call.batch_input_shape = shape
    call.name = os.path.basename(os.path.normpath(path))
    return call


def _unreadable(path: str, error: Exception) -> ValueError:
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    return ValueError(
        f"{path} cannot be read as a model ({type(error).__name__}: {reason}); the file may be truncated or "
        f"still being written. Save or download it again.")


def detect_format(path: str) -> str:
    """Returns "tf_keras", "keras3" or "saved_model" for a model path, or raises a clear error."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"No model at {path!r}.")
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "saved_model.pb")):
            return "saved_model"
        raise ValueError(f"{path} is a directory without saved_model.pb; expected a SavedModel, .keras or .h5.")
    if path.endswith(".h5") or path.endswith(".hdf5"):
        return "tf_keras"
    if path.endswith(".keras"):
        if not zipfile.is_zipfile(path):
            raise ValueError(f"{path} is not a valid .keras archive (not a zip file).")
        _, metadata = _keras_zip_metadata(path)
        return "keras3" if str(metadata.get("keras_version", "2")).startswith("3") else "tf_keras"
    raise ValueError(f"Cannot tell the format of {path!r}: use a .keras or .h5 file or a SavedModel directory.")


def load_model(path: str, safe_mode: bool = True, custom_objects: dict | None = None) -> LoadedModel:
    """Loads a model for attacking, whatever Keras wrote it.

    Args:
        path: a ``.keras`` file (tf_keras or Keras 3), a ``.h5`` file (tf_keras), or a SavedModel directory.
        safe_mode: refuse models with Lambda layers (serialised Python code). Default True.
        custom_objects: extra classes needed to deserialise custom layers (tfrobust's own are registered).

    Returns:
        A ``LoadedModel`` whose ``model`` maps float32 images to outputs (logits or probabilities).

    Raises:
        FileNotFoundError, ValueError: missing, unrecognised or unreadable (e.g. truncated) file;
            UnsafeModelError: Lambda in safe mode.
    """
    import tfrobust.layers  # noqa: F401  (registers tfrobust's serialisable layers ...)
    import tfrobust.models  # noqa: F401  (... and the models' Normalize layer)

    fmt = detect_format(path)
    if fmt == "saved_model":
        try:
            model = _saved_model_callable(path)
        except (OSError, tf.errors.OpError) as error:  # a truncated or corrupt saved_model.pb / variables
            raise _unreadable(path, error) from None
        shape = model.batch_input_shape if hasattr(model, "batch_input_shape") else None
        return LoadedModel(model, fmt, path, None if shape is None else tuple(shape[1:]))
    if fmt == "keras3":
        import keras as keras3  # Keras 3 files can only be read by Keras 3; isolated here on purpose.

        config, _ = _keras_zip_metadata(path)
        _refuse_if_lambda(config, path, safe_mode)
        model = keras3.saving.load_model(path, compile=False, safe_mode=safe_mode, custom_objects=custom_objects)
        return LoadedModel(model, fmt, path, tuple(model.input_shape[1:]))
    if path.endswith(".keras"):
        config, _ = _keras_zip_metadata(path)
    else:
        import h5py

        try:
            with h5py.File(path, "r") as handle:
                raw = handle.attrs.get("model_config")
        except OSError as error:  # h5py: truncated file, not an HDF5 file, ...
            raise _unreadable(path, error) from None
        if raw is None:
            raise ValueError(f"{path} holds weights only (no model_config); save the whole model.")
        config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    _refuse_if_lambda(config, path, safe_mode)
    kwargs = {"compile": False, "custom_objects": custom_objects}
    if path.endswith(".keras"):
        kwargs["safe_mode"] = safe_mode
    try:
        model = keras.models.load_model(path, **kwargs)
    except (OSError, KeyError, zipfile.BadZipFile, EOFError) as error:  # weights cut off part way
        raise _unreadable(path, error) from None
    return LoadedModel(model, fmt, path, tuple(model.input_shape[1:]))
