"""Seeds 003 / 001: defensive distillation (Papernot et al. 2016) and why it is gradient masking.

For each temperature T a teacher is trained with cross entropy on logits / T
(``tfrobust.training.TemperatureModel``), then a student of the same architecture is trained at the same T
on the teacher's soft labels (``tfrobust.training.DistillationModel``, Hinton et al.'s T² scaling) and
deployed at T = 1 (its raw logits, softmax on top). An undefended network (standard training) is the
reference. Every deployed network is attacked four ways at one ε:

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
import functools
import time
from typing import Dict, Tuple

import numpy as np
import tf_keras as keras

from tfrobust import experiment, published, study_report
from tfrobust.attacks import fgsm
from tfrobust.evaluation.attack_spec import Attack, CallableAttack
from tfrobust.evaluation.epsilon_sweep import SweepResult, epsilon_sweep
from tfrobust.evaluation.masking import masking_report
from tfrobust.evaluation.results import markdown_table
from tfrobust.evaluation.robust_accuracy import predict_labels, robust_accuracy
from tfrobust.logits import as_logits_model
from tfrobust.models import build
from tfrobust.training.distillation import DistillationModel
from tfrobust.training.temperature import TemperatureModel, TemperatureScaledModel

EXPERIMENT = "defensive_distillation"
UNDEFENDED = "undefended"


@dataclasses.dataclass(frozen=True)
class DistillationConfig(experiment.ExperimentConfig):
    """Settings of the distillation study (fields of ``ExperimentConfig`` plus these).

    Attributes:
        model: ``tfrobust.models`` name of teacher and student.
        temperatures: distillation temperatures.
        attack_eps: ε of the PGD attacks and of the masking report.
        epsilons: ε grid of the FGSM curves on probabilities and on logits (margin loss).
        pgd_steps: PGD iterations (step 2.5 ε / steps).
        pgd_restarts: PGD random restarts.
        masking_size: examples given to the masking report.
        optimizer: "adam" or "sgd" (SGD uses ``momentum``).
        momentum: SGD momentum.
    """

    model: str = "mnist_small"
    temperatures: Tuple[float, ...] = (1.0, 20.0, 100.0)
    attack_eps: float = 0.2
    epsilons: Tuple[float, ...] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)
    pgd_steps: int = 20
    pgd_restarts: int = 1
    masking_size: int = 200
    optimizer: str = "adam"
    momentum: float = 0.5

    SWEEP_FIELDS = ("temperatures", "masking_size")
    HELP = {
        "model": "Model name of teacher and student (tfrobust.models.build).",
        "temperatures": "Comma-separated distillation temperatures.",
        "attack_eps": "ε of the PGD attacks and of the masking report.",
        "epsilons": "Comma-separated ε grid of the FGSM curves.",
        "pgd_steps": "PGD iterations.",
        "pgd_restarts": "PGD random restarts.",
        "masking_size": "Examples given to the masking report.",
        "optimizer": "adam or sgd.",
        "momentum": "SGD momentum.",
    }


PRESETS: Dict[str, DistillationConfig] = {
    # mnist5k (bundled): Wong et al.'s small MNIST CNN as teacher and student, T in {1, 20, 100}, 5 epochs each.
    "quick": DistillationConfig(preset="quick", dataset="mnist5k", model="mnist_small", epochs=5, batch_size=64,
                                learning_rate=1e-3, eval_size=500),
    # Papernot et al. 2016 on MNIST: T in {1, 2, 5, 10, 20, 30, 40, 50, 100}, SGD (lr 0.1, momentum 0.5), batch 128,
    # 50 epochs. Their 9-layer CNN (Conv32-Conv32-Pool-Conv64-Conv64-Pool-FC200-FC200) is replaced by the zoo's
    # VGG-like network (Conv32x2-Conv64x2-Conv128x2, FC128); ε = 0.3 is the usual MNIST L-inf budget.
    "paper": DistillationConfig(preset="paper", dataset="mnist", model="vgg_like",
                                temperatures=published.PAPERNOT_TEMPERATURES, epochs=50, batch_size=128,
                                learning_rate=0.1, optimizer="sgd", momentum=0.5, eval_size=2000, attack_eps=0.3,
                                epsilons=(0.0, 0.05, 0.1, 0.2, 0.3, 0.4), pgd_steps=40, masking_size=500),
}


def _optimizer(config: DistillationConfig):
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(config.learning_rate, momentum=config.momentum)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(config.learning_rate)
    raise ValueError(f"optimizer must be 'sgd' or 'adam', got {config.optimizer!r}.")


def _train_teacher(run, data, config, temperature: float) -> keras.Model:
    def train(model, callbacks):
        wrapper = TemperatureModel(model, temperature)
        wrapper.compile(optimizer=_optimizer(config))
        experiment.fit(wrapper, data, config, callbacks)

    return run.trained_model(f"teacher_T={temperature:g}", lambda: _build(data, config, f"teacher_T{temperature:g}"),
                             train)


def _train_student(run, data, config, temperature: float, teacher: keras.Model) -> keras.Model:
    def train(model, callbacks):
        wrapper = DistillationModel(model, teacher, temperature)
        wrapper.compile(optimizer=_optimizer(config))
        experiment.fit(wrapper, data, config, callbacks)

    return run.trained_model(f"student_T={temperature:g}", lambda: _build(data, config, f"student_T{temperature:g}"),
                             train)


def _build(data, config, name):
    return build(config.model, data.input_shape, data.num_classes, model_name=name)


def _attack_deployed(deployed: keras.Model, temperature: float, data, config: DistillationConfig) -> dict:
    """The four attacks of the module docstring, FGSM curves, and the masking report."""
    x, y = data.x_eval, data.y_eval
    probabilities = as_logits_model(keras.Sequential([deployed, keras.layers.Softmax()]),
                                    output_kind="probabilities")

    def pgd(model, loss):
        attack = Attack("pgd", steps=config.pgd_steps, restarts=config.pgd_restarts, loss=loss, seed=config.seed)
        return robust_accuracy(model, x, y, attack=attack, eps=config.attack_eps).robust_accuracy

    fgsm_probabilities = epsilon_sweep(probabilities, x, y, attack="fgsm", epsilons=config.epsilons)
    fgsm_margin = epsilon_sweep(deployed, x, y, attack=CallableAttack(functools.partial(fgsm, loss="margin"),
                                                                       name="fgsm-margin"),
                                epsilons=config.epsilons)
    n = min(config.masking_size, len(x))
    report = masking_report(deployed, x[:n], y[:n], eps=config.attack_eps, steps=10, seed=config.seed)
    return {
        "clean_accuracy": fgsm_probabilities.clean_accuracy,
        "pgd_probabilities": pgd(probabilities, "ce"),
        "pgd_logits_ce": pgd(deployed, "ce"),
        "pgd_logits_over_t_ce": pgd(TemperatureScaledModel(deployed, temperature), "ce"),
        "pgd_logits_margin": pgd(deployed, "margin"),
        "fgsm_probabilities": fgsm_probabilities.to_dict(),
        "fgsm_logits_margin": fgsm_margin.to_dict(),
        "masking": report.to_dict(),
    }


def _log(run: experiment.ExperimentRun, key: str, entry: dict) -> None:
    run.log_evaluation(key, sweeps={name: SweepResult.from_dict(entry[name])
                                    for name in ("fgsm_probabilities", "fgsm_logits_margin")},
                       scalars={name: entry[name] for name, _ in _COLUMNS})


def _evaluate_temperature(run, data, config, temperature: float) -> dict:
    started = time.time()
    teacher = _train_teacher(run, data, config, temperature)
    student = _train_student(run, data, config, temperature, teacher)
    train_seconds = time.time() - started
    entry = _attack_deployed(student, temperature, data, config)
    teacher_accuracy = float(np.mean(predict_labels(teacher, data.x_eval) == data.y_eval))
    entry.update(temperature=temperature, teacher_accuracy=teacher_accuracy, train_seconds=train_seconds)
    _log(run, f"student_T={temperature:g}", entry)
    return entry


def _evaluate_undefended(run, data, config) -> dict:
    def train(model, callbacks):
        experiment.compile_classifier(model, _optimizer(config))
        experiment.fit(model, data, config, callbacks)

    model = run.trained_model(UNDEFENDED, lambda: _build(data, config, UNDEFENDED), train)
    entry = _attack_deployed(model, 1.0, data, config)
    entry.update(temperature=None, teacher_accuracy=None)
    _log(run, UNDEFENDED, entry)
    return entry


_COLUMNS = (("pgd_probabilities", "PGD on probabilities (paper)"), ("pgd_logits_ce", "PGD-CE on logits"),
            ("pgd_logits_over_t_ce", "PGD-CE on logits/T"), ("pgd_logits_margin", "PGD-margin on logits (C&W)"))


def _verdicts(rows: Dict[str, dict]) -> Dict[str, dict]:
    distilled = [e for e in rows.values() if e["temperature"] is not None]
    if UNDEFENDED not in rows or not distilled:
        return {}
    base, hot = rows[UNDEFENDED], max(distilled, key=lambda e: e["temperature"])
    clean = dict(baseline_clean=base["clean_accuracy"], variant_clean=hot["clean_accuracy"])
    paper = published.robustness_direction(base["pgd_probabilities"], hot["pgd_probabilities"], tolerance=0.05,
                                           **clean)
    real = published.robustness_direction(base["pgd_logits_margin"], hot["pgd_logits_margin"], tolerance=0.05,
                                          **clean)
    apparent = paper == published.MORE_ROBUST and real != published.MORE_ROBUST
    return {
        "compared": f"student at T={hot['temperature']:g} vs undefended",
        "paper_attack": {"ours": published.APPARENT_ROBUSTNESS if apparent else paper,
                         "published": published.DISTILLATION_FINDINGS[0].direction},
        "logits_margin": {"ours": real, "published": "no real robustness (Carlini & Wagner; REFERENCE.md)"},
        "clean_change": hot["clean_accuracy"] - base["clean_accuracy"],
    }


def _markdown(run, config: DistillationConfig, rows: Dict[str, dict], verdicts: dict) -> str:
    table = []
    for name, entry in rows.items():
        masking = entry["masking"]
        row = {"network": name, "teacher clean": entry["teacher_accuracy"] if entry["teacher_accuracy"] is not None
               else "—", "clean": entry["clean_accuracy"]}
        row.update({label: entry[key] for key, label in _COLUMNS})
        row["masking report"] = ("SUSPICIOUS: " + ", ".join(masking["fired"])) if masking["suspicious"] else "clean"
        table.append(row)
    eps_cols = [e for e in config.epsilons if e > 0]
    curves = []
    for name, entry in rows.items():
        probs, margin = SweepResult.from_dict(entry["fgsm_probabilities"]), SweepResult.from_dict(
            entry["fgsm_logits_margin"])
        curves.append({"network": name, **{f"probs ε={e:.3g}": probs.accuracy_at(e) for e in eps_cols},
                       **{f"margin ε={e:.3g}": margin.accuracy_at(e) for e in eps_cols}})
    lines = [
        f"# Defensive distillation: the paper's attack vs attacks on logits ({run.name})",
        "",
        f"Papernot et al. 2016 (surveyed in seed 003, `{published.SEED_SURVEY}`; seed 001 lists distillation as a "
        f"defence) on {config.dataset}: {config.model} teacher trained at T, student trained at T on the teacher's "
        f"soft labels, deployed at T=1; {config.epochs} epochs each, batch {config.batch_size}, {config.optimizer} "
        f"{config.learning_rate:g}. Robust accuracy on {config.eval_size} test examples at ε={config.attack_eps:g} "
        f"under PGD-{config.pgd_steps}×{config.pgd_restarts} (step 2.5ε/steps). *Probabilities*: cross entropy on the "
        f"deployed softmax output at T=1, differentiated through the softmax (the paper's naive attack surface; "
        f"Papernot et al. used JSMA on that output, we use PGD/FGSM on it). Masking report: Carlini et al. 2019 "
        f"checks at ε={config.attack_eps:g} on {config.masking_size} examples.",
        "",
        markdown_table(table, list(table[0]), float_format=".3f"),
        "",
        "FGSM accuracy vs ε, with cross entropy on the probabilities (paper) and with the margin loss on the logits:",
        "",
        markdown_table(curves, list(curves[0]), float_format=".3f"),
        "",
        "## Published findings",
        "",
        published.findings_markdown(published.DISTILLATION_FINDINGS),
        "",
    ]
    if verdicts:
        lines += [f"## Direction of each effect ({verdicts['compared']})", "",
                  markdown_table([
                      ["attack on probabilities (Papernot et al.)", verdicts["paper_attack"]["published"],
                       verdicts["paper_attack"]["ours"]],
                      ["PGD with margin loss on logits (Carlini & Wagner)", verdicts["logits_margin"]["published"],
                       verdicts["logits_margin"]["ours"]],
                      ["clean accuracy change", "small (\"without much change in accuracy\")",
                       f"{verdicts['clean_change']:+.3f}"],
                  ], ["effect", "published", "ours"]), ""]
    lines += [f"Figure: `attacks_by_temperature.png`. TensorBoard: `{run.logdir}`. Wall time: "
              f"{run.wall_time_s:.0f} s.", ""]
    return "\n".join(lines)


def run(config: DistillationConfig) -> dict:
    """Trains the undefended network and a teacher/student pair per temperature, attacks them, writes results.

    Args:
        config: the settings (``PRESETS[name]`` with overrides, see ``experiment.make_config``).

    Returns:
        The content of ``results.json``.
    """
    experiment_run, data = experiment.start(EXPERIMENT, config)
    experiment_run.cached(UNDEFENDED, lambda: _evaluate_undefended(experiment_run, data, config))
    for temperature in config.temperatures:
        experiment_run.cached(f"T={temperature:g}",
                              lambda t=temperature: _evaluate_temperature(experiment_run, data, config, t))
    rows = {UNDEFENDED: experiment_run.entries[UNDEFENDED]}
    rows.update({f"student T={t:g}": experiment_run.entries[f"T={t:g}"] for t in config.temperatures})
    verdicts = _verdicts(rows)
    figure = study_report.plot_grouped_bars(
        list(rows), {"clean": [e["clean_accuracy"] for e in rows.values()],
                     **{label: [e[key] for e in rows.values()] for key, label in _COLUMNS}},
        experiment_run.path("attacks_by_temperature.png"),
        title=f"Defensive distillation, PGD at ε={config.attack_eps:g} ({config.dataset})",
        ylabel="accuracy")
    markdown = _markdown(experiment_run, config, rows, verdicts)
    return experiment_run.finish(markdown, verdicts=verdicts, figures=[figure])


if __name__ == "__main__":
    experiment.run_script(run, DistillationConfig, PRESETS)
