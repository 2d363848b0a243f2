"""Per-model cache of the compiled functions the attacks run.

Tracing a ``tf.function`` costs far more than an attack step, so every attack asks this module for
its compiled work instead of building a new ``tf.function`` per call. Functions are cached per
underlying model (a ``weakref.WeakKeyDictionary``, so a deleted model frees its functions) and per
static option (loss, norm, targeted, output kind, XLA on/off). Everything that varies between calls
(images, labels, epsilon, step size, bounds, number of steps) is a tensor argument, and
``tfrobust.config.compile_function`` traces with ``reduce_retracing=True``, so a shrinking batch
(per-example early stop) costs at most one extra trace with a ``None`` batch dimension.

The cached functions reach the model through a ``weakref.proxy``: a strong reference from the cached
value back to its key would keep every model alive for the whole process.
"""
from __future__ import annotations

import weakref
from typing import Callable, Hashable

import tensorflow as tf

from tfrobust import config
from tfrobust.attacks.losses import attack_loss
from tfrobust.logits import LogitsModel

_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _weak_logits_model(logits_model: LogitsModel) -> LogitsModel:
    """A LogitsModel equivalent to ``logits_model`` that holds its model weakly."""
    weak = LogitsModel(weakref.proxy(logits_model.model), output_kind=logits_model.output_kind)
    weak.num_classes = logits_model.num_classes
    return weak


def cached_function(logits_model: LogitsModel, name: str, options: tuple,
                    build: Callable[[LogitsModel], Callable]) -> Callable:
    """Returns the compiled function ``build(model)`` for this model and options, tracing at most once.

    Args:
        logits_model: a resolved ``LogitsModel``.
        name: which function (e.g. "pgd_steps").
        options: hashable static options the traced graph depends on.
        build: maps a LogitsModel to the plain Python function to compile.

    Returns:
        The ``tf.function`` (XLA on or off as ``tfrobust.config`` says at call time).
    """
    key: Hashable = (name, options, logits_model.output_kind, config.use_xla())
    model = logits_model.model
    try:
        per_model = _CACHE.setdefault(model, {})
    except TypeError:  # not weak-referenceable or not hashable: compile without caching
        return config.compile_function(build(logits_model))
    if key not in per_model:
        per_model[key] = config.compile_function(build(_weak_logits_model(logits_model)))
    return per_model[key]


def attack_succeeded(logits, labels, targeted: bool):
    """Per-example success: the prediction left the true label (untargeted) or hit the target."""
    predictions = tf.argmax(logits, axis=-1, output_type=labels.dtype)
    return tf.equal(predictions, labels) if targeted else tf.not_equal(predictions, labels)


def input_gradient(logits_model: LogitsModel, x, labels, source_labels, loss: str, targeted: bool):
    """Per-example attack loss at x, its gradient with respect to x, and the logits (for use in a trace)."""
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(x)
        logits = logits_model(x)
        losses = attack_loss(loss, logits, labels, targeted, source_labels)
    grad = tape.gradient(losses, x)
    if grad is None:
        raise ValueError("The model's output does not depend on its input; there is no gradient to attack.")
    return losses, grad, logits


def _loss_gradient_fn(loss: str, targeted: bool):
    def build(logits_model: LogitsModel):
        def loss_gradient(x, labels, source_labels):
            return input_gradient(logits_model, x, labels, source_labels, loss, targeted)
        return loss_gradient
    return build


def loss_gradient(logits_model: LogitsModel, loss: str, targeted: bool) -> Callable:
    """Compiled ``(x, labels, source_labels) -> (per-example loss, d loss / d x, logits)``."""
    return cached_function(logits_model, "loss_gradient", (loss, targeted), _loss_gradient_fn(loss, targeted))


def _evaluate_fn(loss: str, targeted: bool):
    def build(logits_model: LogitsModel):
        def evaluate(x, labels, source_labels):
            logits = logits_model(x)
            return attack_loss(loss, logits, labels, targeted, source_labels), logits
        return evaluate
    return build


def evaluate(logits_model: LogitsModel, loss: str, targeted: bool) -> Callable:
    """Compiled forward pass ``(x, labels, source_labels) -> (per-example loss, logits)``."""
    return cached_function(logits_model, "evaluate", (loss, targeted), _evaluate_fn(loss, targeted))


def cache_size(model) -> int:
    """Number of compiled functions cached for ``model`` (the underlying callable); for tests."""
    try:
        return len(_CACHE.get(model, {}))
    except TypeError:
        return 0


def source_labels(logits_model: LogitsModel, x, labels, loss: str, targeted: bool):
    """The labels the targeted DLR loss moves away from: the clean predictions (``labels`` otherwise).

    Targeted attacks only receive target labels; DLR's targeted form (Croce & Hein 2020) also needs the
    class the example currently has, for which the model's clean prediction stands in.
    """
    if not (targeted and loss == "dlr"):
        return labels
    _, logits = evaluate(logits_model, "ce", False)(x, labels, labels)
    return tf.argmax(logits, axis=-1, output_type=labels.dtype)
