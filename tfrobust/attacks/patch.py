"""Universal targeted adversarial patch (Brown, Mané, Roy, Abadi & Gilmer 2017, "Adversarial Patch").

A patch p (a small image, ``size`` x ``size``) pasted anywhere on any image makes the classifier output the
target class t. It is not an eps-ball attack: the patch REPLACES the pixels under its mask with arbitrary values
in the pixel box, so it has no radius and is not a registered fixed-eps attack (it is called directly).

Placement. A placement (r, c, a, s) puts the patch's centre at pixel (r, c), rotated by a degrees and scaled by
s; the patched image is

    A(p, x, r, c, a, s) = (1 - m') * x + warp(m * p),      m' = warp(m),

with m the patch's mask (a square of ones, or a disc: Brown et al. use round patches), and ``warp`` the
bilinear inverse-warp of the (rotated, scaled, translated) patch onto the image grid. m' is exactly 0 off
the patch, so every pixel outside it keeps its value, and exactly 1 under it when a = 0, s = 1 and the
top-left corner is on an integer pixel (the test-time placement).

Training (Brown et al. Eq. 2 with expectation over transformation, Athalye et al. 2018, "Synthesizing robust
adversarial examples"):

    p* = argmax_p  E_{x ~ X, (r, c, a, s) ~ T} [ log Pr(t | A(p, x, r, c, a, s)) ],

with T uniform locations where the patch fits, rotations in [-max_angle, max_angle] and scales in
``scale_range``. p = sigmoid(w) keeps the patch in [0, 1] (``bounds`` in general); w is optimised with Adam on
minibatches of images, each with its own random placement. ``loss="margin"`` maximises
min(z_t - max_{k != t} z_k, kappa) instead of log Pr(t) (Carlini & Wagner's targeted margin).

Success (``patch_success``): the share of images whose clean prediction is not t that the model classifies as t
with the patch at random placements. Brown et al. (Fig. 3) show white-box success growing with the patch's
share of an ImageNet image.

Measured on the quickstart LeNet-5 (mnist5k, 97% clean), target 8, 300 Adam steps, test digits at random
integer locations (``experiments/universal_physical.py --preset quick``): 4x4 0.2%, 6x6 1.7%, 8x8 4.2%,
10x10 10%, 12x12 18% (a random patch: 0.1-7%); a 20x20 patch reaches 99.7%. The 8x8 patch stays far from 80%
whatever the training (LeNet-5 seed 0, 1,000 test digits x 4 locations). EOT over location only (no rotation,
no scaling, whole-pixel placements as at test time), 1,000 CE steps at lr 0.1: 6x6 2.4%, 8x8 6.1%, 10x10 17%;
the margin loss, 600 steps, each of the ten targets: 0-5.8% at 8x8 (best: 8). The ceiling is the model: a patch
trained for ONE fixed spot (1,500 margin steps, lr 0.1) reaches 61% with its corner at (10, 10) (over the
digit), 12% at (4, 4) and 0.2% at (0, 0); on a 3x3 grid of fixed spots (300 CE steps) 5% on average.
Placements are uniform over the 21 x 21 valid corners, most of them off the digit, where LeNet-5's valid
convolutions and its dense layer (trained on centred digits with blank borders) barely respond to any 8x8
pattern, so no universal 8x8 patch can reach 80% there. A second LeNet-5 (training seed 1, 97.8% clean):
8x8 at random locations 4.5% (1,000 CE steps); one fixed spot (600 margin steps) 0.0% at (0, 0), 56% at
(10, 10).

A translation-equivariant model lifts it, but not to 80%: the zoo's ResNet20 (global average pooling, so the
patch's features are the same wherever it lands) trained 3 epochs on the same 4,000 digits (Adam 1e-3, 95.9%
clean), 8x8 at random locations on 1,000 test digits: target 8 40% (300 CE steps with EOT over rotation +-20 deg
and scale 0.9-1.1; a random patch 5%), target 2 14%, target 0 3%; target 8 with 1,500 margin steps (kappa 10,
lr 0.1, EOT over location only) 51% (2 placements per digit), and 51% again with 3,000 steps (minibatch success
47-61% throughout): a plateau. At 8x8 the patch covers 2x2 of ResNet20's final 7x7 map, 8% of the pooled average.
Training that ResNet20 with translations (``keras.layers.RandomTranslation(0.25, 0.25)``, 4 epochs, 95.1% clean) makes
it less patch-prone, not more: target 8, 800 margin steps (kappa 10, lr 0.1, EOT over location only), 24.8% (a random
patch 3.6%).
"""
from __future__ import annotations

import dataclasses
import math
from typing import List, Optional, Tuple

import numpy as np
import tensorflow as tf

from tfrobust.attacks._inputs import check_seed
from tfrobust.logits import as_logits_model
from tfrobust.validation import check_bounds, check_choice, check_images, check_positive

SHAPES = ("square", "circle")
PATCH_LOSSES = ("ce", "margin")


def patch_mask(size: int, channels: int = 1, shape: str = "square") -> np.ndarray:
    """The patch's mask, (size, size, channels) of 0/1: a full square, or the disc inscribed in it.

    Raises:
        TypeError, ValueError: a size or channel count that is not a positive integer, an unknown shape.
    """
    size = check_positive(size, "size", integer=True)
    channels = check_positive(channels, "channels", integer=True)
    shape = check_choice(shape, SHAPES, "shape")
    if shape == "square":
        mask = np.ones((size, size), np.float32)
    else:
        centre = (size - 1) / 2.0
        i, j = np.mgrid[:size, :size]
        mask = (((i - centre) ** 2 + (j - centre) ** 2) <= (size / 2.0) ** 2).astype(np.float32)
    return np.repeat(mask[..., None], channels, axis=-1)


@dataclasses.dataclass(frozen=True)
class Placements:
    """Where each image gets the patch: centre row and column (pixels), rotation (degrees) and scale.

    Attributes:
        rows, cols: float arrays (n,), the patch centre; pixel (i, j) has its centre at (i, j).
        angles: float array (n,), rotation in degrees.
        scales: float array (n,), scale factor (1 = ``size`` pixels across).
    """

    rows: np.ndarray
    cols: np.ndarray
    angles: np.ndarray
    scales: np.ndarray

    def __len__(self) -> int:
        return int(self.rows.shape[0])


def random_placements(n: int, image_shape, size: int, *, max_angle: float = 0.0, scale_range=(1.0, 1.0),
                      rng: Optional[np.random.Generator] = None, integer: Optional[bool] = None) -> Placements:
    """n random placements that keep the whole (rotated, scaled) patch inside the image.

    The angle is uniform in [-max_angle, max_angle], the scale uniform in ``scale_range``, the location uniform
    over the centres whose bounding box of the transformed patch fits. With ``integer`` (default: when there is
    no rotation and no scaling), the top-left corner is on an integer pixel, so the patch replaces pixels
    exactly.

    Raises:
        ValueError: a bad count, angle or scale range, or a patch that cannot fit in the image.
    """
    n = check_positive(n, "n", integer=True)
    height, width = int(image_shape[0]), int(image_shape[1])
    if isinstance(max_angle, bool) or not isinstance(max_angle, (int, float)) or not 0 <= max_angle <= 180:
        raise ValueError(f"max_angle must be a number of degrees in [0, 180], got {max_angle!r}.")
    low, high = (float(s) for s in scale_range)
    if not 0 < low <= high:
        raise ValueError(f"scale_range must be (low, high) with 0 < low <= high, got {scale_range!r}.")
    rng = rng if rng is not None else np.random.default_rng()
    angles = rng.uniform(-max_angle, max_angle, n) if max_angle > 0 else np.zeros(n)
    scales = rng.uniform(low, high, n) if high > low else np.full(n, low)
    radians = np.deg2rad(angles)
    extent = scales * size * (np.abs(np.cos(radians)) + np.abs(np.sin(radians)))  # bounding-box side
    if np.any(extent > min(height, width) + 1e-6):
        raise ValueError(f"A {size}x{size} patch at scale up to {high:g} does not fit in a {height}x{width} image; "
                         "use a smaller size or scale_range.")
    integer = (max_angle == 0 and low == high == 1.0) if integer is None else bool(integer)
    if integer:
        rows = rng.integers(0, height - size + 1, n) + (size - 1) / 2.0
        cols = rng.integers(0, width - size + 1, n) + (size - 1) / 2.0
    else:
        half = (extent - 1) / 2.0
        rows = rng.uniform(half, height - 1 - half)
        cols = rng.uniform(half, width - 1 - half)
    return Placements(rows.astype(np.float32), cols.astype(np.float32), angles.astype(np.float32),
                      scales.astype(np.float32))


def apply_patch(x, patch, placements: Placements, mask=None) -> tf.Tensor:
    """Pastes ``patch`` on each image at its placement: (1 - warp(m)) * x + warp(m * patch).

    Differentiable in ``patch`` (bilinear sampling is linear in the patch's pixels).

    Args:
        x: images (n, H, W, C).
        patch: (size, size, C) tensor or array.
        placements: ``Placements`` of length n.
        mask: (size, size, C) 0/1 mask (default: the full square).

    Returns:
        The patched images, float32 (n, H, W, C).
    """
    x = tf.convert_to_tensor(x, tf.float32)
    patch = tf.convert_to_tensor(patch, tf.float32)
    size, channels = int(patch.shape[0]), int(patch.shape[-1])
    if patch.shape.rank != 3 or int(patch.shape[1]) != size or channels != int(x.shape[-1]):
        raise ValueError(f"patch must be (size, size, {int(x.shape[-1])}) for images of shape {tuple(x.shape[1:])}, "
                         f"got {tuple(patch.shape)}.")
    if len(placements) != int(x.shape[0]):
        raise ValueError(f"placements has {len(placements)} entries for {int(x.shape[0])} images.")
    mask = tf.ones_like(patch) if mask is None else tf.convert_to_tensor(mask, tf.float32)
    height, width = int(x.shape[1]), int(x.shape[2])
    padded = size + 2  # one ring of zeros: samples off the patch read 0 (mask and patch alike)
    both = tf.pad(tf.concat([mask * patch, mask], axis=-1), [[1, 1], [1, 1], [0, 0]])
    table = tf.reshape(both, (padded * padded, 2 * channels))
    radians = tf.convert_to_tensor(placements.angles, tf.float32)[:, None, None] * (math.pi / 180.0)
    scales = tf.convert_to_tensor(placements.scales, tf.float32)[:, None, None]
    ii, jj = tf.meshgrid(tf.range(height, dtype=tf.float32), tf.range(width, dtype=tf.float32), indexing="ij")
    di = ii[None] - tf.convert_to_tensor(placements.rows, tf.float32)[:, None, None]
    dj = jj[None] - tf.convert_to_tensor(placements.cols, tf.float32)[:, None, None]
    cos, sin = tf.cos(radians), tf.sin(radians)
    centre = (size - 1) / 2.0 + 1.0  # in padded coordinates
    u = (cos * di + sin * dj) / scales + centre  # inverse rotation and scaling: output pixel -> patch pixel
    v = (-sin * di + cos * dj) / scales + centre
    u = tf.clip_by_value(u, 0.0, padded - 1.0)
    v = tf.clip_by_value(v, 0.0, padded - 1.0)
    u0 = tf.minimum(tf.floor(u), padded - 2.0)
    v0 = tf.minimum(tf.floor(v), padded - 2.0)
    fu, fv = (u - u0)[..., None], (v - v0)[..., None]
    u0, v0 = tf.cast(u0, tf.int32), tf.cast(v0, tf.int32)

    def read(du, dv):
        return tf.gather(table, (u0 + du) * padded + (v0 + dv))

    sampled = ((1 - fu) * (1 - fv) * read(0, 0) + (1 - fu) * fv * read(0, 1)
               + fu * (1 - fv) * read(1, 0) + fu * fv * read(1, 1))
    painted, coverage = sampled[..., :channels], sampled[..., channels:]
    return (1.0 - coverage) * x + painted


@dataclasses.dataclass(frozen=True)
class AdversarialPatch:
    """A trained patch and how it was trained.

    Attributes:
        patch: float32 (size, size, C) in the pixel box.
        mask: its 0/1 mask, same shape.
        target: the target class.
        max_angle, scale_range: the rotations and scales it was trained under (EOT).
        history: (step, mean loss, success on the step's minibatch) every ``log_every`` steps.
    """

    patch: np.ndarray
    mask: np.ndarray
    target: int
    max_angle: float
    scale_range: Tuple[float, float]
    history: List[Tuple[int, float, float]]

    @property
    def size(self) -> int:
        return int(self.patch.shape[0])


def _targeted_loss(logits, target: int, loss: str, kappa: float):
    """Per example, the quantity the patch minimises: CE towards t, or -min(z_t - max_{k!=t} z_k, kappa)."""
    if loss == "ce":
        labels = tf.fill(tf.shape(logits)[:1], target)
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
    onehot = tf.one_hot(target, tf.shape(logits)[-1], dtype=logits.dtype)
    z_t = tf.reduce_sum(logits * onehot, axis=-1)
    other = tf.reduce_max(logits - 1e9 * onehot, axis=-1)
    return -tf.minimum(z_t - other, kappa)


def _check_common(model, x, target, bounds):
    lo, hi = check_bounds(bounds)
    x = check_images(x, (lo, hi))
    if x.shape.rank != 4:
        raise ValueError(f"Images must be (batch, height, width, channels), got shape {tuple(x.shape)}.")
    logits_model = as_logits_model(model, x[:1])
    num_classes = int(logits_model.num_classes)
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or not 0 <= target < num_classes:
        raise ValueError(f"target must be a class index in [0, {num_classes}), got {target!r}.")
    return logits_model, x, int(target), lo, hi


def train_patch(model, x, *, target: int, size: int, steps: int = 500, batch_size: int = 64,
                learning_rate: float = 0.1, max_angle: float = 20.0, scale_range=(0.9, 1.1), shape: str = "square",
                loss: str = "ce", kappa: float = 5.0, bounds=(0.0, 1.0), seed: Optional[int] = 0,
                log_every: int = 50, callback=None, integer: Optional[bool] = None) -> AdversarialPatch:
    """Trains a universal targeted patch with EOT over location, rotation and scale (Brown et al. 2017).

    Args:
        model: callable images -> logits (needs gradients).
        x: the training images (n, H, W, C) the patch is optimised over.
        target: the class the patch should force.
        size: the patch's side in pixels.
        steps: Adam steps; each on ``batch_size`` images drawn at random, each with its own placement.
        learning_rate: Adam's learning rate on the patch logits w (p = lo + (hi - lo) * sigmoid(w)).
        max_angle: rotations in [-max_angle, max_angle] degrees during training.
        scale_range: (low, high) scales during training.
        shape: "square" or "circle" (the mask).
        loss: "ce" (log Pr(t), Brown et al.) or "margin" (targeted margin capped at ``kappa``).
        kappa: cap of the margin loss.
        bounds: pixel box.
        seed: seed of the image draws, placements and initial patch (None: fresh).
        log_every: record (step, loss, minibatch success) every this many steps.
        callback: optional ``callback(step, loss, success)`` at each record (e.g. TensorBoard).
        integer: training placements with the top-left corner on an integer pixel, so the patch replaces pixels
            exactly as ``patch_success`` pastes it at test time; default: when there is no rotation and no
            scaling (``max_angle=0``, ``scale_range=(1, 1)``, EOT over location only). Off-grid placements
            sample the patch bilinearly, which blurs it and spreads it over size + 1 pixels.

    Returns:
        ``AdversarialPatch``.

    Raises:
        TypeError, ValueError: bad images, target, size, counts or choices.
    """
    logits_model, x, target, lo, hi = _check_common(model, x, target, bounds)
    steps = check_positive(steps, "steps", integer=True)
    batch_size = check_positive(batch_size, "batch_size", integer=True)
    learning_rate = check_positive(learning_rate, "learning_rate")
    log_every = check_positive(log_every, "log_every", integer=True)
    loss = check_choice(loss, PATCH_LOSSES, "loss")
    seed = check_seed(seed)
    rng = np.random.default_rng(seed)
    channels = int(x.shape[-1])
    mask = tf.constant(patch_mask(size, channels, shape))
    random_placements(1, x.shape[1:], size, max_angle=max_angle, scale_range=scale_range, rng=rng)  # checks
    if integer is None:
        integer = max_angle == 0 and float(scale_range[0]) == float(scale_range[1]) == 1.0
    elif integer and not (max_angle == 0 and float(scale_range[0]) == float(scale_range[1]) == 1.0):
        raise ValueError("integer=True places an unrotated, unscaled patch; use max_angle=0 and scale_range=(1, 1), "
                         "or integer=False.")
    logit = tf.Variable(rng.normal(0.0, 0.5, (size, size, channels)).astype(np.float32))
    optimizer = tf.keras.optimizers.Adam(learning_rate)
    x_np = x.numpy()
    history: List[Tuple[int, float, float]] = []

    def patch_value():
        return lo + (hi - lo) * tf.sigmoid(logit)

    @tf.function
    def train_step(images, rows, cols, angles, scales):
        with tf.GradientTape() as tape:
            patched = apply_patch(images, patch_value(), Placements(rows, cols, angles, scales), mask)
            logits = logits_model(patched)
            value = tf.reduce_mean(_targeted_loss(logits, target, loss, kappa))
        optimizer.apply_gradients([(tape.gradient(value, logit), logit)])
        return value, logits

    for step in range(1, steps + 1):
        where = random_placements(batch_size, x.shape[1:], size, max_angle=max_angle, scale_range=scale_range,
                                  rng=rng, integer=bool(integer))
        value, logits = train_step(x_np[rng.integers(0, len(x_np), batch_size)], where.rows, where.cols,
                                   where.angles, where.scales)
        if step % log_every == 0 or step == steps:
            success = float(np.mean(np.argmax(logits.numpy(), axis=1) == target))
            history.append((step, float(value), success))
            if callback is not None:
                callback(step, float(value), success)
    return AdversarialPatch(patch=patch_value().numpy() * mask.numpy(), mask=mask.numpy(), target=target,
                            max_angle=float(max_angle), scale_range=(float(scale_range[0]), float(scale_range[1])),
                            history=history)


def patch_success(model, x, patch, *, target: int, mask=None, max_angle: float = 0.0, scale_range=(1.0, 1.0),
                  trials: int = 1, bounds=(0.0, 1.0), seed: Optional[int] = 0, batch: int = 256) -> float:
    """Targeted success of a patch: share of (image, placement) pairs classified as ``target``.

    Only images whose clean prediction is not the target count. Each takes ``trials`` random placements
    (``random_placements``: integer pixel positions when there is no rotation and no scaling).

    Raises:
        ValueError: bad images, target or placement settings, or no image outside the target class.
    """
    logits_model, x, target, lo, hi = _check_common(model, x, target, bounds)
    trials = check_positive(trials, "trials", integer=True)
    patch = np.asarray(patch, np.float32)
    mask = np.ones_like(patch) if mask is None else np.asarray(mask, np.float32)
    rng = np.random.default_rng(check_seed(seed))
    x_np = x.numpy()
    clean = np.concatenate([np.argmax(np.asarray(logits_model(x_np[i:i + batch])), 1)
                            for i in range(0, len(x_np), batch)])
    x_np = x_np[clean != target]
    if not len(x_np):
        raise ValueError(f"Every image is already classified as the target {target}; nothing to measure.")
    hits, total = 0, 0
    for _ in range(trials):
        for i in range(0, len(x_np), batch):
            part = x_np[i:i + batch]
            where = random_placements(len(part), x.shape[1:], patch.shape[0], max_angle=max_angle,
                                      scale_range=scale_range, rng=rng)
            patched = tf.clip_by_value(apply_patch(part, patch, where, mask), lo, hi)
            hits += int(np.sum(np.argmax(np.asarray(logits_model(patched)), 1) == target))
            total += len(part)
    return hits / total


def random_patch(size: int, channels: int = 1, *, bounds=(0.0, 1.0), seed: Optional[int] = 0) -> np.ndarray:
    """A uniform random patch in the pixel box: the baseline a trained patch must beat."""
    lo, hi = check_bounds(bounds)
    size = check_positive(size, "size", integer=True)
    rng = np.random.default_rng(check_seed(seed))
    return rng.uniform(lo, hi, (size, size, channels)).astype(np.float32)


__all__ = ["AdversarialPatch", "Placements", "apply_patch", "patch_mask", "patch_success", "random_patch",
           "random_placements", "train_patch", "SHAPES", "PATCH_LOSSES"]
