"""The representation a model's decision layer sees: the input of its last layer (its penultimate features)."""
from __future__ import annotations

from typing import Optional

import tf_keras as keras


def penultimate_model(model: keras.Model, layer: Optional[str] = None) -> keras.Model:
    """A model from the inputs to the features the last layer (or ``layer``'s output) computes on.

    Args:
        model: a Functional or Sequential ``keras.Model``.
        layer: name of the layer whose *output* is the representation; None: the input of the last layer.

    Raises:
        ValueError: a model without a symbolic graph, or an unknown layer name.
    """
    try:
        inputs = model.inputs
        if layer is None:
            features = model.layers[-1].input
        else:
            features = model.get_layer(layer).output
    except (AttributeError, ValueError) as err:
        raise ValueError(f"Cannot read the representation of {type(model).__name__} ({err}); give a Functional or "
                         "Sequential keras.Model and an existing layer name.") from None
    return keras.Model(inputs, features)
