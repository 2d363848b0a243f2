"""Data and fitting helpers of the studies: the attacked evaluation set, the training pipeline, optimisers.

``start`` seeds Keras/TF/numpy, opens (or resumes) the run store and loads the data, in that order, so a
study started twice with the same seed trains and attacks the same way.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Sequence, Tuple

import numpy as np
import tf_keras as keras

from tfrobust.studies.config import StudyConfig
from tfrobust.studies.run_store import RunStore
from tfrobust.training.optimizer_slots import build_optimizer_slots
from tfrobust.training.schedules import one_cycle

OPTIMIZERS = ("adam", "sgd")


@dataclasses.dataclass
class StudyData:
    """Training pipeline and attacked evaluation set of a study.

    Attributes:
        name: dataset name.
        input_shape: image shape (H, W, C).
        num_classes: number of classes.
        x_eval: float32 images in [0, 1] attacked by the study (``eval_size`` of the test split).
        y_eval: int labels of ``x_eval``.
        train_size: number of training examples used (None = the whole split).
        batch_size: training batch size.
        seed: shuffling seed.
        max_steps: cap on the batches of one epoch (smoke runs), or None.
    """

    name: str
    input_shape: Tuple[int, int, int]
    num_classes: int
    x_eval: np.ndarray
    y_eval: np.ndarray
    train_size: Optional[int]
    batch_size: int
    seed: int
    max_steps: Optional[int]

    def train_dataset(self, *, augment: bool = False, batch_size: Optional[int] = None):
        """The shuffled, batched training ``tf.data.Dataset`` (capped at ``max_steps`` batches)."""
        from tfrobust import data as tfr_data

        ds = tfr_data.load(self.name, "train", batch_size or self.batch_size, shuffle=True, seed=self.seed,
                           augment=augment, take=self.train_size)
        if self.max_steps is not None:
            ds = ds.take(self.max_steps)
        return ds

    def steps_per_epoch(self) -> int:
        """Number of optimiser steps in one epoch (for schedules that need the total step count)."""
        from tfrobust import data as tfr_data

        n = self.train_size if self.train_size is not None else tfr_data.info(self.name).splits["train"]
        steps = -(-int(n) // int(self.batch_size))
        return min(steps, self.max_steps) if self.max_steps is not None else steps


def load_data(config: StudyConfig) -> StudyData:
    """Loads the dataset of ``config``: a training pipeline and ``eval_size`` test examples.

    Raises:
        ValueError: unknown dataset (raised by ``tfrobust.data``).
    """
    from tfrobust import data as tfr_data

    info = tfr_data.info(config.dataset)
    x_eval, y_eval = tfr_data.load_numpy(config.dataset, "test", take=config.eval_size)
    return StudyData(
        name=config.dataset, input_shape=tuple(info.input_shape), num_classes=int(info.num_classes),
        x_eval=np.asarray(x_eval, np.float32), y_eval=np.asarray(y_eval).astype(np.int64),
        train_size=config.train_size, batch_size=config.batch_size, seed=config.seed,
        max_steps=config.max_steps)


def start(experiment: str, config: StudyConfig) -> Tuple[RunStore, StudyData]:
    """Seeds Keras/TF/numpy, opens (or resumes) the run store and loads the data of ``config``."""
    keras.utils.set_random_seed(config.seed)
    run = RunStore(experiment, config)
    return run, load_data(config)


def compile_classifier(model: keras.Model, optimizer) -> keras.Model:
    """Compiles a plain logits model with sparse cross entropy and accuracy (the standard baseline)."""
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    return model


def make_optimizer(name: str, learning_rate, *, momentum: float = 0.9, weight_decay: float = 0.0):
    """Adam, or SGD with momentum and (optional) weight decay, at ``learning_rate`` (a number or a schedule).

    Raises:
        ValueError: an unknown optimiser name.
    """
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=momentum, weight_decay=weight_decay or None)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate)
    raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}.")


def one_cycle_rate(data: StudyData, epochs: int, peak: float, peak_fraction: float):
    """The one-cycle learning rate 0 -> ``peak`` -> 0 over ``epochs`` epochs of ``data`` (Smith 2018)."""
    return one_cycle(max(1, epochs * data.steps_per_epoch()), peak, peak_fraction=peak_fraction)


def fit(model: keras.Model, data: StudyData, epochs: int, callbacks: Sequence[keras.callbacks.Callback], *,
        augment: bool = False):
    """Fits a compiled model (plain or a ``tfrobust.training`` wrapper) on the study's training set.

    Args:
        model: the compiled model.
        data: the study's data.
        epochs: training epochs.
        callbacks: Keras callbacks (those of ``RunStore.trained_model`` plus any others).
        augment: use the dataset's augmentation (random crop and flip for CIFAR-10 style data).

    Returns:
        The Keras ``History``.
    """
    dataset = data.train_dataset(augment=augment)
    if not model.built:  # BackupAndRestore can only restore into a built model and optimizer
        model(next(iter(dataset))[0][:1])
    build_optimizer_slots(model)  # one trace of the train step, not two (the training wrappers' fit does it too)
    return model.fit(dataset, epochs=epochs, callbacks=list(callbacks), verbose=2)
