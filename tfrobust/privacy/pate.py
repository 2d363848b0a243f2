"""PATE: private aggregation of teacher ensembles.

Papernot, Abadi, Erlingsson, Goodfellow & Talwar (2017), "Semi-supervised knowledge transfer for deep learning
from private training data" (ICLR), and Papernot, Song, Mironov, Raghunathan, Talwar & Erlingsson (2018),
"Scalable private learning with PATE" (ICLR).

- ``train_teachers``: n teachers, each trained on its own disjoint partition of the private data.
- ``vote_histogram``: per public query x, n_j(x) = number of teachers predicting class j.
- ``lnmax`` (2017): argmax_j n_j(x) + Lap(1/gamma); each answer is (2 gamma, 0)-DP (one teacher changing its vote
  moves two counts by one: L1 sensitivity 2, Laplace scale b = 1/gamma).
- ``gnmax`` (2018): argmax_j n_j(x) + N(0, sigma^2); L2 sensitivity sqrt(2), so each answer has Renyi DP
  lambda / sigma^2 at order lambda.
- ``confident_gnmax`` (2018, Algorithm 1): answer only when max_j n_j + N(0, sigma_1^2) >= T, then with GNMax at
  sigma_2; the threshold check has sensitivity 1 and RDP lambda / (2 sigma_1^2).
- ``privacy_cost`` and ``data_dependent_privacy_cost`` (``tfrobust.privacy.accounting``): the (epsilon, delta) of
  the answers, data-independent and data-dependent (from the vote histogram), in Renyi DP with ``dp-accounting``.
- ``train_student``: the student trained on the public queries the aggregator answered.

Published: MNIST, 250 teachers, student 98.0% at (epsilon 2.04, delta 1e-5) (2017, data-dependent moments
accountant); confident GNMax 98.5% at epsilon 0.59 (2018, data-dependent).
"""
from __future__ import annotations

import dataclasses
from typing import Callable, List, Optional, Sequence

import numpy as np
import tf_keras as keras

from tfrobust.logits import as_logits_model
from tfrobust.privacy.accounting import privacy_cost  # noqa: F401  (re-exported: PATE's accounting)
from tfrobust.validation import check_images, check_positive


def _fit(build, x, y, *, epochs, batch_size, learning_rate, seed, verbose, callbacks=()):
    if seed is not None:
        keras.utils.set_random_seed(seed)
    model = build()
    model.compile(keras.optimizers.Adam(learning_rate), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=verbose, callbacks=list(callbacks))
    return model


def train_teachers(x, y, *, teachers: int, build: Callable[[], keras.Model], epochs: int = 10, batch_size: int = 64,
                   learning_rate: float = 1e-3, seed: Optional[int] = 0, verbose: int = 0) -> List[keras.Model]:
    """Trains ``teachers`` models on disjoint, equal partitions of (x, y) (a seeded random split).

    Args:
        x, y: the private training data.
        teachers: number of partitions/teachers n, >= 2.
        build: returns a fresh uncompiled logits model.
        epochs, batch_size, learning_rate: Adam training of each teacher.
        seed: seed of the partition and of teacher i's weights (seed + i).
        verbose: Keras fit verbosity.

    Returns:
        The list of trained teachers (uncompiled).
    """
    x = check_images(x).numpy()
    y = np.asarray(y).reshape(-1)
    teachers = int(check_positive(teachers, "teachers", integer=True))
    if not 2 <= teachers <= len(x):
        raise ValueError(f"teachers must be between 2 and the number of examples ({len(x)}), got {teachers}.")
    order = np.random.default_rng(seed).permutation(len(x))
    # One compiled model trains every teacher in turn (fresh weights and optimiser state each time), so Keras
    # traces its train step once instead of once per teacher; each teacher is a copy of the weights it ended with.
    trainer = build()
    trainer.compile(keras.optimizers.Adam(learning_rate), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    out = []
    for i, part in enumerate(np.array_split(order, teachers)):
        if seed is not None:
            keras.utils.set_random_seed(seed + i)
        teacher = build()
        trainer.set_weights(teacher.get_weights())
        for variable in _optimizer_variables(trainer.optimizer):
            variable.assign(np.zeros(variable.shape, variable.dtype.as_numpy_dtype))
        trainer.fit(x[part], y[part], batch_size=batch_size, epochs=epochs, shuffle=True, verbose=verbose)
        teacher.set_weights(trainer.get_weights())
        out.append(teacher)
    return out


def _optimizer_variables(optimizer):
    variables = optimizer.variables
    return variables() if callable(variables) else variables


def vote_histogram(teachers, x, num_classes: Optional[int] = None) -> np.ndarray:
    """(N, classes) int counts n_j(x) of teachers predicting class j."""
    x = check_images(x)
    votes = []
    for teacher in teachers:
        model = as_logits_model(teacher, x[:1])
        votes.append(np.concatenate([np.argmax(np.asarray(model(x[i:i + 512])), axis=1)
                                     for i in range(0, int(x.shape[0]), 512)]))
    votes = np.stack(votes, axis=1)
    num_classes = int(votes.max()) + 1 if num_classes is None else int(num_classes)
    return np.stack([(votes == j).sum(axis=1) for j in range(num_classes)], axis=1)


def _check_histogram(histogram) -> np.ndarray:
    histogram = np.asarray(histogram)
    if histogram.ndim != 2 or histogram.shape[1] < 2 or np.any(histogram < 0):
        raise ValueError(f"histogram must be (queries, classes) non-negative vote counts, got shape {histogram.shape}.")
    return histogram.astype(np.float64)


def lnmax(histogram, *, gamma: float, seed: Optional[int] = 0) -> np.ndarray:
    """argmax_j n_j + Lap(1 / gamma) per query (Papernot et al. 2017)."""
    histogram = _check_histogram(histogram)
    gamma = float(check_positive(gamma, "gamma"))
    noise = np.random.default_rng(seed).laplace(scale=1.0 / gamma, size=histogram.shape)
    return np.argmax(histogram + noise, axis=1)


def gnmax(histogram, *, sigma: float, seed: Optional[int] = 0) -> np.ndarray:
    """argmax_j n_j + N(0, sigma^2) per query (Papernot et al. 2018)."""
    histogram = _check_histogram(histogram)
    sigma = float(check_positive(sigma, "sigma"))
    return np.argmax(histogram + np.random.default_rng(seed).normal(scale=sigma, size=histogram.shape), axis=1)


@dataclasses.dataclass(frozen=True)
class ConfidentAnswers:
    """Confident-GNMax output: which queries were answered and their labels (-1 where not answered)."""

    answered: np.ndarray
    labels: np.ndarray


def confident_gnmax(histogram, *, threshold: float, sigma1: float, sigma2: float,
                    seed: Optional[int] = 0) -> ConfidentAnswers:
    """Algorithm 1 of Papernot et al. 2018: answer when max_j n_j + N(0, sigma1^2) >= threshold, by GNMax(sigma2)."""
    histogram = _check_histogram(histogram)
    sigma1 = float(check_positive(sigma1, "sigma1"))
    rng = np.random.default_rng(seed)
    answered = histogram.max(axis=1) + rng.normal(scale=sigma1, size=len(histogram)) >= float(threshold)
    labels = np.full(len(histogram), -1, np.int64)
    if answered.any():
        labels[answered] = gnmax(histogram[answered], sigma=sigma2, seed=None if seed is None else seed + 1)
    return ConfidentAnswers(answered=answered, labels=labels)


def train_student(x_public, labels, *, build: Callable[[], keras.Model], epochs: int = 10, batch_size: int = 64,
                  learning_rate: float = 1e-3, seed: Optional[int] = 0, verbose: int = 0,
                  callbacks: Sequence[keras.callbacks.Callback] = ()) -> keras.Model:
    """Trains the student on the public images the aggregator labelled (labels < 0: unanswered, skipped).

    Args:
        x_public: the public queries.
        labels: the aggregator's answers, -1 where it did not answer.
        build, epochs, batch_size, learning_rate, seed, verbose: as ``train_teachers``.
        callbacks: Keras callbacks of the student's ``fit`` (e.g. TensorBoard).
    """
    x = check_images(x_public).numpy()
    labels = np.asarray(labels).reshape(-1)
    keep = labels >= 0
    if not keep.any():
        raise ValueError("No public query was answered; lower the threshold or raise the number of queries.")
    return _fit(build, x[keep], labels[keep], epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                seed=seed, verbose=verbose, callbacks=callbacks)
