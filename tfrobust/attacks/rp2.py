"""A masked, physically robust perturbation in the spirit of RP2 (Eykholt, Evtimov, Fernandes, Li, Rahmati, Xiao,
Prakash, Kohno & Song 2018, "Robust Physical-World Attacks on Deep Learning Visual Classification", CVPR).

RP2 confines the perturbation to a mask M (stickers on a stop sign) and asks it to survive the conditions a
camera sees. Its objective (Eq. 3 of the paper, without the printability term NPS, which needs a printer) is,
per image x and target y*,

    min_delta  lambda * ||M * delta||_p  +  E_{t ~ T} J( f( t( clip(x + M * delta) ) ), y* ),

with J the cross entropy and T a distribution of physical transformations. Here T is photometric (the paper
samples photographs of the sign under varying conditions; MNIST has none): per image a brightness shift b, a
contrast factor c around the image mean and Gaussian sensor noise,

    t(x) = clip( c * (x - mean(x)) + mean(x) + b + N(0, sigma^2), low, high ),

b ~ U(-brightness, brightness), c ~ U(contrast), each expectation estimated with ``eot_samples`` draws per
step. delta is optimised with Adam and projected after each step onto [low - x, high - x], so x + delta stays
in the box (a delta left outside it would sit where clipping zeroes its gradient, and never come back). With
a small mask the box binds: most masked pixels end at 0 or 1. The perturbed image clip(x + M * delta) equals x
exactly wherever M = 0.

It is not an eps-ball attack (the regulariser, not a radius, bounds delta), so it is not registered as a
fixed-eps attack. The paper's abstract reports up to 100% targeted misclassification of road signs in lab
tests and 84.8% of the captured video frames in a field (drive-by) test.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

import numpy as np
import tensorflow as tf

from tfrobust.attacks._inputs import check_seed
from tfrobust.logits import as_logits_model
from tfrobust.validation import check_bounds, check_choice, check_images, check_positive

MASKS = ("bars", "box")
P_NORMS = ("l1", "l2")


@dataclasses.dataclass(frozen=True)
class PhotometricTransforms:
    """The physical conditions T of the attack: brightness, contrast and sensor noise.

    Attributes:
        brightness: b ~ U(-brightness, brightness), added to every pixel (pixel units).
        contrast: (low, high) of the contrast factor c around the image mean.
        noise_std: sigma of the Gaussian noise per pixel.
    """

    brightness: float = 0.2
    contrast: Tuple[float, float] = (0.7, 1.3)
    noise_std: float = 0.05

    def __post_init__(self):
        if not 0 <= self.brightness <= 1:
            raise ValueError(f"brightness must be in [0, 1] (pixel units), got {self.brightness!r}.")
        low, high = self.contrast
        if not 0 < low <= high:
            raise ValueError(f"contrast must be (low, high) with 0 < low <= high, got {self.contrast!r}.")
        if not 0 <= self.noise_std:
            raise ValueError(f"noise_std must be >= 0, got {self.noise_std!r}.")

    def sample(self, x, generator: tf.random.Generator, bounds=(0.0, 1.0)) -> tf.Tensor:
        """t(x) for each image of the batch, with its own b, c and noise."""
        lo, hi = bounds
        shape = tf.concat([tf.shape(x)[:1], tf.ones([tf.rank(x) - 1], tf.int32)], 0)
        b = generator.uniform(shape, -self.brightness, self.brightness) if self.brightness else 0.0
        low, high = self.contrast
        c = generator.uniform(shape, low, high) if high > low else low
        mean = tf.reduce_mean(x, axis=tf.range(1, tf.rank(x)), keepdims=True)
        out = c * (x - mean) + mean + b
        if self.noise_std:
            out = out + generator.normal(tf.shape(x), stddev=self.noise_std)
        return tf.clip_by_value(out, lo, hi)


def sticker_mask(image_shape, kind: str = "bars") -> np.ndarray:
    """A sticker-shaped 0/1 mask of an image's shape (H, W, C).

    "bars": two horizontal strips, each an eighth of the height tall, across the middle 60% of the width, at a
    third and two thirds of the height (like the paper's two black-and-white sticker bands); "box": a centred
    square of half the side.

    Raises:
        ValueError: an unknown kind, or an image smaller than 8 x 8.
    """
    kind = check_choice(kind, MASKS, "kind")
    height, width = int(image_shape[0]), int(image_shape[1])
    channels = int(image_shape[2]) if len(image_shape) > 2 else 1
    if height < 8 or width < 8:
        raise ValueError(f"sticker_mask needs an image of at least 8 x 8, got {height} x {width}.")
    mask = np.zeros((height, width), np.float32)
    if kind == "bars":
        tall = max(1, height // 8)
        left, right = int(round(0.2 * width)), int(round(0.8 * width))
        for centre in (height // 3, (2 * height) // 3):
            top = centre - tall // 2
            mask[top:top + tall, left:right] = 1.0
    else:
        side_h, side_w = height // 2, width // 2
        top, left = (height - side_h) // 2, (width - side_w) // 2
        mask[top:top + side_h, left:left + side_w] = 1.0
    return np.repeat(mask[..., None], channels, axis=-1)


@dataclasses.dataclass(frozen=True)
class RP2Result:
    """The perturbed images and their perturbation.

    Attributes:
        x_adv: clip(x + M * delta), float32 like x.
        delta: x_adv - x (zero wherever the mask is zero).
        success: bool (n,), classified as the target without transformation.
        history: (step, mean objective) every ``log_every`` steps.
    """

    x_adv: np.ndarray
    delta: np.ndarray
    success: np.ndarray
    history: list


def _targets(target, n: int, num_classes: int) -> np.ndarray:
    targets = np.full(n, target) if np.ndim(target) == 0 else np.asarray(target)
    if targets.shape != (n,) or not np.issubdtype(targets.dtype, np.integer) or \
            targets.min() < 0 or targets.max() >= num_classes:
        raise ValueError(f"target must be one class index or one per image, in [0, {num_classes}); "
                         f"got {np.asarray(target)!r}.")
    return targets.astype(np.int64)


def rp2(model, x, target, *, mask, transforms: Optional[PhotometricTransforms] = None, steps: int = 300,
        learning_rate: float = 0.05, lam: float = 0.01, p: str = "l2", eot_samples: int = 4,
        bounds=(0.0, 1.0), seed: Optional[int] = 0, log_every: int = 50) -> RP2Result:
    """RP2's masked perturbation of each image towards its target, robust to ``transforms``.

    Args:
        model: callable images -> logits (needs gradients).
        x: images (n, H, W, C).
        target: one target class for all, or one per image.
        mask: 0/1 array broadcastable to an image (``sticker_mask``).
        transforms: ``PhotometricTransforms`` of the expectation (None: the defaults; pass
            ``PhotometricTransforms(0, (1, 1), 0)`` for the digital attack without EOT).
        steps: Adam steps.
        learning_rate: Adam's learning rate on delta.
        lam: lambda, the weight of the L_p regulariser.
        p: "l1" or "l2", the regulariser's norm.
        eot_samples: transformations drawn per image per step.
        bounds: pixel box.
        seed: seed of the transformations (None: fresh).
        log_every: record the objective every this many steps.

    Returns:
        ``RP2Result``.

    Raises:
        TypeError, ValueError: bad images, target, mask or settings.
    """
    lo, hi = check_bounds(bounds)
    x = check_images(x, (lo, hi))
    logits_model = as_logits_model(model, x[:1])
    targets = tf.constant(_targets(target, int(x.shape[0]), int(logits_model.num_classes)))
    mask = np.asarray(mask, np.float32)
    try:
        mask = tf.constant(np.broadcast_to(mask, x.shape[1:]))
    except ValueError:
        raise ValueError(f"mask of shape {mask.shape} does not broadcast to images of shape "
                         f"{tuple(x.shape[1:])}; use sticker_mask(image_shape).") from None
    if not np.all((mask.numpy() == 0) | (mask.numpy() == 1)):
        raise ValueError("mask must hold only 0 and 1.")
    transforms = PhotometricTransforms() if transforms is None else transforms
    steps = check_positive(steps, "steps", integer=True)
    eot_samples = check_positive(eot_samples, "eot_samples", integer=True)
    learning_rate = check_positive(learning_rate, "learning_rate")
    log_every = check_positive(log_every, "log_every", integer=True)
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or lam < 0:
        raise ValueError(f"lam must be a number >= 0, got {lam!r}.")
    p = check_choice(p, P_NORMS, "p")
    seed = check_seed(seed)
    generator = tf.random.Generator.from_seed(seed) if seed is not None else \
        tf.random.Generator.from_non_deterministic_state()
    delta = tf.Variable(tf.zeros_like(x))
    optimizer = tf.keras.optimizers.Adam(learning_rate)
    axes = list(range(1, x.shape.rank))

    def perturbed():
        return tf.clip_by_value(x + mask * delta, lo, hi)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            x_adv = perturbed()
            masked = mask * delta
            size = tf.reduce_sum(tf.abs(masked), axes) if p == "l1" else \
                tf.sqrt(tf.reduce_sum(tf.square(masked), axes) + 1e-12)
            losses = []
            for _ in range(eot_samples):
                logits = logits_model(transforms.sample(x_adv, generator, (lo, hi)))
                losses.append(tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits))
            objective = tf.reduce_mean(lam * size + tf.add_n(losses) / eot_samples)
        optimizer.apply_gradients([(tape.gradient(objective, delta), delta)])
        delta.assign(tf.clip_by_value(delta, lo - x, hi - x))  # keeps x + delta in the box: no dead gradients
        return objective

    history = []
    for index in range(1, steps + 1):
        value = step()
        if index % log_every == 0 or index == steps:
            history.append((index, float(value)))
    x_adv = perturbed()
    success = np.argmax(np.asarray(logits_model(x_adv)), 1) == targets.numpy()
    return RP2Result(x_adv=x_adv.numpy(), delta=(x_adv - x).numpy(), success=success, history=history)


def targeted_success(model, x_adv, target, *, transforms: Optional[PhotometricTransforms] = None,
                     samples: int = 10, bounds=(0.0, 1.0), seed: Optional[int] = 0) -> float:
    """Share of images classified as their target, without (``transforms=None``) or under random conditions
    (the mean over ``samples`` draws of ``transforms`` per image)."""
    lo, hi = check_bounds(bounds)
    x_adv = check_images(x_adv, (lo, hi))
    logits_model = as_logits_model(model, x_adv[:1])
    targets = _targets(target, int(x_adv.shape[0]), int(logits_model.num_classes))
    if transforms is None:
        return float(np.mean(np.argmax(np.asarray(logits_model(x_adv)), 1) == targets))
    samples = check_positive(samples, "samples", integer=True)
    seed = check_seed(seed)
    generator = tf.random.Generator.from_seed(seed) if seed is not None else \
        tf.random.Generator.from_non_deterministic_state()
    hits = [np.argmax(np.asarray(logits_model(transforms.sample(x_adv, generator, (lo, hi)))), 1) == targets
            for _ in range(samples)]
    return float(np.mean(hits))


__all__ = ["MASKS", "PhotometricTransforms", "RP2Result", "rp2", "sticker_mask", "targeted_success"]
