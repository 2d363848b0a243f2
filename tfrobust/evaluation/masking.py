"""Gradient-masking checks: signs that a robustness evaluation is fooled by its own attack.

Implements the warning signs of Carlini et al. (2019, "On evaluating adversarial robustness",
Sec. 5 and Appendix) and Athalye, Carlini & Wagner (2018, "Obfuscated gradients give a false sense
of security", Sec. 3), each as a measured number with a threshold:

(a) ``iterative_weaker_than_one_step``: PGD accuracy > FGSM accuracy + tolerance. An iterative
    attack includes the one-step attack's direction; it can only lose when gradients mislead.
(b) ``large_eps_not_zero``: PGD at a huge eps (half the bounds range by default, where any image
    can be turned into a grey one) leaves accuracy above ``near_zero``.
(c) ``zero_or_nan_gradients``: a share of examples has an all-zero or non-finite input gradient of
    the cross entropy, computed both on the model's raw outputs treated as logits (what a naive
    attacker does) and on what tfrobust attacks (log-probabilities of a softmax model). Zero
    gradients come from saturated softmax, quantisation (``tf.round``) or ``stop_gradient``.
(d) ``softmax_as_logits``: the model outputs probabilities; cross entropy on them vanishes where
    the softmax saturates (Carlini & Wagner 2016 on defensive distillation). When tfrobust already
    attacks the log-probabilities (``output_kind == "probabilities"``) and that attack works (attacked
    gradients non-zero, PGD at ``large_eps`` near zero, margin no stronger than cross entropy), this is
    a note in ``MaskingReport.notes``, not a finding: a plain softmax classifier is not masked.
(e) ``noise_as_strong_as_attack``: random sign noise of size eps lowers accuracy at least as much
    as the best gradient attack, or fools examples every gradient attack failed on.
(f) ``margin_much_stronger_than_ce``: PGD on the margin loss (Carlini & Wagner 2017) beats PGD on
    cross entropy by ``loss_gap`` or more: the classic sign of a saturated softmax, e.g. logits
    scaled by a large temperature (seed 004's temperature training, defensive distillation).

AutoAttack's checks (Croce & Hein 2020, Sec. 5 "Reliable evaluation"; ``autoattack_checks=True``):

(g) ``black_box_stronger_than_white_box``: the score-based Square attack (Andriushchenko et al. 2020),
    which never reads a gradient, reaches a lower accuracy than the best white-box attack, or fools
    examples every white-box attack failed on (more than ``tolerance`` of them).
(h) ``randomised_outputs_without_eot``: two forward passes of the same input differ; gradients of one
    draw are then noise, and attacks need expectation over transformation (``autoattack(version="rand")``,
    ``apgd(eot_samples=20)``; Athalye et al. 2018).
(i) ``too_few_classes_for_dlr``: fewer than 3 classes (DLR undefined) or 4 (targeted DLR undefined), so
    APGD-DLR / APGD-T, two of AutoAttack's stages, cannot check a cross-entropy evaluation.
(j) ``budget_stopped_while_climbing``: PGD with twice the steps lowers accuracy by more than
    ``tolerance``, or raises the mean loss of the examples robust to both by more than ``loss_climb``
    (relative): the evaluation stopped at a fixed budget while its loss was still rising.

With a substitute (``substitute=``; ``tfrobust.evaluation.transfer_check``):

(k) ``transfer_stronger_than_white_box``: examples crafted on a substitute model (one trained from the model's
    label queries, ``tfrobust.attacks.transfer.train_substitute``, or any other model of the task) and
    transferred reach a lower accuracy than the best white-box attack, or fool more than ``tolerance`` of the
    examples every white-box attack failed on (Athalye et al. 2018, Sec. 3; Papernot et al. 2017 against
    defensive distillation, seed 003).

``suspicious`` is True when any check fires. Passing all checks does not prove robustness; it
only means these known failure modes were not seen.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Sequence

import numpy as np
import tensorflow as tf

from tfrobust.attacks.pgd import pgd
from tfrobust.attacks.spec import Attack
from tfrobust.attacks.square import square
from tfrobust.attacks.transfer import transfer_pgd
from tfrobust.io import to_jsonable, write_json_atomic
from tfrobust.evaluation.robust_accuracy import evaluate_epsilons, iterate_batches, model_name
from tfrobust.evaluation.transfer_check import CHECK_NAME, transfer_finding, transfer_fires, transfer_measurements
from tfrobust.logits import LogitsModel, as_logits_model, looks_like_probabilities
from tfrobust.validation import check_bounds, check_epsilon, check_images, check_labels, check_positive


@dataclass
class MaskingReport:
    """Outcome of ``masking_report``.

    Attributes:
        suspicious: True when at least one check fired.
        findings: one human-readable sentence per fired check: the check, the numbers, the meaning.
        checks: the measured numbers (accuracies, gradient shares, thresholds) by name.
        fired: names of the checks that fired.
        eps: the eps the attacks used.
        notes: observations that do not make the evaluation suspicious (e.g. a softmax output that
            tfrobust attacks as log-probabilities with success).
    """

    suspicious: bool
    findings: List[str]
    checks: Dict[str, Any]
    fired: List[str] = field(default_factory=list)
    eps: float = 0.0
    notes: List[str] = field(default_factory=list)

    def to_dict(self) -> Dict[str, Any]:
        return to_jsonable({"suspicious": self.suspicious, "findings": self.findings, "checks": self.checks,
                            "fired": self.fired, "eps": self.eps, "notes": self.notes})

    def to_json(self, path: str | None = None, indent: int = 2) -> str:
        """The report as JSON text; also written atomically to ``path`` when given."""
        if path is not None:
            write_json_atomic(path, self.to_dict(), indent=indent)
        return json.dumps(self.to_dict(), indent=indent)

    def __str__(self) -> str:
        notes = [f"- note: {note}" for note in self.notes]
        if not self.suspicious:
            return "\n".join([f"Gradient-masking checks at eps={self.eps:g}: none fired."] + notes)
        lines = [f"Gradient-masking checks at eps={self.eps:g}: {len(self.fired)} fired (SUSPICIOUS)."]
        return "\n".join(lines + [f"- {finding}" for finding in self.findings] + notes)


def input_gradient_stats(model: Callable, x, y, *, batch_size: int = 256) -> Dict[str, float]:
    """Share of examples whose cross-entropy input gradient is all zero or non-finite.

    The loss is ``sparse_softmax_cross_entropy(model(x), y)``: ``model``'s outputs are treated as
    logits, whatever they are. A gradient that TensorFlow cannot compute at all (``None``, e.g.
    behind ``tf.round`` or ``tf.stop_gradient``) counts as zero.

    Args:
        model: callable images -> outputs treated as logits.
        x: float32 images (already checked).
        y: sparse int labels.
        batch_size: examples per gradient computation.

    Returns:
        ``{"zero_share", "nonfinite_share", "median_l1", "disconnected"}``: shares of examples, the
        median per-example L1 gradient norm over finite gradients (0 when none), and whether
        TensorFlow found no gradient path at all (``None``).
    """
    zero, nonfinite, l1, disconnected = [], [], [], False
    for xb, yb in iterate_batches(x, y, batch_size):
        xb = tf.convert_to_tensor(xb, tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(xb)
            loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.cast(yb, tf.int32), logits=tf.cast(model(xb), tf.float32)))
        grad = tape.gradient(loss, xb)
        disconnected |= grad is None
        g = np.zeros(xb.shape, np.float32) if grad is None else grad.numpy()
        g = g.reshape(g.shape[0], -1)
        finite = np.all(np.isfinite(g), axis=1)
        nonfinite.append(~finite)
        zero.append(finite & np.all(g == 0, axis=1))
        l1.append(np.where(finite, np.abs(np.where(np.isfinite(g), g, 0)).sum(axis=1), np.nan))
    zero, nonfinite, l1 = np.concatenate(zero), np.concatenate(nonfinite), np.concatenate(l1)
    finite_l1 = l1[np.isfinite(l1)]
    return {"zero_share": float(zero.mean()), "nonfinite_share": float(nonfinite.mean()),
            "median_l1": float(np.median(finite_l1)) if finite_l1.size else 0.0, "disconnected": disconnected}


class _ZeroGradientForNone:
    """Adds 0 * x to the logits so that an input gradient TensorFlow cannot compute (None, behind
    ``tf.round`` or ``tf.stop_gradient``) becomes a zero gradient: the attacks then run and show
    what a gradient attack achieves on such a model, instead of stopping with an error."""

    def __init__(self, logits_model: LogitsModel):
        self.logits_model = logits_model
        self.name = model_name(logits_model)

    def __call__(self, x, training: bool = False):
        flat = tf.reshape(x, [tf.shape(x)[0], -1])
        return self.logits_model(x) + tf.reduce_sum(0.0 * flat, axis=1, keepdims=True)


def _as_arrays(x, y):
    if isinstance(x, tf.data.Dataset):
        parts = list(iterate_batches(x, y, batch_size=1 << 30))
        return np.concatenate([np.asarray(p[0]) for p in parts]), np.concatenate([np.asarray(p[1]) for p in parts])
    return x, y


def masking_report(model: Callable, x, y=None, *, eps: float, bounds: Sequence[float] = (0.0, 1.0),
                   steps: int = 20, large_eps: float | None = None, batch_size: int = 256,
                   tolerance: float = 0.03, near_zero: float = 0.10, zero_gradient_share: float = 0.05,
                   loss_gap: float = 0.10, seed: int | None = 0, autoattack_checks: bool = True,
                   square_queries: int = 1000, loss_climb: float = 0.25, substitute: Callable | None = None,
                   substitute_attack=None) -> MaskingReport:
    """Runs the gradient-masking checks (a)-(f), by default AutoAttack's (g)-(j), and with a substitute (k).

    Cost: 5 attacks (FGSM, PGD-CE at eps and at ``large_eps``, PGD-margin, noise) plus two gradient
    passes; a few hundred examples are enough.

    Args:
        model: any callable images -> logits (or probabilities, which check (d) reports).
        x: images in ``bounds`` (numpy, tensor or a Dataset of (x, y) batches, read into memory).
        y: labels, sparse or one-hot; ``None`` when ``x`` is a Dataset.
        eps: L-inf eps of the evaluation, in pixel units (> 0).
        bounds: (low, high) of valid pixel values.
        steps: PGD iterations (step size by the Madry rule 2.5 * eps / steps).
        large_eps: eps for check (b); default half the bounds range.
        batch_size: examples per attack call.
        tolerance: accuracy slack for checks (a) and (e).
        near_zero: accuracy that counts as "not reaching ~0" in check (b).
        zero_gradient_share: share of zero/non-finite gradients that fires check (c).
        loss_gap: accuracy gap between PGD-CE and PGD-margin that fires check (f).
        seed: seed of PGD random starts and of the noise.
        autoattack_checks: also run checks (g)-(j) (Square with ``square_queries`` queries on the
            examples still robust, PGD at twice ``steps``, two forward passes).
        square_queries: Square's query budget for check (g).
        loss_climb: relative rise of the mean loss at twice the steps that fires check (j).
        substitute: a model (Keras, or any callable images -> logits or probabilities) to craft transfer
            examples on for check (k); ``None`` skips it.
        substitute_attack: the attack run on the substitute (attack, spec string or ``Attack``); default PGD's
            last iterate with the report's ``steps`` and ``seed`` (``tfrobust.attacks.transfer.transfer_pgd``; the
            first fooling iterate that ``pgd`` returns barely crosses the substitute's boundary and rarely
            transfers). "mifgsm" is the other strong transfer attack (Dong et al. 2018).

    Returns:
        A ``MaskingReport``.

    Raises:
        ValueError, TypeError: bad images, labels, eps or thresholds.
    """
    lo, hi = check_bounds(bounds)
    eps = check_epsilon(eps, bounds)
    if eps == 0:
        raise ValueError("masking_report needs eps > 0: the checks compare attacks of size eps.")
    large_eps = check_epsilon(0.5 * (hi - lo) if large_eps is None else large_eps, bounds, name="large_eps")
    steps = int(check_positive(steps, "steps", integer=True))
    for name, value in (("tolerance", tolerance), ("near_zero", near_zero),
                        ("zero_gradient_share", zero_gradient_share), ("loss_gap", loss_gap)):
        if not 0 <= float(value) < 1:
            raise ValueError(f"{name} must be a share in [0, 1), got {value}.")
    x, y = _as_arrays(x, y)
    x = check_images(x, bounds)
    logits_model = as_logits_model(model, x)
    labels = check_labels(y, logits_model.num_classes, int(x.shape[0]))

    raw_model = LogitsModel(logits_model.model, output_kind="logits")
    raw_grad = input_gradient_stats(raw_model, x, labels, batch_size=batch_size)
    attacked_grad = input_gradient_stats(logits_model, x, labels, batch_size=batch_size)
    attacked_model = logits_model
    if attacked_grad["disconnected"]:
        attacked_model = LogitsModel(_ZeroGradientForNone(logits_model), output_kind="logits")
        attacked_model.num_classes = logits_model.num_classes

    def accuracies(attack: Attack, epsilons):
        _, _, _, clean, outcomes = evaluate_epsilons(attacked_model, x, labels, attack=attack, epsilons=epsilons,
                                                     batch_size=batch_size, early_stop=True, bounds=bounds)
        return clean, [np.concatenate(o.robust_correct) for o in outcomes]

    clean, (fgsm_ok,) = accuracies(Attack("fgsm"), [eps])
    _, (pgd_ok, pgd_large_ok) = accuracies(Attack("pgd", steps=steps, seed=seed), [eps, large_eps])
    _, (margin_ok,) = accuracies(Attack("pgd", steps=steps, loss="margin", seed=seed), [eps])
    _, (noise_ok,) = accuracies(Attack("noise", seed=seed), [eps])
    first_outputs = raw_model(x[:64]).numpy()

    acc = {"clean": clean.mean(), "fgsm": fgsm_ok.mean(), "pgd_ce": pgd_ok.mean(), "pgd_margin": margin_ok.mean(),
           "pgd_ce_large_eps": pgd_large_ok.mean(), "noise": noise_ok.mean()}
    acc = {k: float(v) for k, v in acc.items()}
    best_attack_ok = fgsm_ok & pgd_ok & margin_ok
    best_attack = float(best_attack_ok.mean())
    noise_only = float(np.mean(best_attack_ok & ~noise_ok))
    probabilities = logits_model.output_kind == "probabilities" or looks_like_probabilities(first_outputs)
    checks = {
        "n": int(clean.size), "eps": eps, "large_eps": large_eps, "pgd_steps": steps,
        "accuracy": acc, "best_attack_accuracy": best_attack, "noise_only_fooled_share": noise_only,
        "raw_output_gradients": raw_grad, "attacked_gradients": attacked_grad,
        "outputs_are_probabilities": bool(probabilities), "output_kind": logits_model.output_kind,
        "thresholds": {"tolerance": tolerance, "near_zero": near_zero, "zero_gradient_share": zero_gradient_share,
                       "loss_gap": loss_gap},
    }
    if substitute is not None:
        checks["transfer"] = transfer_measurements(
            logits_model, substitute, x, labels.numpy(), eps=eps, white_box_ok=best_attack_ok, bounds=bounds,
            attack=transfer_pgd(eps, steps=steps, seed=seed) if substitute_attack is None else substitute_attack,
            batch_size=batch_size)
    if autoattack_checks:
        checks["autoattack"] = autoattack_measurements(
            attacked_model, x, labels, eps=eps, bounds=bounds, steps=steps, white_box_ok=best_attack_ok,
            square_queries=int(check_positive(square_queries, "square_queries", integer=True)),
            batch_size=batch_size, seed=seed)
        checks["thresholds"]["loss_climb"] = float(check_positive(loss_climb, "loss_climb"))
    return judge_masking(checks)


def autoattack_measurements(logits_model: LogitsModel, x, labels, *, eps: float, bounds: Sequence[float],
                            steps: int, white_box_ok: np.ndarray, square_queries: int = 1000,
                            batch_size: int = 256, seed: int | None = 0) -> Dict[str, Any]:
    """Measures the numbers of AutoAttack's checks (g)-(j) (module docstring).

    Args:
        logits_model: the model as attacked (zero gradients where TensorFlow has none).
        x: float32 images (already checked); labels: sparse int32 labels.
        eps: L-inf eps; bounds: pixel range.
        steps: the PGD budget of the report (check (j) compares it with twice as many).
        white_box_ok: per example, robust to every white-box attack of the report.
        square_queries: Square's query budget.
        batch_size: chunk size of the attacks.
        seed: seed of Square and of the PGD starts.

    Returns:
        {"num_classes", "square_accuracy" (None for non-image inputs), "square_only_fooled_share",
        "white_box_accuracy", "output_max_difference", "randomised", "budget": {"steps", "accuracy",
        "accuracy_double", "mean_loss", "mean_loss_double", "robust_at_both"}}.
    """
    measured: Dict[str, Any] = {"num_classes": int(logits_model.num_classes),
                                "white_box_accuracy": float(np.mean(white_box_ok))}
    probe = x[:64]
    first, second = logits_model(probe).numpy(), logits_model(probe).numpy()
    difference = float(np.max(np.abs(first - second)))
    measured["output_max_difference"] = difference
    measured["randomised"] = bool(difference > 1e-5 * (1.0 + float(np.max(np.abs(first)))))
    if x.shape.rank == 4:
        _, info = square(logits_model, x, labels, eps=eps, bounds=bounds, seed=seed, n_queries=square_queries,
                         batch_size=batch_size, return_info=True)
        square_ok = ~info["success"]
        measured["square_accuracy"] = float(square_ok.mean())
        measured["square_only_fooled_share"] = float(np.mean(white_box_ok & ~square_ok))
    else:
        measured["square_accuracy"], measured["square_only_fooled_share"] = None, 0.0
    budget: Dict[str, Any] = {"steps": steps}
    runs = []
    for n_steps in (steps, 2 * steps):
        _, info = pgd(logits_model, x, labels, eps=eps, step_size=2.5 * eps / n_steps, steps=n_steps,
                      bounds=bounds, seed=seed, early_stop=True, batch_size=batch_size, return_info=True)
        runs.append(info)
    both = ~runs[0]["success"] & ~runs[1]["success"]
    budget["accuracy"] = float(np.mean(~runs[0]["success"]))
    budget["accuracy_double"] = float(np.mean(~runs[1]["success"]))
    budget["robust_at_both"] = int(both.sum())
    budget["mean_loss"] = float(np.mean(runs[0]["loss"][both])) if both.any() else None
    budget["mean_loss_double"] = float(np.mean(runs[1]["loss"][both])) if both.any() else None
    measured["budget"] = budget
    return measured


def judge_autoattack_checks(checks: Dict[str, Any], fire: Callable[[str, str], None]) -> None:
    """Applies AutoAttack's checks (g)-(j) to ``checks["autoattack"]``; calls ``fire(name, text)`` per finding."""
    measured = checks["autoattack"]
    thresholds = checks["thresholds"]
    tolerance, loss_climb = thresholds["tolerance"], thresholds.get("loss_climb", 0.25)
    eps = checks["eps"]
    square_acc, white = measured["square_accuracy"], measured["white_box_accuracy"]
    if square_acc is not None and (square_acc < white - tolerance or measured["square_only_fooled_share"] > tolerance):
        fire("black_box_stronger_than_white_box",
             f"The black-box Square attack, which never uses a gradient, reaches accuracy {square_acc:.3f} at "
             f"eps={eps:g} versus {white:.3f} for the best white-box attack, and fools "
             f"{measured['square_only_fooled_share']:.1%} of the examples every white-box attack failed on. "
             f"The gradients are masked; report AutoAttack (which includes Square) instead of the white-box numbers.")
    if measured["randomised"]:
        fire("randomised_outputs_without_eot",
             f"Two forward passes of the same inputs differ (max |difference| "
             f"{measured['output_max_difference']:.3g}): "
             f"the model is randomised, and gradients of one draw mislead the attacks. Evaluate with expectation "
             f"over transformation: autoattack(version='rand') or apgd(eot_samples=20).")
    classes = measured["num_classes"]
    if classes < 4:
        fire("too_few_classes_for_dlr",
             f"The model has {classes} classes; the DLR loss needs at least 3 and its targeted form 4, so "
             f"AutoAttack's APGD-DLR{'' if classes < 3 else ' is the only DLR stage and APGD-T'} cannot run and "
             f"cannot cross-check the cross-entropy attacks. Add a margin-loss attack (pgd:loss=margin) and Square.")
    budget = measured["budget"]
    k = budget["steps"]
    rise = None
    if budget["mean_loss"] is not None:
        rise = (budget["mean_loss_double"] - budget["mean_loss"]) / max(abs(budget["mean_loss"]), 1e-3)
    if budget["accuracy_double"] < budget["accuracy"] - tolerance or (rise is not None and rise > loss_climb):
        fire("budget_stopped_while_climbing",
             f"PGD-{2 * k} reaches accuracy {budget['accuracy_double']:.3f} versus {budget['accuracy']:.3f} for "
             f"PGD-{k}" + (f", and the mean loss of the examples robust to both rose by {rise:.0%}" if rise is not None
                           else "") +
             f". The evaluation stopped at a fixed budget while the attack was still climbing; use more "
             f"iterations or APGD's adaptive step (autoattack).")


def judge_masking(checks: Dict[str, Any]) -> MaskingReport:
    """Applies the thresholds in ``checks["thresholds"]`` to the numbers measured by ``masking_report``.

    Separate from the measuring so that the decision rules can be read (and tested) on their own.

    Args:
        checks: the measurements, with the keys ``masking_report`` writes.

    Returns:
        The ``MaskingReport``; ``findings`` say which check fired, with the numbers and the meaning.
    """
    acc, eps, large_eps, steps = checks["accuracy"], checks["eps"], checks["large_eps"], checks["pgd_steps"]
    raw_grad, attacked_grad = checks["raw_output_gradients"], checks["attacked_gradients"]
    best_attack, noise_only = checks["best_attack_accuracy"], checks["noise_only_fooled_share"]
    probabilities = checks["outputs_are_probabilities"]
    thresholds = checks["thresholds"]
    tolerance, near_zero = thresholds["tolerance"], thresholds["near_zero"]
    zero_gradient_share, loss_gap = thresholds["zero_gradient_share"], thresholds["loss_gap"]
    findings, fired, notes = [], [], []

    def fire(name: str, text: str):
        fired.append(name)
        findings.append(f"[{name}] {text}")

    if acc["pgd_ce"] > acc["fgsm"] + tolerance:
        fire("iterative_weaker_than_one_step",
             f"PGD-{steps} accuracy {acc['pgd_ce']:.3f} exceeds FGSM accuracy {acc['fgsm']:.3f} by more than "
             f"{tolerance:.3f} at eps={eps:g}. An iterative attack should never be weaker than one step; its "
             f"gradients are misleading (masked or obfuscated gradients).")
    if acc["pgd_ce_large_eps"] > near_zero:
        fire("large_eps_not_zero",
             f"PGD-{steps} at the huge eps={large_eps:g} still leaves accuracy {acc['pgd_ce_large_eps']:.3f} "
             f"> {near_zero:.3f}. At this size any image can be destroyed; the attack is not working, so the "
             f"robust accuracy at eps={eps:g} is an overestimate.")
    worst_zero = max(raw_grad["zero_share"] + raw_grad["nonfinite_share"],
                     attacked_grad["zero_share"] + attacked_grad["nonfinite_share"])
    if worst_zero > zero_gradient_share:
        fire("zero_or_nan_gradients",
             f"Input gradients of the cross entropy are all-zero or NaN on {worst_zero:.1%} of examples "
             f"(raw outputs as logits: zero {raw_grad['zero_share']:.1%}, NaN {raw_grad['nonfinite_share']:.1%}; "
             f"as attacked: zero {attacked_grad['zero_share']:.1%}, NaN {attacked_grad['nonfinite_share']:.1%}); "
             f"threshold {zero_gradient_share:.1%}"
             f"{'; TensorFlow finds no gradient path at all (None)' if attacked_grad.get('disconnected') else ''}. "
             f"Gradient attacks cannot move these examples (saturated softmax, "
             f"quantisation or stop_gradient); use a margin loss on logits, BPDA or gradient-free attacks.")
    attacked_zero = attacked_grad["zero_share"] + attacked_grad["nonfinite_share"]
    log_probability_attack_works = (checks.get("output_kind") == "probabilities"
                                    and attacked_zero <= zero_gradient_share
                                    and acc["pgd_ce_large_eps"] <= near_zero
                                    and acc["pgd_ce"] <= acc["pgd_margin"] + loss_gap)
    if probabilities and log_probability_attack_works:
        notes.append(
            f"[softmax_as_logits] The model outputs probabilities; tfrobust attacks their logarithm, whose "
            f"gradients are non-zero on {1 - attacked_zero:.1%} of examples, and PGD-{steps} reaches accuracy "
            f"{acc['pgd_ce']:.3f} at eps={eps:g} ({acc['pgd_ce_large_eps']:.3f} at eps={large_eps:g}). "
            f"Not a sign of masking; attacks written for logits elsewhere should use the pre-softmax outputs.")
    elif probabilities:
        fire("softmax_as_logits",
             "The model outputs probabilities (rows are non-negative and sum to 1, or it ends in softmax). "
             "Cross entropy on probabilities vanishes where the softmax saturates; evaluate the logits model "
             "(tfrobust attacks log-probabilities, which still saturate in float32).")
    if (acc["noise"] <= best_attack + tolerance and acc["clean"] - acc["noise"] > tolerance) or noise_only > tolerance:
        fire("noise_as_strong_as_attack",
             f"Random sign noise of size eps={eps:g} gives accuracy {acc['noise']:.3f} versus {best_attack:.3f} "
             f"for the best gradient attack (clean {acc['clean']:.3f}), and fools {noise_only:.1%} of the examples "
             f"that every gradient attack failed on. A working gradient attack is far stronger than noise.")
    if acc["pgd_ce"] > acc["pgd_margin"] + loss_gap:
        fire("margin_much_stronger_than_ce",
             f"PGD on the margin loss reaches accuracy {acc['pgd_margin']:.3f}, PGD on cross entropy only "
             f"{acc['pgd_ce']:.3f} (gap > {loss_gap:.3f}). The softmax is saturated (e.g. logits scaled by a "
             f"large temperature), so cross-entropy gradients vanish; report the margin-loss numbers.")
    if "autoattack" in checks:
        judge_autoattack_checks(checks, fire)
    if "transfer" in checks and transfer_fires(checks["transfer"], tolerance):
        fire(CHECK_NAME, transfer_finding(checks["transfer"], eps))
    return MaskingReport(suspicious=bool(fired), findings=findings, checks=checks, fired=fired, eps=eps,
                         notes=notes)
