"""AutoAttack (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", ICML): a fixed ensemble of parameter-free attacks, each run only on the points the
previous ones left robust; an example counts as robust only if every attack failed on it (the per-example
worst case over the ensemble).

Versions (the reference versions of the paper's code release):

- ``standard``: APGD-CE (100 iterations, no restarts) -> APGD-T (targeted DLR against the 9 most likely other
  classes) -> FAB-T (9 targets) -> Square (5,000 queries).
- ``plus``: APGD-CE and APGD-DLR (5 restarts each) -> FAB (untargeted, 5 restarts) -> Square (5,000 queries)
  -> APGD-T (9 targets) -> FAB-T (9 targets).
- ``rand``, for randomised models: APGD-CE and APGD-DLR with expectation over transformation, each gradient
  averaged over 20 forward passes (Athalye et al. 2018).

With fewer classes than the targeted attacks need, the number of targets is min(9, classes - 1); DLR needs at
least 3 classes (4 targeted) and a stage that cannot run is skipped with a warning (recorded in
``info["extra"]["skipped"]``). A gradient stage on a model without input gradients (``tf.round``,
``tf.stop_gradient``) is skipped the same way; Square still runs on it.

Robustness after each stage is measured by the model's own prediction on the returned images (one forward
pass), not by the stage's claim, so a stage cannot report a break that does not hold.
"""
from __future__ import annotations

import importlib
import logging
import time
from typing import Any, Dict, List, Tuple

import numpy as np
import tensorflow as tf

from tfrobust.attacks import apgd as _apgd_module  # noqa: F401  (registers apgd, apgd-t)
from tfrobust.attacks import square as _square_module  # noqa: F401  (registers square)
from tfrobust.attacks import registry
from tfrobust.attacks._inputs import check_batch_size, check_flag, check_seed, chunks, prepare
from tfrobust.attacks.info import attack_info
from tfrobust.validation import NORMS, check_choice, check_epsilon, check_positive

logger = logging.getLogger("tfrobust")

VERSIONS = ("standard", "plus", "rand")
N_TARGETS = 9
SQUARE_QUERIES = 5000
EOT_SAMPLES = 20

#: (stage name, registered attack, settings) per version; "n_target_classes" is capped by the class count.
STAGES: Dict[str, Tuple[Tuple[str, str, Dict[str, Any]], ...]] = {
    "standard": (
        ("apgd-ce", "apgd", {"loss": "ce", "restarts": 1, "steps": 100}),
        ("apgd-t", "apgd-t", {"loss": "dlr", "restarts": 1, "steps": 100, "n_target_classes": N_TARGETS}),
        ("fab-t", "fab", {"n_target_classes": N_TARGETS, "restarts": 1, "steps": 100}),
        ("square", "square", {"n_queries": SQUARE_QUERIES}),
    ),
    "plus": (
        ("apgd-ce", "apgd", {"loss": "ce", "restarts": 5, "steps": 100}),
        ("apgd-dlr", "apgd", {"loss": "dlr", "restarts": 5, "steps": 100}),
        ("fab", "fab", {"n_target_classes": None, "restarts": 5, "steps": 100}),
        ("square", "square", {"n_queries": SQUARE_QUERIES}),
        ("apgd-t", "apgd-t", {"loss": "dlr", "restarts": 1, "steps": 100, "n_target_classes": N_TARGETS}),
        ("fab-t", "fab", {"n_target_classes": N_TARGETS, "restarts": 1, "steps": 100}),
    ),
    "rand": (
        ("apgd-ce", "apgd", {"loss": "ce", "restarts": 1, "steps": 100, "eot_samples": EOT_SAMPLES}),
        ("apgd-dlr", "apgd", {"loss": "dlr", "restarts": 1, "steps": 100, "eot_samples": EOT_SAMPLES}),
    ),
}

#: Modules that register the stages' attacks, imported on first use (FAB lives in its own module).
_STAGE_MODULES = {"apgd": "tfrobust.attacks.apgd", "apgd-t": "tfrobust.attacks.apgd",
                  "fab": "tfrobust.attacks.fab", "square": "tfrobust.attacks.square"}


def _entry(attack: str):
    """The registry entry of a stage's attack, or None (with the reason) when it is not available."""
    try:
        importlib.import_module(_STAGE_MODULES[attack])
    except ImportError as error:
        return None, f"its module could not be imported ({error})"
    try:
        return registry.get(attack), ""
    except ValueError:
        return None, f"no attack named {attack!r} is registered"


def _stage_settings(attack: str, settings: Dict[str, Any], num_classes: int, budget: Dict[str, int]):
    """The settings for this class count and budget, or (None, reason) when the stage cannot run."""
    settings = dict(settings)
    if "steps" in settings:
        settings["steps"] = budget["steps"]
    if "n_queries" in settings:
        settings["n_queries"] = budget["n_queries"]
    if settings.get("n_target_classes") is not None:
        settings["n_target_classes"] = min(budget["n_target_classes"], num_classes - 1)
        if settings["n_target_classes"] < 1:
            return None, f"the model has {num_classes} class(es), no other class to target"
    needed = {"apgd-t": 4}.get(attack, 3 if settings.get("loss") == "dlr" else 2)
    if num_classes < needed:
        return None, f"it needs at least {needed} classes (DLR / targeted), the model has {num_classes}"
    return settings, ""


def _correct(logits_model, x, labels, batch_size) -> np.ndarray:
    preds = [np.argmax(logits_model(x[part]).numpy(), axis=1) for part in chunks(int(x.shape[0]), batch_size)]
    return np.concatenate(preds) == labels.numpy()


def autoattack(model, x, y, *, eps, norm="linf", version="standard", loss="ce", targeted=False,
               bounds=(0.0, 1.0), seed=0, batch_size=None, return_info=False, steps=100, n_queries=5000,
               n_target_classes=9):
    """Runs the AutoAttack ensemble (Croce & Hein 2020) and returns per example the worst case found.

    Args:
        model: callable images -> logits (softmax models are attacked on log-probabilities).
        x: images in ``bounds``, shape (batch, height, width, channels) (Square needs images).
        y: true labels, sparse or one-hot.
        eps: radius of the threat model in pixel units (0 returns x).
        norm: "linf" or "l2".
        version: "standard", "plus" or "rand" (see the module docstring).
        loss: "ce" only: the ensemble chooses its stages' losses itself; kept for the common contract.
        targeted: False only: AutoAttack measures misclassification (its targeted stages pick their own
            targets); for given targets run ``apgd(..., targeted=True)``.
        bounds: (low, high) pixel range.
        seed: seed of every stage's random parts.
        batch_size: stages attack in chunks of this many examples.
        return_info: also return the info dict.
        steps: iterations of the APGD and FAB stages (100: the published suite; change only for smoke runs,
            the table label then says so).
        n_queries: Square's query budget (5,000 in the published suite).
        n_target_classes: targets of APGD-T and FAB-T (9 in the published suite; capped at classes - 1).

    Returns:
        x_adv (float32, like x): per example the image of the first stage that broke it; where none did,
        the first stage's image (APGD-CE's highest-loss point), or x when no stage ran;
        with ``return_info`` (x_adv, info): info["success"] marks misclassified examples (including the
        clean errors), info["loss"] is NaN (no single loss), and info["extra"] has "broken_by" (per example
        "clean", a stage name, or "" where robust), "stages" (names run), "robust_accuracy" (after the clean
        pass and after each stage, by name), "seconds" (wall time per stage), "skipped" (stage -> reason),
        "clean_accuracy" and "version".

    Raises:
        TypeError, ValueError: bad images, labels, eps, norm, version, loss, targeted, seed or batch size.
    """
    norm = check_choice(norm, NORMS, "norm")
    version = check_choice(version, VERSIONS, "version")
    check_choice(loss, ("ce",), "loss (AutoAttack chooses its stages' losses)")
    if check_flag(targeted, "targeted"):
        raise ValueError("autoattack is untargeted (its targeted stages choose their own targets); for given "
                         "target labels use tfrobust.attacks.apgd(..., targeted=True).")
    return_info = check_flag(return_info, "return_info")
    eps = check_epsilon(eps, bounds, norm)
    seed = check_seed(seed)
    batch_size = check_batch_size(batch_size)
    budget = {"steps": int(check_positive(steps, "steps", integer=True)),
              "n_queries": int(check_positive(n_queries, "n_queries", integer=True)),
              "n_target_classes": int(check_positive(n_target_classes, "n_target_classes", integer=True))}
    inputs = prepare(model, x, y, bounds, targeted=False)  # untargeted: y are the true labels
    if inputs.x.shape.rank != 4:
        raise ValueError(f"autoattack needs images shaped (batch, height, width, channels), got {inputs.x.shape}.")
    num_classes = inputs.model.num_classes
    n = int(inputs.x.shape[0])

    start = time.perf_counter()
    robust = _correct(inputs.model, inputs.x, inputs.labels, batch_size)
    broken_by = np.where(robust, "", "clean").astype(object)
    seconds: Dict[str, float] = {"clean": time.perf_counter() - start}
    robust_accuracy: Dict[str, float] = {"clean": float(robust.mean())}
    skipped: Dict[str, str] = {}
    stages_run: List[str] = []
    x_adv = inputs.x.numpy().copy()
    moved = np.zeros(n, bool)  # x_adv already holds a stage's image
    example_steps, forward_passes = 0, n

    for stage, attack, settings in (STAGES[version] if eps > 0 else ()):
        if not robust.any():
            break
        entry, reason = _entry(attack)
        settings, why = (_stage_settings(attack, settings, num_classes, budget) if entry is not None else (None, reason))
        if settings is None:
            skipped[stage] = why
            logger.warning("autoattack: stage %s skipped: %s.", stage, why)
            continue
        idx = np.flatnonzero(robust)
        t0 = time.perf_counter()
        try:
            x_stage, info = entry.function(model, tf.gather(inputs.x, idx), tf.gather(inputs.labels, idx), eps=eps,
                                           norm=norm, bounds=bounds, seed=seed, batch_size=batch_size,
                                           return_info=True, **settings)
        except ValueError as error:
            if entry.needs_gradient and "gradient" in str(error):
                skipped[stage] = f"the model has no input gradient ({str(error).strip().splitlines()[-1].strip()})"
                logger.warning("autoattack: stage %s skipped: the model has no input gradient.", stage)
                continue
            raise
        still = _correct(inputs.model, x_stage, tf.gather(inputs.labels, idx), batch_size)
        forward_passes += int(info["forward_passes"]) + idx.size
        example_steps += int(info["example_steps"])
        broken = idx[~still]
        x_stage = x_stage.numpy()
        x_adv[broken] = x_stage[~still]
        first_image = idx[still & ~moved[idx]]
        x_adv[first_image] = x_stage[still & ~moved[idx]]
        moved[idx] = True
        broken_by[broken] = stage
        robust[broken] = False
        seconds[stage] = time.perf_counter() - t0
        robust_accuracy[stage] = float(robust.mean())
        stages_run.append(stage)

    x_adv = tf.constant(x_adv) if eps > 0 else inputs.x
    if not return_info:
        return x_adv
    return x_adv, attack_info(
        success=~robust, loss=None, x=inputs.x, x_adv=x_adv, norm=norm, example_steps=example_steps,
        forward_passes=forward_passes,
        extra={"broken_by": broken_by.astype(str), "stages": stages_run, "robust_accuracy": robust_accuracy,
               "seconds": seconds, "skipped": skipped, "clean_accuracy": robust_accuracy["clean"],
               "version": version})


def _label(settings: Dict[str, Any]) -> str:
    """"autoattack" (the published suite), with the version and any reduced budget spelled out."""
    label = "autoattack" + ("" if settings.get("version", "standard") == "standard" else "-" + settings["version"])
    published = (("steps", 100), ("n_queries", SQUARE_QUERIES), ("n_target_classes", N_TARGETS))
    reduced = [f"{key}={settings[key]}" for key, full in published if settings.get(key, full) != full]
    return label + (f"({','.join(reduced)})" if reduced else "")


registry.register("autoattack", autoattack, aliases=("aa",), defaults={"seed": 0}, label=_label,
                  quick_settings={"steps": 5, "n_queries": 100, "n_target_classes": 2})
