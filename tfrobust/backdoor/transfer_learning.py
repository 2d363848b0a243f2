"""A backdoor carried through transfer learning (Gu et al. 2017, Sec. 5.3).

A user downloads a (backdoored) model and retrains only its top on a new task: the features below stay frozen,
a new decision layer with the new task's classes is trained on the user's clean data. The trigger's features
survive in the frozen layers, so triggered inputs still move the new model's predictions: in the paper a
backdoored U.S. traffic-sign network retrained on Swedish signs loses >25% accuracy on triggered images
while clean accuracy is unchanged.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import tf_keras as keras

from tfrobust.backdoor.representations import penultimate_model
from tfrobust.validation import check_images, check_positive


def retrain_top(model: keras.Model, x, y, num_classes: int, *, epochs: int = 10, batch_size: int = 64,
                learning_rate: float = 1e-3, layer: Optional[str] = None, seed: Optional[int] = 0,
                verbose: int = 0) -> keras.Model:
    """Freezes ``model`` below its decision layer and trains a new ``num_classes``-way top on (x, y).

    Args:
        model: the (backdoored) source model, a Functional/Sequential keras.Model.
        x, y: the new task's clean training images (same image shape as the source) and sparse labels.
        num_classes: classes of the new task, >= 2.
        epochs, batch_size, learning_rate: Adam training of the new top.
        layer: representation layer to build on (default: the input of the last layer).
        seed: seed of the new layer's initial weights and shuffling.
        verbose: Keras fit verbosity.

    Returns:
        The new model (frozen features + trained Dense logits layer named "logits").
    """
    x = check_images(x).numpy()
    num_classes = int(check_positive(num_classes, "num_classes", integer=True))
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}.")
    features = penultimate_model(model, layer)
    features.trainable = False
    if seed is not None:
        keras.utils.set_random_seed(seed)
    inputs = keras.Input(x.shape[1:])
    h = keras.layers.Flatten()(features(inputs, training=False))
    outputs = keras.layers.Dense(num_classes, name="logits")(h)
    new = keras.Model(inputs, outputs)
    new.compile(keras.optimizers.Adam(learning_rate), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    new.fit(x, np.asarray(y).reshape(-1), batch_size=batch_size, epochs=epochs, shuffle=True, verbose=verbose)
    return new
