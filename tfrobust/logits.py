"""The model contract: any differentiable callable from images to logits.

Attacks and evaluation call ``as_logits_model(model)`` once. It accepts tf_keras models, Keras 3
models, SavedModel signatures and plain TF callables. A model whose output is a probability
vector (ends in softmax) is detected and attacked on log-probabilities, with a warning: cross
entropy on saturated probabilities has zero gradient (Carlini & Wagner 2016), so treating such
outputs as logits would give silently wrong, too optimistic numbers.
"""
from __future__ import annotations

import logging
from typing import Callable

import numpy as np
import tensorflow as tf

logger = logging.getLogger("tfrobust")
_warned: set = set()

OUTPUT_KINDS = ("auto", "logits", "probabilities")


def _last_layer_is_softmax(model) -> bool:
    layers = getattr(model, "layers", None)
    if not layers:
        return False
    last = layers[-1]
    if type(last).__name__ == "Softmax":
        return True
    activation = getattr(last, "activation", None)
    return getattr(activation, "__name__", None) == "softmax"


def looks_like_probabilities(outputs, atol: float = 1e-3) -> bool:
    """True when every row is non-negative, at most 1 and sums to 1 (a softmax output)."""
    out = np.asarray(outputs, dtype=np.float64)
    if out.ndim != 2 or out.shape[1] < 2:
        return False
    return bool(np.all(out >= -1e-6) and np.all(out <= 1 + 1e-6) and np.allclose(out.sum(axis=1), 1.0, atol=atol))


class LogitsModel:
    """Wraps a model so that calling it returns logits (or log-probabilities for softmax models).

    Attributes:
        model: the wrapped callable.
        output_kind: "logits" or "probabilities" (what the wrapped model returns).
        num_classes: number of outputs, known after the first call or ``resolve``.
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
                    "the logits model for the strongest attack.", getattr(self.model, "name", type(self.model).__name__),
                    reason)

    def _raw(self, x, training: bool = False):
        try:
            out = self.model(x, training=training)
        except TypeError:  # plain callables and SavedModel signatures take no `training` argument
            out = self.model(x)
        if isinstance(out, dict):
            if len(out) != 1:
                raise ValueError(f"Model returns a dict with keys {list(out)}; pass a callable returning one tensor.")
            out = next(iter(out.values()))
        return tf.cast(out, tf.float32)

    def resolve(self, x) -> "LogitsModel":
        """Runs the model eagerly once on ``x`` to learn the number of classes and the output kind."""
        out = self._raw(x[:8] if len(x) > 8 else x)
        if out.shape.rank != 2:
            raise ValueError(
                f"Model output must have shape (batch, classes), got {out.shape}; flatten or select the logits."
            )
        self.num_classes = int(out.shape[-1])
        if self.output_kind == "auto":
            if looks_like_probabilities(out.numpy()):
                self._set_kind("probabilities", "its outputs are non-negative and sum to 1")
            else:
                self.output_kind = "logits"
        return self

    def __call__(self, x, training: bool = False):
        out = self._raw(x, training=training)
        if self.output_kind == "probabilities":
            return tf.math.log(tf.clip_by_value(out, 1e-30, 1.0))
        return out


def as_logits_model(model: Callable, x=None, output_kind: str = "auto") -> LogitsModel:
    """Returns a ``LogitsModel`` for ``model``; when ``x`` is given, resolves it on that batch."""
    wrapped = model if isinstance(model, LogitsModel) and output_kind == "auto" else LogitsModel(model, output_kind)
    if x is not None and (wrapped.num_classes is None or wrapped.output_kind == "auto"):
        wrapped.resolve(x)
    return wrapped
