"""Deep k-nearest neighbours (Papernot & McDaniel 2018, "Deep k-nearest neighbors: towards confident,
interpretable and robust deep learning").

For an input x, every chosen layer l gives its representation f_l(x); the k training points nearest to it
in that layer (Euclidean, a faiss index per layer) vote with their labels, Omega_l. For each class j

    alpha(x, j) = sum_l |{ i in Omega_l : y_i != j }|        (nonconformity: neighbours disagreeing with j)

and, with A = { alpha(z, y_z) : z in a held-out calibration set } (Algorithm 1 of the paper),

    p_j(x) = |{ a in A : a >= alpha(x, j) }| / |A|.

The prediction is argmax_j p_j(x); its credibility is the largest p-value, its confidence one minus the
second largest. Adversarial examples move the last layers but not the whole stack of neighbourhoods, so
their credibility is low: the paper (k = 75 on MNIST/SVHN/GTSRB) flags them by it. ``credibility_auroc``
measures how well credibility separates clean from adversarial inputs. ``credibility_reliability`` bins
credibility as the confidence of the DkNN prediction (the paper's reliability diagrams, Section 5.2, set against
the softmax's): its ECE (``tfrobust.evaluation.calibration``) compares with the softmax's and with temperature
scaling's (Guo et al. 2017).

The k-NN search is faiss (Johnson, Douze & Jegou 2019): an exact ``IndexFlatL2`` by default; ``index`` takes
any faiss factory string (e.g. "IVF64,Flat" or "HNSW32") for large training sets.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np
import tf_keras as keras

from tfrobust.evaluation.calibration import ReliabilityDiagram, confidence_reliability
from tfrobust.validation import check_images, check_positive

PAPER_K = 75


def _faiss():
    try:
        import faiss  # noqa: PLC0415  (an optional dependency: only Deep k-NN needs it)
    except ImportError:
        raise ImportError("Deep k-NN needs faiss; install it with `pip install faiss-cpu` "
                          "(or `pip install tfrobust[dknn]`).") from None
    return faiss


class DeepKNN:
    """Deep k-NN over the representations of chosen layers of a Keras model.

    Args:
        model: a Functional/Sequential keras.Model.
        layers: names of the layers whose outputs are indexed (default: every Dense/Conv layer and the logits).
        k: neighbours per layer (75 in the paper).
        index: faiss index: "flat" (exact ``IndexFlatL2``) or a faiss factory string.
        batch_size: examples per forward pass.

    Raises:
        ValueError: unknown layer names or a bad k.
    """

    def __init__(self, model: keras.Model, layers: Optional[Sequence[str]] = None, *, k: int = PAPER_K,
                 index: str = "flat", batch_size: int = 512):
        self.k = int(check_positive(k, "k", integer=True))
        if layers is None:
            layers = [layer.name for layer in model.layers
                      if isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D))]
        known = {layer.name for layer in model.layers}
        unknown = [name for name in layers if name not in known]
        if unknown or not layers:
            raise ValueError(f"Unknown layer(s) {unknown} for Deep k-NN; the model has: {', '.join(sorted(known))}.")
        self.layers = list(layers)
        self.index_type = index
        self.batch_size = int(batch_size)
        self._features = keras.Model(model.inputs, [model.get_layer(name).output for name in self.layers])
        self._indexes, self._train_labels, self._calibration = [], None, None
        self.num_classes = None

    def _represent(self, x):
        outs = self._features.predict(check_images(x).numpy(), batch_size=self.batch_size, verbose=0)
        outs = outs if isinstance(outs, list) else [outs]
        return [np.ascontiguousarray(o.reshape(len(o), -1), dtype=np.float32) for o in outs]

    def _make_index(self, dim: int):
        faiss = _faiss()
        if self.index_type == "flat":
            return faiss.IndexFlatL2(dim)
        return faiss.index_factory(dim, self.index_type)

    def fit(self, x_train, y_train, x_calibration, y_calibration) -> "DeepKNN":
        """Indexes the training representations and computes the calibration nonconformities A.

        Args:
            x_train, y_train: the training data (its labels vote).
            x_calibration, y_calibration: held-out data for the p-values (750 points in the paper's MNIST run).

        Returns:
            self.
        """
        self._train_labels = np.asarray(y_train).reshape(-1).astype(np.int64)
        if self.k > len(self._train_labels):
            raise ValueError(f"k = {self.k} is more than the {len(self._train_labels)} training points.")
        self.num_classes = int(self._train_labels.max()) + 1
        self._indexes = []
        for rep in self._represent(x_train):
            index = self._make_index(rep.shape[1])
            if not index.is_trained:
                index.train(rep)
            index.add(rep)
            self._indexes.append(index)
        alpha = self.nonconformity(x_calibration)
        y_calibration = np.asarray(y_calibration).reshape(-1)
        self._calibration = np.sort(alpha[np.arange(len(alpha)), y_calibration])
        return self

    def neighbour_counts(self, x) -> np.ndarray:
        """(N, classes) counts of each label among the k neighbours, summed over the layers."""
        if not self._indexes:
            raise RuntimeError("Call fit(...) before using the DeepKNN.")
        counts = np.zeros((len(x), self.num_classes), np.int64)
        for index, rep in zip(self._indexes, self._represent(x)):
            _, neighbours = index.search(rep, self.k)
            labels = self._train_labels[neighbours]
            for j in range(self.num_classes):
                counts[:, j] += (labels == j).sum(axis=1)
        return counts

    def nonconformity(self, x) -> np.ndarray:
        """(N, classes) alpha(x, j): neighbours over all layers whose label is not j."""
        return self.k * len(self._indexes) - self.neighbour_counts(x)

    def predict(self, x) -> Dict[str, np.ndarray]:
        """Prediction, credibility, confidence and p-values per input.

        Returns:
            dict with "prediction" (N,), "credibility" (N,), "confidence" (N,) and "p_values" (N, classes).
        """
        if self._calibration is None:
            raise RuntimeError("Call fit(...) before using the DeepKNN.")
        alpha = self.nonconformity(x)
        calibration = self._calibration
        # |{a in A : a >= alpha}| via the sorted calibration scores
        p_values = (len(calibration) - np.searchsorted(calibration, alpha, side="left")) / len(calibration)
        ordered = np.sort(p_values, axis=1)
        return {"prediction": np.argmax(p_values, axis=1), "credibility": ordered[:, -1],
                "confidence": 1.0 - ordered[:, -2], "p_values": p_values}


def credibility_auroc(clean_credibility, adversarial_credibility) -> float:
    """AUROC of "low credibility" as a detector of adversarial inputs: the probability that a random adversarial
    input has lower credibility than a random clean one (ties count half; Mann-Whitney U / (n_clean n_adv))."""
    clean = np.asarray(clean_credibility, np.float64).reshape(-1)
    adversarial = np.asarray(adversarial_credibility, np.float64).reshape(-1)
    if clean.size == 0 or adversarial.size == 0:
        raise ValueError("credibility_auroc needs at least one clean and one adversarial credibility.")
    less = (adversarial[:, None] < clean[None, :]).mean()
    ties = (adversarial[:, None] == clean[None, :]).mean()
    return float(less + 0.5 * ties)


def credibility_reliability(result: Dict[str, np.ndarray], labels, n_bins: int = 15, *,
                            score: str = "credibility") -> ReliabilityDiagram:
    """Reliability diagram (and ECE) of a DkNN score taken as the confidence of the DkNN prediction.

    Credibility is a conformal p-value: on inputs like the calibration split the true label's p-value is about
    uniform on [0, 1], so credibility ranks how well the training data support a prediction rather than giving
    the probability that it is right; a large ECE on clean inputs is expected. Confidence (one minus the second
    largest p-value) is the other score the paper defines.

    Args:
        result: ``DeepKNN.predict``'s output.
        labels: (N,) true labels.
        n_bins: equal-width confidence bins (15 as Guo et al. 2017).
        score: "credibility" or "confidence".

    Returns:
        ``ReliabilityDiagram``: accuracy of the DkNN prediction against the mean score per bin, and the ECE.

    Raises:
        ValueError: an unknown score, labels of the wrong length.
    """
    if score not in ("credibility", "confidence"):
        raise ValueError(f"score must be 'credibility' or 'confidence', got {score!r}.")
    labels = np.asarray(labels).reshape(-1)
    if labels.shape[0] != result["prediction"].shape[0]:
        raise ValueError(f"labels must have one entry per prediction ({result['prediction'].shape[0]}), "
                         f"got {labels.shape[0]}.")
    return confidence_reliability(result[score], result["prediction"] == labels, n_bins=n_bins)
