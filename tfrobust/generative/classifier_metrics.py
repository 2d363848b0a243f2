"""Sample-quality numbers that need no download: "classifier FID" and a classifier score.

Heusel et al. (2017) define the Fréchet Inception Distance between real and generated images as the Fréchet
(2-Wasserstein) distance between Gaussians fitted to their Inception-v3 pool features:

    d² = ||μ_r − μ_g||² + Tr(Σ_r + Σ_g − 2 (Σ_r Σ_g)^{1/2}).

Inception-v3 weights need a download and were trained on ImageNet, so here the features are those of a tfrobust
classifier trained on the same data (the input of its logits layer). The number is therefore *not* comparable
with published FIDs; we call it "classifier FID". ``Tr((Σ_r Σ_g)^{1/2})`` is computed as the sum of the square
roots of the eigenvalues of Σ_r^{1/2} Σ_g Σ_r^{1/2} (symmetric PSD, so numerically stable with ``eigh``).

The classifier score follows the Inception score of Salimans et al. (2016) with the same classifier:
exp(E_x KL(p(y | x) ‖ p(y))), between 1 and the number of classes; higher means confident and diverse samples.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras


def feature_model(classifier: keras.Model) -> keras.Model:
    """The classifier cut before its last layer: images -> the features its logits layer reads.

    Raises:
        ValueError: a model whose last layer has several inputs.
    """
    last = classifier.layers[-1]
    if isinstance(last.input, (list, tuple)):
        raise ValueError(f"{classifier.name}: the last layer {last.name!r} has several inputs; give a model whose "
                         f"last layer is its logits layer.")
    return keras.Model(classifier.inputs, last.input, name=f"{classifier.name}_features")


def _batched(model, x, batch_size: int = 500) -> np.ndarray:
    return np.concatenate([np.asarray(model(tf.convert_to_tensor(x[i:i + batch_size], tf.float32), training=False))
                           for i in range(0, len(x), batch_size)]).astype(np.float64)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (the squared 2-Wasserstein distance)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = root1 @ s2 @ root1
    trace_sqrt = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)))
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt)


def gaussian_statistics(features: np.ndarray):
    """Mean and covariance (rows are examples)."""
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"Need at least 2 feature vectors in a 2-D array, got shape {features.shape}.")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def classifier_fid(classifier: keras.Model, real, generated) -> float:
    """"Classifier FID" between real and generated images, on ``feature_model(classifier)`` features."""
    features = feature_model(classifier)
    return frechet_distance(*gaussian_statistics(_batched(features, real)),
                            *gaussian_statistics(_batched(features, generated)))


def classifier_score(classifier: keras.Model, generated) -> float:
    """exp(E KL(p(y|x) ‖ p(y))) with p(y|x) the classifier's softmax (Salimans et al. 2016's formula)."""
    probs = tf.nn.softmax(_batched(classifier, generated)).numpy()
    marginal = probs.mean(axis=0, keepdims=True)
    kl = np.sum(probs * (np.log(probs + 1e-12) - np.log(marginal + 1e-12)), axis=1)
    return float(np.exp(kl.mean()))
