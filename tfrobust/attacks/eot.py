"""Expectation over transformation (Athalye, Carlini & Wagner 2018, "Obfuscated gradients give a false sense
of security"; Athalye et al. 2018, "Synthesizing robust adversarial examples") for randomised models.

A model with randomness at inference (dropout left on, random input transforms, noise layers) answers
every query with a fresh draw omega, so the gradient of one forward pass is a one-sample estimate and an
attack that follows it overestimates robustness. EOT attacks the expectation instead:

    maximise  E_omega[ J(f(x; omega), y) ],   with   grad_x E_omega[J] = E_omega[ grad_x J ],

estimated by the mean over ``samples`` forward passes. ``eot(attack, samples=20)`` wraps any gradient
attack by handing it the model

    g(x) = (1 / S) sum_{s=1..S} log softmax f(x; omega_s)

(``ExpectedLogProbabilities``): the mean log-probabilities over S passes, drawn by running the batch S
times in one call (so the randomness must be drawn per example, as dropout, per-image noise and per-image
random transforms are). Every gradient the attack computes is then the mean over the S passes of the
per-pass gradients, d g / d x = (1/S) sum_s d log softmax f(x; omega_s) / d x. For the margin and DLR
losses, which only take differences of the outputs, the loss of g is exactly the mean over the passes of
the per-pass losses (log softmax shifts every logit of a pass by the same constant), so their gradient is
exactly Athalye et al.'s E_omega[grad J]; for cross entropy the gradient of -g_y is
E_omega[grad log p(y | x; omega)], plus the gradient of the log-normaliser of g. The attack's own
success test uses the prediction of g, the model's expected vote in log space.

``is_randomized(model, x)`` detects such models: two forward passes of the same input differ.
"""
from __future__ import annotations

import functools
import weakref
from typing import Callable, Union

import numpy as np
import tensorflow as tf

from tfrobust.attacks import registry
from tfrobust.logits import LogitsModel, as_logits_model
from tfrobust.validation import check_bounds, check_images, check_positive

DEFAULT_SAMPLES = 20  # AutoAttack's "rand" version and Athalye et al.'s evaluations
_WRAPPERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class ExpectedLogProbabilities:
    """A randomised model seen through its mean log-probabilities over ``samples`` forward passes.

    Args:
        model: callable images -> logits or probabilities (``tfrobust.logits`` rules), random at inference.
        samples: number of passes S averaged per call, integer > 0.

    Calling it on x of shape (batch, ...) runs the model once on the batch tiled S times and returns
    the (batch, classes) mean of ``log_softmax`` over the S passes.
    """

    def __init__(self, model: Callable, samples: int = DEFAULT_SAMPLES):
        self.samples = int(check_positive(samples, "samples", integer=True))
        self.logits_model = model if isinstance(model, LogitsModel) else LogitsModel(model)
        self.name = "eot%d_%s" % (self.samples, getattr(self.logits_model.model, "name", "model"))

    def __call__(self, x, training=False):
        x = tf.convert_to_tensor(x, tf.float32)
        if self.logits_model.output_kind == "auto" and tf.executing_eagerly():
            self.logits_model.resolve(x)  # logits or probabilities: learnt on the first (eager) call
        batch = tf.shape(x)[0]
        tiled = tf.tile(x, tf.concat([[self.samples], tf.ones([tf.rank(x) - 1], tf.int32)], 0))
        log_probs = tf.nn.log_softmax(self.logits_model(tiled, training=training), axis=-1)
        return tf.reduce_mean(tf.reshape(log_probs, [self.samples, batch, -1]), axis=0)


def expected_model(model: Callable, samples: int = DEFAULT_SAMPLES) -> ExpectedLogProbabilities:
    """The ``ExpectedLogProbabilities`` of ``model``, one per (model, samples), so compiled attacks are reused.

    The cached wrapper holds the model through a weak proxy (the cache must not keep models alive).
    """
    samples = int(check_positive(samples, "samples", integer=True))
    try:
        per_model = _WRAPPERS.setdefault(model, {})
    except TypeError:  # not weak-referenceable: a fresh wrapper (attacks then trace once per call)
        return ExpectedLogProbabilities(model, samples)
    if samples not in per_model:
        inner = model if isinstance(model, LogitsModel) else LogitsModel(weakref.proxy(model))
        per_model[samples] = ExpectedLogProbabilities(inner, samples)
    return per_model[samples]


def _resolve(attack: Union[str, Callable]) -> Callable:
    if isinstance(attack, str):
        entry = registry.get(attack)
        if not entry.needs_gradient:
            raise ValueError(f"Attack {entry.name!r} uses no gradients; EOT averages gradients, so there is "
                             f"nothing to wrap. Run {entry.name!r} on the randomised model as it is.")
        return entry.function
    if not callable(attack):
        raise TypeError(f"attack must be a registered attack name or an attack function, got {attack!r}.")
    return attack


def eot(attack: Union[str, Callable], *, samples: int = DEFAULT_SAMPLES) -> Callable:
    """Wraps a gradient attack so that every gradient is the mean over ``samples`` stochastic passes.

    Args:
        attack: a registered gradient attack's name (e.g. "pgd", "apgd", "fgsm") or an attack function
            ``fn(model, x, y, **settings)``.
        samples: forward passes averaged per model call, integer > 0 (20 in AutoAttack's "rand").

    Returns:
        A function with the wrapped attack's signature; it runs the attack on
        ``expected_model(model, samples)``. With ``return_info`` the info's "example_steps" and
        "forward_passes" count every pass (times ``samples``) and info["extra"]["eot_samples"] is set.

    Raises:
        TypeError, ValueError: unknown attack name, a gradient-free attack, a bad ``samples``.

    Example:
        >>> x_adv = eot("pgd", samples=20)(model, x, y, eps=0.3, step_size=0.01, steps=100)
    """
    function = _resolve(attack)
    samples = int(check_positive(samples, "samples", integer=True))

    @functools.wraps(function)
    def eot_attack(model, x, y, *args, **kwargs):
        result = function(expected_model(model, samples), x, y, *args, **kwargs)
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict):
            x_adv, info = result
            info = dict(info)
            for key in ("example_steps", "forward_passes"):
                if key in info:
                    info[key] = int(info[key]) * samples
            info["extra"] = {**dict(info.get("extra") or {}), "eot_samples": samples}
            return x_adv, info
        return result

    eot_attack.__name__ = f"eot_{getattr(function, '__name__', 'attack')}"
    eot_attack.eot_samples = samples
    return eot_attack


def is_randomized(model: Callable, x, *, trials: int = 2, bounds=(0.0, 1.0), rtol: float = 1e-5,
                  atol: float = 1e-6) -> bool:
    """True when forward passes of the same input differ (dropout at inference, random transforms, noise).

    Args:
        model: callable images -> logits or probabilities, called as at inference (``training=False``).
        x: a few images in ``bounds`` (the first 32 are used).
        trials: forward passes compared, integer >= 2.
        bounds: (low, high) pixel range of x.
        rtol, atol: tolerance of the comparison (GPU kernels may differ in the last bits between runs).

    Returns:
        bool: some pass differs from the first beyond the tolerance.

    Raises:
        TypeError, ValueError: bad images or trials.
    """
    trials = int(check_positive(trials, "trials", integer=True))
    if trials < 2:
        raise ValueError(f"trials must be >= 2 (two passes to compare), got {trials}.")
    lo, hi = check_bounds(bounds)
    x = check_images(x, (lo, hi))[:32]
    logits_model = as_logits_model(model, x)
    first = logits_model(x).numpy()
    return any(not np.allclose(logits_model(x).numpy(), first, rtol=rtol, atol=atol) for _ in range(trials - 1))

