"""Spectral signatures (Tran, Li & Madry 2018, "Spectral signatures in backdoor attacks", NeurIPS).

Poisoned examples relabelled to a class leave a trace in the learned representation that is visible in the
spectrum of that class's feature covariance. Per label class y, with R the (n_y, d) matrix of the
representations of the training examples labelled y (here: the input of the model's decision layer):

    M = R - mean(R),     v = top right singular vector of M,     score_i = (M_i . v)^2

and the ``1.5 * epsilon * n_y`` highest-scoring examples of each class are flagged (epsilon: an upper bound on
the poisoned share; 1.5 as in the paper). The paper removes the flagged examples and retrains; on CIFAR-10
BadNets-style attacks it removes nearly all poisoned images (Table 1) and retraining drops the attack success
to ~0-1%.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from tfrobust.backdoor.representations import penultimate_model
from tfrobust.validation import check_images

PAPER_REMOVAL_FACTOR = 1.5


@dataclasses.dataclass(frozen=True)
class SpectralDetection:
    """Flags of the spectral-signature detector.

    Attributes:
        scores: float (N,), the outlier score of each example within its label class.
        flagged: bool (N,), the examples the detector removes.
        precision: share of flagged examples that are poisoned (NaN without ground truth).
        recall: share of poisoned examples that are flagged (NaN without ground truth).
    """

    scores: np.ndarray
    flagged: np.ndarray
    precision: float
    recall: float


def spectral_signatures(model, x, y, *, epsilon: float, poisoned: Optional[np.ndarray] = None,
                        layer: Optional[str] = None, removal_factor: float = PAPER_REMOVAL_FACTOR,
                        batch_size: int = 512) -> SpectralDetection:
    """Scores every training example and flags the top ``removal_factor * epsilon`` share of each class.

    Args:
        model: the model trained on (x, y) (a Functional/Sequential keras.Model).
        x, y: the (possibly poisoned) training set and its labels.
        epsilon: upper bound on the poisoned share, in (0, 1).
        poisoned: optional ground truth bool (N,), for precision and recall.
        layer: the representation layer (default: the input of the last layer).
        removal_factor: 1.5 in the paper.
        batch_size: examples per forward pass.

    Returns:
        ``SpectralDetection``.

    Raises:
        ValueError: bad epsilon or a poisoned mask of the wrong length.
    """
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not 0 < epsilon < 1:
        raise ValueError(f"epsilon must be the expected poisoned share in (0, 1), e.g. 0.05, got {epsilon!r}.")
    x = check_images(x).numpy()
    y = np.asarray(y).reshape(-1)
    features = penultimate_model(model, layer).predict(x, batch_size=batch_size, verbose=0)
    features = features.reshape(len(x), -1).astype(np.float64)
    scores = np.zeros(len(x))
    flagged = np.zeros(len(x), bool)
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        centred = features[rows] - features[rows].mean(axis=0)
        top = np.linalg.svd(centred, full_matrices=False)[2][0]
        scores[rows] = (centred @ top) ** 2
        count = min(rows.size, int(np.ceil(removal_factor * epsilon * rows.size)))
        flagged[rows[np.argsort(-scores[rows])[:count]]] = True
    precision = recall = float("nan")
    if poisoned is not None:
        poisoned = np.asarray(poisoned, bool).reshape(-1)
        if poisoned.shape != flagged.shape:
            raise ValueError(f"poisoned must have one flag per example ({len(x)}), got {poisoned.shape[0]}.")
        precision = float(np.mean(poisoned[flagged])) if flagged.any() else float("nan")
        recall = float(np.mean(flagged[poisoned])) if poisoned.any() else float("nan")
    return SpectralDetection(scores=scores, flagged=flagged, precision=precision, recall=recall)
