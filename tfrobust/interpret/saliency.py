"""Gradient saliency maps of a class score with respect to the input.

With S_c(x) the logit of class c (the score before the softmax):

- Vanilla gradient (Simonyan, Vedaldi & Zisserman 2013, "Deep inside convolutional networks"):
  M(x) = dS_c / dx.
- SmoothGrad (Smilkov, Thorat, Kim, Viegas & Wattenberg 2017): the gradient averaged over noisy copies,
  M(x) = 1/n sum_i dS_c / dx (x + N(0, sigma^2)), sigma = noise_level * (max - min) of the bounds
  (the paper recommends 10-20%), n = 50.
- Integrated gradients (Sundararajan, Taly & Yan 2017, "Axiomatic attribution for deep networks"):
  IG_i(x) = (x_i - x'_i) * integral_0^1 dS_c / dx_i (x' + a (x - x')) da, with baseline x' (black image),
  computed with the trapezoidal rule on ``steps`` intervals. Completeness: sum_i IG_i(x) = S_c(x) - S_c(x'),
  up to the quadrature error, which falls with ``steps``.

c is the given class per example (default: the model's prediction).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import tensorflow as tf

from tfrobust.logits import as_logits_model
from tfrobust.validation import check_bounds, check_images, check_positive


def _setup(model, x, classes, bounds):
    lo, hi = check_bounds(bounds)
    x = check_images(x, (lo, hi))
    logits_model = as_logits_model(model, x)
    if classes is None:
        classes = tf.argmax(logits_model(x), axis=-1, output_type=tf.int32)
    classes = tf.reshape(tf.constant(np.asarray(classes), tf.int32), [-1])
    if int(classes.shape[0]) != int(x.shape[0]):
        raise ValueError(f"classes must have one entry per image ({x.shape[0]}), got {classes.shape[0]}.")
    return logits_model, x, classes, lo, hi


def _score_gradient(logits_model, x, classes):
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = tf.gather(logits_model(x), classes, axis=1, batch_dims=1)
    grad = tape.gradient(score, x)
    if grad is None:
        raise ValueError("The model's output does not depend on its input; it has no saliency map.")
    return score, grad


def vanilla_gradient(model, x, classes=None, *, bounds=(0.0, 1.0)) -> np.ndarray:
    """dS_c / dx per example (Simonyan et al. 2013).

    Args:
        model: callable images -> logits.
        x: images (batch, ...).
        classes: the class per example whose logit is explained (default: the prediction).
        bounds: pixel range of x.

    Returns:
        float32 numpy array like x.
    """
    logits_model, x, classes, _, _ = _setup(model, x, classes, bounds)
    return _score_gradient(logits_model, x, classes)[1].numpy()


def smoothgrad(model, x, classes=None, *, samples: int = 50, noise_level: float = 0.15, bounds=(0.0, 1.0),
               seed: Optional[int] = 0) -> np.ndarray:
    """The gradient averaged over ``samples`` Gaussian-noised copies of x (Smilkov et al. 2017).

    Args:
        model, x, classes, bounds: as ``vanilla_gradient``.
        samples: noisy copies n (50 in the paper).
        noise_level: sigma as a share of the pixel range (10-20% in the paper).
        seed: seed of the noise.

    Returns:
        float32 numpy array like x.
    """
    logits_model, x, classes, lo, hi = _setup(model, x, classes, bounds)
    samples = int(check_positive(samples, "samples", integer=True))
    sigma = float(check_positive(noise_level, "noise_level")) * (hi - lo)
    rng = tf.random.Generator.from_seed(seed) if seed is not None else tf.random.Generator.from_non_deterministic_state()
    total = tf.zeros_like(x)
    for _ in range(samples):
        total += _score_gradient(logits_model, x + sigma * rng.normal(tf.shape(x)), classes)[1]
    return (total / samples).numpy()


def integrated_gradients(model, x, classes=None, *, baseline=None, steps: int = 64, bounds=(0.0, 1.0),
                         return_scores: bool = False):
    """Integrated gradients from ``baseline`` (default: the black image at the lower bound).

    Args:
        model, x, classes, bounds: as ``vanilla_gradient``.
        baseline: image(s) broadcastable to x; default all ``bounds[0]``.
        steps: trapezoid intervals along the straight path, integer > 0.
        return_scores: also return (S_c(x), S_c(baseline)) per example, to check completeness.

    Returns:
        float32 numpy attributions like x; with ``return_scores`` (attributions, score_x, score_baseline).
    """
    logits_model, x, classes, lo, _ = _setup(model, x, classes, bounds)
    steps = int(check_positive(steps, "steps", integer=True))
    base = tf.fill(tf.shape(x), lo) if baseline is None else tf.broadcast_to(
        tf.convert_to_tensor(baseline, tf.float32), tf.shape(x))
    n = int(x.shape[0])
    alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32)
    weights = np.ones(steps + 1, np.float32)
    weights[[0, -1]] = 0.5
    per_chunk = max(1, 512 // n)  # path points per gradient call: all images at several alphas at once
    total = tf.zeros_like(x)
    scores = []
    for start in range(0, steps + 1, per_chunk):
        a = tf.constant(alphas[start:start + per_chunk])
        shape = tf.concat([[-1, 1], tf.ones([tf.rank(x) - 1], tf.int32)], 0)
        path = base[None] + tf.reshape(a, shape) * (x - base)[None]  # (alphas, N, ...)
        flat = tf.reshape(path, tf.concat([[-1], tf.shape(x)[1:]], 0))
        score, grad = _score_gradient(logits_model, flat, tf.tile(classes, [int(a.shape[0])]))
        grad = tf.reshape(grad, tf.shape(path))
        w = tf.reshape(tf.constant(weights[start:start + per_chunk]), shape)
        total += tf.reduce_sum(w * grad, axis=0)
        scores.append(tf.reshape(score, [-1, n]))
    scores = tf.concat(scores, axis=0)
    score_base, score_x = scores[0], scores[-1]
    attributions = ((x - base) * total / steps).numpy()
    if return_scores:
        return attributions, score_x.numpy(), score_base.numpy()
    return attributions
