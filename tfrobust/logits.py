"""The model contract: any differentiable callable from images to logits.

Attacks and evaluation call ``as_logits_model(model)`` once. It accepts tf_keras models, Keras 3
models, SavedModel signatures and plain TF callables. A model whose output is a probability
vector (ends in softmax) is detected and attacked on log-probabilities, with a warning: cross
entropy on saturated probabilities has zero gradient (Carlini & Wagner 2016), so treating such
outputs as logits would give silently wrong, too optimistic numbers.

Single-output binary classifiers (output shape (batch, 1)) are supported as two-class models. A
logit z (the model ends in a linear unit) becomes the two logits [0, z]; then

    softmax([0, z]) = [1 - sigmoid(z), sigmoid(z)],   CE([0, z], y) = BCE(sigmoid(z), y),

and the Carlini-Wagner margin z_y - z_other is +z for y = 1 and -z for y = 0, so every attack loss
keeps its meaning. A sigmoid probability p (the model ends in a sigmoid, or its outputs all lie in
[0, 1]) is turned back into its logit z = log(p) - log(1 - p) first.

Before the first call, the images' shape is compared with the input shape the model declares
(tf_keras / Keras 3 ``input_shape``, a SavedModel signature, a ``tf.function`` input signature):
images of the wrong rank can abort the whole process inside oneDNN instead of raising.
"""
from __future__ import annotations

import logging
from typing import Callable, Optional, Tuple

import numpy as np
import tensorflow as tf

from tfrobust.validation import check_input_shape

logger = logging.getLogger("tfrobust")
_warned: set = set()

OUTPUT_KINDS = ("auto", "logits", "probabilities")
_SIGMOID_CLIP = 1e-7  # float32 keeps 1 - 1e-7 distinct from 1


def _last_activation(model) -> Optional[str]:
    """"softmax", "sigmoid" or None: the activation of a Keras model's last layer."""
    try:
        layers = getattr(model, "layers", None)
    except Exception:  # noqa: BLE001  (a weak proxy to a deleted model, or an unbuilt model)
        return None
    if not layers:
        return None
    last = layers[-1]
    if type(last).__name__ == "Softmax":
        return "softmax"
    name = getattr(getattr(last, "activation", None), "__name__", None)
    if type(last).__name__ == "Activation" and name is None:
        name = getattr(last, "activation", None)
    return name if name in ("softmax", "sigmoid") else None


def _last_layer_is_softmax(model) -> bool:
    return _last_activation(model) == "softmax"


def looks_like_probabilities(outputs, atol: float = 1e-3) -> bool:
    """True when every row is non-negative, at most 1 and sums to 1 (a softmax output)."""
    out = np.asarray(outputs, dtype=np.float64)
    if out.ndim != 2 or out.shape[1] < 2:
        return False
    return bool(np.all(out >= -1e-6) and np.all(out <= 1 + 1e-6) and np.allclose(out.sum(axis=1), 1.0, atol=atol))


def _is_keras_object(model) -> bool:
    return any(cls.__module__.split(".")[0] in ("keras", "tf_keras") for cls in type(model).__mro__)


def _single_spec_shape(specs) -> Optional[Tuple]:
    flat = [s for s in tf.nest.flatten(specs) if isinstance(s, tf.TensorSpec)]
    if len(flat) != 1 or flat[0].shape.rank is None:
        return None
    return tuple(flat[0].shape.as_list())


def declared_input_shape(model) -> Optional[Tuple]:
    """The input shape (batch axis first, ``None`` for free axes) that ``model`` declares, if any.

    Read from ``tfrobust.model_import.LoadedModel.batch_input_shape``, a SavedModel signature or
    concrete function (``structured_input_signature``), a ``tf.function`` with an ``input_signature``,
    or a single-input tf_keras / Keras 3 model (``input_shape``). ``None`` for anything else (plain
    callables, subclassed models that were never built, multi-input models).
    """
    if isinstance(model, LogitsModel):
        model = model.model
    try:
        shape = getattr(model, "batch_input_shape", None)
        if shape is not None and not _is_keras_object(model):
            return tuple(shape)
        signature = getattr(model, "structured_input_signature", None)
        if signature is not None:
            return _single_spec_shape(signature)
        signature = getattr(model, "input_signature", None)
        if signature is not None and isinstance(model, tf.types.experimental.GenericFunction):
            return _single_spec_shape(signature)
        if _is_keras_object(model):
            shape = model.input_shape
            if isinstance(shape, tuple) and all(d is None or isinstance(d, int) for d in shape):
                return shape
    except (AttributeError, RuntimeError, ValueError, TypeError, ReferenceError):
        return None
    return None


def _model_name(model) -> str:
    try:
        name = getattr(model, "name", None)
    except ReferenceError:
        name = None
    return name if isinstance(name, str) and name else type(model).__name__


class LogitsModel:
    """Wraps a model so that calling it returns logits (or log-probabilities for softmax models).

    Attributes:
        model: the wrapped callable.
        output_kind: "logits" or "probabilities" (what the wrapped model returns).
        num_classes: number of classes, known after the first call or ``resolve`` (2 for a
            single-output binary classifier, whose output z becomes the logits [0, z]).
    """

    def __init__(self, model: Callable, output_kind: str = "auto"):
        if isinstance(model, LogitsModel):
            model, output_kind = model.model, (model.output_kind if output_kind == "auto" else output_kind)
        if not callable(model):
            raise TypeError(
                f"model must be callable (a Keras model, a SavedModel signature or a function from images "
                f"to logits), got {type(model).__name__}."
            )
        if output_kind not in OUTPUT_KINDS:
            raise ValueError(f"output_kind must be one of {OUTPUT_KINDS}, got {output_kind!r}.")
        self.model = model
        self.output_kind = output_kind
        self.num_classes = None
        if output_kind == "auto" and _last_layer_is_softmax(model):
            self._set_kind("probabilities", "its last layer is a softmax")

    def _set_kind(self, kind: str, reason: str) -> None:
        self.output_kind = kind
        if kind == "probabilities":
            key = id(self.model)
            if key not in _warned:
                _warned.add(key)
                logger.warning(
                    "Model %s outputs probabilities (%s); attacking log-probabilities instead. Give tfrobust "
                    "the logits model for the strongest attack.", _model_name(self.model), reason)

    def _raw(self, x, training: bool = False):
        try:
            out = self.model(x, training=training)
        except TypeError:  # plain callables and SavedModel signatures take no `training` argument
            out = self.model(x)
        if isinstance(out, dict):
            if len(out) != 1:
                shapes = ", ".join(f"{k}: {tuple(getattr(v, 'shape', ()))}" for k, v in out.items())
                raise ValueError(
                    f"Model returns {len(out)} outputs ({shapes}); tfrobust attacks one logits tensor. Wrap the "
                    f"model to return only its logits, e.g. lambda x: model(x)[{next(iter(out))!r}].")
            out = next(iter(out.values()))
        elif isinstance(out, (list, tuple)):
            if len(out) != 1:
                shapes = ", ".join(f"output {i}: {tuple(getattr(v, 'shape', ()))}" for i, v in enumerate(out))
                raise ValueError(
                    f"Model returns {len(out)} outputs ({shapes}); tfrobust attacks one logits tensor. Wrap the "
                    f"model to return only its logits, e.g. keras.Model(model.inputs, model.outputs[0]) or "
                    f"lambda x: model(x)[0].")
            out = out[0]
        return tf.cast(out, tf.float32)

    def check_input(self, x) -> None:
        """Compares the images' shape with the model's declared input shape (no model call).

        Raises:
            ValueError: wrong rank or sizes, saying how to fix it (add a batch or channel axis, ...).
        """
        expected = declared_input_shape(self.model)
        if expected is not None:
            check_input_shape(tuple(x.shape), expected, _model_name(self.model))

    def resolve(self, x) -> "LogitsModel":
        """Runs the model eagerly once on ``x`` to learn the number of classes and the output kind.

        Raises:
            ValueError: images that do not fit the model's input shape, several outputs, an output
                that is not (batch, classes), or a softmax over a single output.
        """
        self.check_input(x)
        out = self._raw(x[:8] if len(x) > 8 else x)
        if out.shape.rank != 2:
            raise ValueError(
                f"Model output must have shape (batch, classes), got {out.shape}; flatten or select the logits."
            )
        if int(out.shape[-1]) == 1:
            self._resolve_single_output(out.numpy())
            self.num_classes = 2
            return self
        self.num_classes = int(out.shape[-1])
        if self.output_kind == "auto":
            if looks_like_probabilities(out.numpy()):
                self._set_kind("probabilities", "its outputs are non-negative and sum to 1")
            else:
                self.output_kind = "logits"
        return self

    def _resolve_single_output(self, out: np.ndarray) -> None:
        activation = _last_activation(self.model)
        if activation == "softmax":
            raise ValueError(
                f"Model {_model_name(self.model)} ends in a softmax over a single output, which is always 1: "
                f"it cannot classify. Use a sigmoid (or no activation) for a single-output binary classifier, "
                f"or two outputs with a softmax.")
        if self.output_kind != "auto":
            return
        if activation == "sigmoid":
            self._set_kind("probabilities", "its last layer is a sigmoid")
        elif np.all(out >= 0) and np.all(out <= 1):
            self._set_kind("probabilities", "its single output lies in [0, 1] like a sigmoid; pass "
                                            "output_kind='logits' if it is a logit")
        else:
            self.output_kind = "logits"

    def __call__(self, x, training: bool = False):
        out = self._raw(x, training=training)
        if out.shape.rank == 2 and out.shape[-1] == 1:  # binary classifier: z -> logits [0, z]
            if self.output_kind == "probabilities":
                p = tf.clip_by_value(out, _SIGMOID_CLIP, 1.0 - _SIGMOID_CLIP)
                out = tf.math.log(p) - tf.math.log1p(-p)
            return tf.concat([tf.zeros_like(out), out], axis=-1)
        if self.output_kind == "probabilities":
            return tf.math.log(tf.clip_by_value(out, 1e-30, 1.0))
        return out


def as_logits_model(model: Callable, x=None, output_kind: str = "auto") -> LogitsModel:
    """Returns a ``LogitsModel`` for ``model``; when ``x`` is given, resolves it on that batch.

    Raises:
        TypeError: ``model`` is not callable.
        ValueError: see ``LogitsModel.resolve`` (wrong image shape for the model, several outputs, ...).
    """
    wrapped = model if isinstance(model, LogitsModel) and output_kind == "auto" else LogitsModel(model, output_kind)
    if x is not None:
        if wrapped.num_classes is None or wrapped.output_kind == "auto":
            wrapped.resolve(x)
        else:
            wrapped.check_input(x)
    return wrapped
