"""Seeds 003 / 001: defensive distillation (Papernot et al. 2016) and why it is gradient masking.

For each temperature T a teacher is trained with cross entropy on logits / T
(``tfrobust.training.TemperatureModel``), then a student of the same architecture is trained at the same T
on the teacher's soft labels (``tfrobust.training.DistillationModel``, Hinton et al.'s T² scaling) and
deployed at T = 1 (its raw logits, softmax on top). An undefended network (standard training) is the
reference. Every deployed network is attacked four ways at one ε (``--eps``, with the study's ``--attack``, a PGD):

* **probabilities (the paper's attack surface)**: the attacker differentiates the deployed network's
  output, the softmax probabilities at T = 1, with cross entropy on them. Papernot et al. attacked that
  output (with JSMA, not in tfrobust; we use FGSM and PGD on the same output). We give the attacks a model
  ending in a ``Softmax`` layer and declare ``output_kind="probabilities"`` to ``tfrobust.logits``, which then
  differentiates log(clip(p)), i.e. exactly the naive cross entropy on the saturated probabilities:
  its input gradient vanishes when the softmax saturates (Carlini & Wagner 2016).
* **logits, cross entropy**: PGD with softmax cross entropy on the raw logits (numerically stable, but still
  the T = 1 softmax, hence also saturated).
* **logits / T, cross entropy**: PGD by an attacker aware of the training temperature.
* **logits, margin loss**: PGD with Carlini & Wagner's margin loss on the raw logits (scale-free, does not
  saturate): the evaluation that shows whether distillation gives real robustness.

``tfrobust.evaluation.masking_report`` runs the gradient-masking checks on every deployed network.

Usage:
    python experiments/defensive_distillation.py --preset quick
    python experiments/defensive_distillation.py --preset paper --temperatures=1,10,100
"""
from __future__ import annotations

import dataclasses
import time
from typing import Dict, Tuple

import numpy as np
import tf_keras as keras

from tfrobust import plotting
from tfrobust.attacks import Attack
from tfrobust.evaluation.epsilon_sweep import epsilon_sweep
from tfrobust.evaluation.masking import masking_report
from tfrobust.evaluation.robust_accuracy import predict_labels, robust_accuracy
from tfrobust.logits import as_logits_model
from tfrobust.models import build
from tfrobust.studies.config import check_positive_numbers
from tfrobust.studies import (QUICK_AUTOATTACK, AttackSettings, AutoAttackSettings, CurveSettings, StudyConfig,
                              StudyReport, autoattack_accuracy, autoattack_cell, compile_classifier, fit,
                              make_optimizer, run_script, start)
from tfrobust.studies import verdicts as v
from tfrobust.studies.published import DISTILLATION_FINDINGS, PAPERNOT_TEMPERATURES, SEED_SURVEY
from tfrobust.studies.report import masking_cell, metric_rows
from tfrobust.studies.run_store import with_sweeps
from tfrobust.training.distillation import DistillationModel
from tfrobust.training.temperature import TemperatureModel, TemperatureScaledModel

EXPERIMENT = "defensive_distillation"
UNDEFENDED = "undefended"
SWEEPS = ("fgsm_probabilities", "fgsm_logits_margin")
#: The four attacks at eps: entry key and table header.
ATTACKS = (("pgd_probabilities", "PGD on probabilities (paper)"), ("pgd_logits_ce", "PGD-CE on logits"),
           ("pgd_logits_over_t_ce", "PGD-CE on logits/T"), ("pgd_logits_margin", "PGD-margin on logits (C&W)"))


@dataclasses.dataclass(frozen=True)
class DistillationConfig(CurveSettings, AutoAttackSettings, AttackSettings, StudyConfig):
    """Settings of the distillation study (the FGSM curves use the ε grid, on probabilities and with the margin loss).

    Attributes:
        model: Model name of teacher and student (tfrobust.models.build).
        temperatures: Comma-separated distillation temperatures.
        masking_size: Examples given to the masking report.
        optimizer: adam, or sgd (with momentum).
        momentum: SGD momentum.
    """

    model: str = "mnist_small"
    temperatures: Tuple[float, ...] = (1.0, 20.0, 100.0)
    epsilons: Tuple[float, ...] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)
    masking_size: int = 200
    optimizer: str = "adam"
    momentum: float = 0.5

    SWEEP_FIELDS = ("temperatures", "masking_size")

    def validate(self) -> None:
        check_positive_numbers(self.temperatures, "--temperatures")


PRESETS: Dict[str, DistillationConfig] = {
    # mnist5k (bundled): Wong et al.'s small MNIST CNN as teacher and student, T in {1, 20, 100}, 5 epochs each.
    "quick": DistillationConfig(preset="quick", dataset="mnist5k", model="mnist_small", epochs=5, batch_size=64,
                                learning_rate=1e-3, eval_size=500, eps=0.2, attack="pgd:steps=20,restarts=1",
                                autoattack=QUICK_AUTOATTACK, autoattack_size=100),
    # Papernot et al. 2016 on MNIST: T in {1, 2, 5, 10, 20, 30, 40, 50, 100}, SGD (lr 0.1, momentum 0.5), batch 128,
    # 50 epochs. Their 9-layer CNN (Conv32-Conv32-Pool-Conv64-Conv64-Pool-FC200-FC200) is replaced by the zoo's
    # VGG-like network (Conv32x2-Conv64x2-Conv128x2, FC128); ε = 0.3 is the usual MNIST L-inf budget.
    "paper": DistillationConfig(preset="paper", dataset="mnist", model="vgg_like", temperatures=PAPERNOT_TEMPERATURES,
                                epochs=50, batch_size=128, learning_rate=0.1, optimizer="sgd", momentum=0.5,
                                eval_size=2000, eps=0.3, attack="pgd:steps=40,restarts=1",
                                epsilons=(0.0, 0.05, 0.1, 0.2, 0.3, 0.4), masking_size=500),
}


def _trained(run, data, config, key: str, wrap) -> keras.Model:
    """The model ``key`` trained through ``wrap(model)``: a training wrapper, or the model itself (plain CE)."""
    def train(model, callbacks):
        wrapper = wrap(model)
        optimizer = make_optimizer(config.optimizer, config.learning_rate, momentum=config.momentum)
        if wrapper is model:
            compile_classifier(model, optimizer)
        else:
            wrapper.compile(optimizer=optimizer)
        fit(wrapper, data, config.epochs, callbacks)

    return run.trained_model(key, lambda: build(config.model, data.input_shape, data.num_classes,
                                                model_name=key.replace("=", "")), train)


def _attack_deployed(run, key: str, deployed: keras.Model, temperature: float, data, config) -> dict:
    """The four attacks of the module docstring, the FGSM curves, and the masking report."""
    x, y = data.x_eval, data.y_eval
    probabilities = as_logits_model(keras.Sequential([deployed, keras.layers.Softmax()]),
                                    output_kind="probabilities")

    def attacked(model, loss):
        return robust_accuracy(model, x, y, attack=config.attack_spec(loss=loss), eps=config.eps).robust_accuracy

    fgsm_probabilities = epsilon_sweep(probabilities, x, y, attack="fgsm", epsilons=config.epsilons)
    fgsm_margin = epsilon_sweep(deployed, x, y, attack=Attack("fgsm", loss="margin"), epsilons=config.epsilons)
    n = min(config.masking_size, len(x))
    report = masking_report(deployed, x[:n], y[:n], eps=config.eps, steps=10, seed=config.seed)
    entry = {
        "clean_accuracy": fgsm_probabilities.clean_accuracy,
        "pgd_probabilities": attacked(probabilities, "ce"),
        "pgd_logits_ce": attacked(deployed, "ce"),
        "pgd_logits_over_t_ce": attacked(TemperatureScaledModel(deployed, temperature), "ce"),
        "pgd_logits_margin": attacked(deployed, "margin"),
        "fgsm_probabilities": fgsm_probabilities, "fgsm_logits_margin": fgsm_margin, "masking": report.to_dict(),
        "autoattack": autoattack_accuracy(deployed, x, y, config),
    }
    run.log_evaluation(key, sweeps={name: entry[name] for name in SWEEPS},
                       scalars={name: entry[name] for name, _ in ATTACKS})
    return entry


def _evaluate_temperature(run, data, config, temperature: float) -> dict:
    started = time.time()
    teacher = _trained(run, data, config, f"teacher_T={temperature:g}", lambda m: TemperatureModel(m, temperature))
    student = _trained(run, data, config, f"student_T={temperature:g}",
                       lambda m: DistillationModel(m, teacher, temperature))
    train_seconds = time.time() - started
    entry = _attack_deployed(run, f"student_T={temperature:g}", student, temperature, data, config)
    entry.update(temperature=temperature, train_seconds=train_seconds,
                 teacher_accuracy=float(np.mean(predict_labels(teacher, data.x_eval) == data.y_eval)))
    return entry


def _evaluate_undefended(run, data, config) -> dict:
    model = _trained(run, data, config, UNDEFENDED, lambda m: m)
    entry = _attack_deployed(run, UNDEFENDED, model, 1.0, data, config)
    entry.update(temperature=None, teacher_accuracy=None)
    return entry


def _verdicts(rows: Dict[str, dict]) -> Dict[str, dict]:
    distilled = [e for e in rows.values() if e["temperature"] is not None]
    if UNDEFENDED not in rows or not distilled:
        return {}
    base, hot = rows[UNDEFENDED], max(distilled, key=lambda e: e["temperature"])
    clean = dict(baseline_clean=base["clean_accuracy"], variant_clean=hot["clean_accuracy"], tolerance=0.05)
    paper = v.robustness_direction(base["pgd_probabilities"], hot["pgd_probabilities"], **clean)
    real = v.robustness_direction(base["pgd_logits_margin"], hot["pgd_logits_margin"], **clean)
    apparent = paper == v.MORE_ROBUST and real != v.MORE_ROBUST
    return {
        "compared": f"student at T={hot['temperature']:g} vs undefended",
        "paper_attack": {"ours": v.APPARENT_ROBUSTNESS if apparent else paper,
                         "published": DISTILLATION_FINDINGS[0].direction},
        "logits_margin": {"ours": real, "published": "no real robustness (Carlini & Wagner; REFERENCE.md)"},
        "clean_change": hot["clean_accuracy"] - base["clean_accuracy"],
    }


def _markdown(run, config: DistillationConfig, rows: Dict[str, dict], verdicts: dict) -> str:
    columns = ([("teacher clean", lambda e: "—" if e["teacher_accuracy"] is None else e["teacher_accuracy"]),
                ("clean", "clean_accuracy")] + [(label, key) for key, label in ATTACKS]
               + [(f"AutoAttack on logits (first {config.autoattack_size})", autoattack_cell)]
               + [("masking report", lambda e: masking_cell(e["masking"]))])
    eps_cols = [e for e in config.epsilons if e > 0]
    curves = [(f"{short} ε={eps:.3g}", lambda e, s=sweep, eps=eps: e[s].accuracy_at(eps))
              for sweep, short in zip(SWEEPS, ("probs", "margin")) for eps in eps_cols]
    report = StudyReport("Defensive distillation: the paper's attack vs attacks on logits", run).paragraph(
        f"Papernot et al. 2016 (surveyed in seed 003, `{SEED_SURVEY}`; seed 001 lists distillation as a "
        f"defence) on {config.dataset}: {config.model} teacher trained at T, student trained at T on the teacher's "
        f"soft labels, deployed at T=1; {config.epochs} epochs each, batch {config.batch_size}, {config.optimizer} "
        f"{config.learning_rate:g}. Robust accuracy on {config.eval_size} test examples at ε={config.eps:g} "
        f"under {config.attack_spec().label}. *Probabilities*: cross entropy on the deployed softmax output at T=1, "
        f"differentiated through the softmax (the paper's naive attack surface; Papernot et al. used JSMA on that "
        f"output, we use PGD/FGSM on it). Masking report: Carlini et al. 2019 checks at ε={config.eps:g} on "
        f"{config.masking_size} examples.")
    report.table(metric_rows(rows, columns, label="network"))
    report.paragraph("FGSM accuracy vs ε, with cross entropy on the probabilities (paper) and with the margin loss "
                     "on the logits:").table(metric_rows(rows, curves, label="network"))
    report.section("Published findings").findings(DISTILLATION_FINDINGS)
    if verdicts:
        report.directions(f"Direction of each effect ({verdicts['compared']})", [
            ["attack on probabilities (Papernot et al.)", verdicts["paper_attack"]["published"],
             verdicts["paper_attack"]["ours"]],
            ["PGD with margin loss on logits (Carlini & Wagner)", verdicts["logits_margin"]["published"],
             verdicts["logits_margin"]["ours"]],
            ["clean accuracy change", "small (\"without much change in accuracy\")",
             f"{verdicts['clean_change']:+.3f}"]], ["effect", "published", "ours"])
    return report.footer(["attacks_by_temperature.png"]).markdown()


def run(config: DistillationConfig) -> dict:
    """Trains the undefended net and a teacher/student pair per T, attacks them; returns results.json."""
    store, data = start(EXPERIMENT, config)
    load = with_sweeps(*SWEEPS)
    rows = {UNDEFENDED: store.cached(UNDEFENDED, lambda: _evaluate_undefended(store, data, config), load=load)}
    for t in config.temperatures:
        rows[f"student T={t:g}"] = store.cached(f"T={t:g}", lambda t=t: _evaluate_temperature(store, data, config, t),
                                                load=load)
    path = store.path("attacks_by_temperature.png")
    plotting.plot_grouped_bars(list(rows), {"clean": [e["clean_accuracy"] for e in rows.values()],
                                            **{label: [e[key] for e in rows.values()] for key, label in ATTACKS}},
                               path, title=f"Defensive distillation, PGD at ε={config.eps:g} ({config.dataset})")
    verdicts = _verdicts(rows)
    return store.finish(_markdown(store, config, rows, verdicts), verdicts=verdicts, figures=[path])


if __name__ == "__main__":
    run_script(run, DistillationConfig, PRESETS)
