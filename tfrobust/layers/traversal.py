"""Finding layers of a given type inside a Keras model, through nested models and wrappers."""
from __future__ import annotations

from typing import List, Type

import tf_keras as keras


def find_layers(model: keras.layers.Layer, layer_type: Type[keras.layers.Layer]) -> List[keras.layers.Layer]:
    """All layers of ``layer_type`` in ``model``, in layer order, each once.

    Descends into nested models (``.layers``) and wrappers such as tfmot's pruning wrapper
    (``.layer``).

    Args:
        model: a Keras model or layer.
        layer_type: the class to look for (subclasses count).

    Returns:
        The matching layers, first to last.

    Raises:
        TypeError: if ``model`` is not a Keras layer or model.
    """
    if not isinstance(model, keras.layers.Layer):
        raise TypeError(f"Expected a tf_keras model or layer, got {type(model).__name__}.")
    found, seen = [], set()

    def visit(layer):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        if isinstance(layer, layer_type):
            found.append(layer)
        for child in getattr(layer, "layers", None) or []:
            visit(child)
        wrapped = getattr(layer, "layer", None)
        if isinstance(wrapped, keras.layers.Layer):
            visit(wrapped)

    visit(model)
    return found
