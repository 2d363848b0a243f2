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
from typing import Dict, List, Tuple

from tfrobust.studies import verdicts as v
from tfrobust.studies.config import (QUICK_AUTOATTACK, AttackSettings, AutoAttackSettings, CurveSettings,
                                     SeedsSettings, StudyConfig, check_positive_numbers)
from tfrobust.studies.flags import run_script
from tfrobust.studies.published import DISTILLATION_FINDINGS, PAPERNOT_TEMPERATURES, SEED_SURVEY

EXPERIMENT = "defensive_distillation"
UNDEFENDED = "undefended"
SWEEPS = ("fgsm_probabilities", "fgsm_logits_margin")
#: The four attacks at eps: entry key and table header.
ATTACKS = (("pgd_probabilities", "PGD on probabilities (paper)"), ("pgd_logits_ce", "PGD-CE on logits"),
           ("pgd_logits_over_t_ce", "PGD-CE on logits/T"), ("pgd_logits_margin", "PGD-margin on logits (C&W)"))


@dataclasses.dataclass(frozen=True)
class DistillationConfig(SeedsSettings, CurveSettings, AutoAttackSettings, AttackSettings, StudyConfig):
    """Settings of the distillation study (the FGSM curves use the ε grid, on probabilities and with the margin loss).

    Attributes:
        model: Model name of teacher and student (tfrobust.models.build).
        temperatures: Comma-separated distillation temperatures.
        masking_size: Examples given to the masking report.
        masking_steps: PGD iterations inside the masking report.
        masking_square_queries: Query budget of the masking report's Square check (gradient-free).
        optimizer: adam, or sgd (with momentum).
        momentum: SGD momentum.
    """

    model: str = "mnist_small"
    temperatures: Tuple[float, ...] = (1.0, 20.0, 100.0)
    epsilons: Tuple[float, ...] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)
    masking_size: int = 200
    masking_steps: int = 10
    masking_square_queries: int = 1000
    optimizer: str = "adam"
    momentum: float = 0.5

    SWEEP_FIELDS = ("temperatures", "masking_size", "seeds")

    def validate(self) -> None:
        check_positive_numbers(self.temperatures, "--temperatures")
        for name in ("masking_steps", "masking_square_queries"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"--{name} must be a whole number >= 1; got {value!r}.")


PRESETS: Dict[str, DistillationConfig] = {
    # mnist5k (bundled): Wong et al.'s small MNIST CNN as teacher and student, T in {1, 20, 100}, 5 epochs each.
    "quick": DistillationConfig(preset="quick", dataset="mnist5k", model="mnist_small", seeds=(0, 1, 2), epochs=5,
                                batch_size=64,
                                learning_rate=1e-3, eval_size=500, eps=0.2, attack="pgd:steps=20,restarts=1",
                                autoattack=QUICK_AUTOATTACK, autoattack_size=100),
    # Papernot et al. 2016 on MNIST: T in {1, 2, 5, 10, 20, 30, 40, 50, 100}, SGD (lr 0.1, momentum 0.5), batch 128,
    # 50 epochs. Their 9-layer CNN (Conv32-Conv32-Pool-Conv64-Conv64-Pool-FC200-FC200) is replaced by the zoo's
    # VGG-like network (Conv32x2-Conv64x2-Conv128x2, FC128); ε = 0.3 is the usual MNIST L-inf budget.
    "paper": DistillationConfig(preset="paper", dataset="mnist", model="vgg_like", temperatures=PAPERNOT_TEMPERATURES,
                                epochs=50, batch_size=128, learning_rate=0.1, optimizer="sgd", momentum=0.5,
                                eval_size=2000, eps=0.3, attack="pgd:steps=40,restarts=1",
                                epsilons=(0.0, 0.05, 0.1, 0.2, 0.3, 0.4), masking_size=500),
    # Full Fashion-MNIST (60,000 training images; 2,000 test images attacked), 3 seeds. Budget choices: the small
    # CNN of the quick preset (Wong et al.'s Conv16-Conv32-FC100, ~15 ms a step of 128 on 2 cores) instead of the
    # VGG-like (~0.3 s a step: 3 seeds x (1 + 2 T) trainings of 60k images would take hours); T in {1, 20, 100}
    # (Papernot et al.'s low, mid and high end) instead of nine temperatures; 3 epochs per network (teacher and
    # student each); ε = 0.1, since Fashion-MNIST's textures break at a smaller radius than MNIST's 0.3.
    "medium": DistillationConfig(preset="medium", dataset="fashion_mnist", model="mnist_small", seeds=(0, 1, 2),
                                 temperatures=(1.0, 20.0, 100.0), epochs=3, batch_size=128, learning_rate=1e-3,
                                 eval_size=2000, eps=0.1, attack="pgd:steps=20,restarts=1",
                                 epsilons=(0.0, 0.02, 0.05, 0.1, 0.15, 0.2), masking_size=300,
                                 autoattack=QUICK_AUTOATTACK, autoattack_size=200),
}


def _trained(run, data, config, key: str, wrap):
    """The model ``key`` trained through ``wrap(model)``: a training wrapper, or the model itself (plain CE)."""
    from tfrobust.models import build
    from tfrobust.studies.training import compile_classifier, fit, make_optimizer

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


def _attack_deployed(run, key: str, deployed, temperature: float, data, config, seed: int) -> dict:
    """The four attacks of the module docstring, the FGSM curves, and the masking report."""
    import tf_keras as keras

    from tfrobust.attacks import Attack
    from tfrobust.evaluation.epsilon_sweep import epsilon_sweep
    from tfrobust.evaluation.masking import masking_report
    from tfrobust.evaluation.robust_accuracy import robust_accuracy
    from tfrobust.logits import as_logits_model
    from tfrobust.studies.autoattack import autoattack_accuracy
    from tfrobust.training.temperature import TemperatureScaledModel

    x, y = data.x_eval, data.y_eval
    probabilities = as_logits_model(keras.Sequential([deployed, keras.layers.Softmax()]),
                                    output_kind="probabilities")

    def attacked(model, loss):
        return robust_accuracy(model, x, y, attack=config.attack_spec(loss=loss), eps=config.eps).robust_accuracy

    fgsm_probabilities = epsilon_sweep(probabilities, x, y, attack="fgsm", epsilons=config.epsilons)
    fgsm_margin = epsilon_sweep(deployed, x, y, attack=Attack("fgsm", loss="margin"), epsilons=config.epsilons)
    n = min(config.masking_size, len(x))
    report = masking_report(deployed, x[:n], y[:n], eps=config.eps, steps=config.masking_steps, seed=seed,
                            square_queries=config.masking_square_queries)
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


def _evaluate_temperature(run, data, config, temperature: float, seed: int) -> dict:
    import numpy as np

    from tfrobust.evaluation.robust_accuracy import predict_labels
    from tfrobust.studies.curves import seeded_entry
    from tfrobust.training.distillation import DistillationModel
    from tfrobust.training.temperature import TemperatureModel

    started = time.time()
    student_key, data = seeded_entry(data, f"student_T={temperature:g}", seed)
    teacher = _trained(run, data, config, seed_key_of(f"teacher_T={temperature:g}", seed),
                       lambda m: TemperatureModel(m, temperature))
    student = _trained(run, data, config, student_key, lambda m: DistillationModel(m, teacher, temperature))
    train_seconds = time.time() - started
    entry = _attack_deployed(run, student_key, student, temperature, data, config, seed)
    entry.update(temperature=temperature, seed=seed, train_seconds=train_seconds,
                 teacher_accuracy=float(np.mean(predict_labels(teacher, data.x_eval) == data.y_eval)))
    return entry


def _evaluate_undefended(run, data, config, seed: int) -> dict:
    from tfrobust.studies.curves import seeded_entry

    started = time.time()
    key, data = seeded_entry(data, UNDEFENDED, seed)
    model = _trained(run, data, config, key, lambda m: m)
    train_seconds = time.time() - started
    entry = _attack_deployed(run, key, model, 1.0, data, config, seed)
    entry.update(temperature=None, seed=seed, train_seconds=train_seconds, teacher_accuracy=None)
    return entry


def seed_key_of(key: str, seed: int) -> str:
    """``studies.curves.seed_key`` (spelled out here so that --help needs no TensorFlow)."""
    return f"{key}_seed={seed}"


def _verdicts(groups: Dict[str, List[dict]]) -> Dict[str, dict]:
    """Hottest student against the undefended network over seeds (``verdicts.seed_verdict``: Welch's t-test)."""
    distilled = [name for name, g in groups.items() if g[0]["temperature"] is not None]
    if UNDEFENDED not in groups or not distilled:
        return {}
    base = groups[UNDEFENDED]
    hot = groups[max(distilled, key=lambda name: groups[name][0]["temperature"])]
    clean = dict(baseline_clean=[e["clean_accuracy"] for e in base], variant_clean=[e["clean_accuracy"] for e in hot],
                 tolerance=0.05)

    def verdict(metric):
        return v.seed_verdict([metric(e) for e in base], [metric(e) for e in hot], **clean)

    paper = verdict(lambda e: e["pgd_probabilities"])
    real = verdict(lambda e: e["pgd_logits_margin"])
    relative = verdict(lambda e: v.relative_robustness(e["pgd_logits_margin"], e["clean_accuracy"]))
    if paper["ours"] == v.MORE_ROBUST and real["ours"] != v.MORE_ROBUST:
        paper["ours"] = v.APPARENT_ROBUSTNESS
    clean_test = v.welch_test(clean["baseline_clean"], clean["variant_clean"])
    return {
        "compared": f"student at T={hot[0]['temperature']:g} vs undefended, {len(base)} vs {len(hot)} seeds",
        "paper_attack": {**paper, "published": DISTILLATION_FINDINGS[0].direction},
        "logits_margin": {**real, "published": "no real robustness (Carlini & Wagner; REFERENCE.md)"},
        "logits_margin_relative": {**relative, "published": "not measured"},
        "clean_change": clean_test.difference,
        "clean": v.seed_clean_direction(clean["baseline_clean"], clean["variant_clean"]),
        "test": v.SEED_TEST,
    }


def _markdown(run, config: DistillationConfig, groups: Dict[str, List[dict]], verdicts: dict) -> str:
    from tfrobust.studies.autoattack import autoattack_cell
    from tfrobust.studies.report import StudyReport, masking_cell, mean_std_rows, metric_rows

    columns = ([("teacher clean", lambda e: "—" if e["teacher_accuracy"] is None else e["teacher_accuracy"]),
                ("clean", "clean_accuracy")] + [(label, key) for key, label in ATTACKS]
               + [("PGD-margin / clean", lambda e: v.relative_robustness(e["pgd_logits_margin"], e["clean_accuracy"])),
                  (f"AutoAttack on logits (first {config.autoattack_size})", autoattack_cell)]
               + [("masking report", lambda e: masking_cell(e["masking"]))])
    eps_cols = [e for e in config.epsilons if e > 0]
    curves = [(f"{short} ε={eps:.3g}", lambda e, s=sweep, eps=eps: e[s].accuracy_at(eps))
              for sweep, short in zip(SWEEPS, ("probs", "margin")) for eps in eps_cols]
    report = StudyReport("Defensive distillation: the paper's attack vs attacks on logits", run).paragraph(
        f"Papernot et al. 2016 (surveyed in seed 003, `{SEED_SURVEY}`; seed 001 lists distillation as a "
        f"defence) on {config.dataset} ({config.train_size or 'all'} training examples): {config.model} teacher "
        f"trained at T, student trained at T on the teacher's soft labels, deployed at T=1; {config.epochs} epochs "
        f"each, batch {config.batch_size}, {config.optimizer} {config.learning_rate:g}. Robust accuracy on "
        f"{config.eval_size} test examples at ε={config.eps:g} under {config.attack_spec().label}. *Probabilities*: "
        f"cross entropy on the deployed softmax output at T=1, differentiated through the softmax (the paper's naive "
        f"attack surface; Papernot et al. used JSMA on that output, we use PGD/FGSM on it). Masking report: Carlini "
        f"et al. 2019 checks at ε={config.eps:g} on {config.masking_size} examples.")
    report.paragraph(f"Mean ± sample std over the seeds {', '.join(map(str, config.seeds))}; every direction is "
                     f"called only when {v.SEED_TEST} finds it (and the gain exceeds 0.05), else "
                     f"\"{v.NO_CLEAR_EFFECT}\".")
    report.table(mean_std_rows(groups, columns, label="network"))
    report.paragraph("FGSM accuracy vs ε, with cross entropy on the probabilities (paper) and with the margin loss "
                     "on the logits:").table(mean_std_rows(groups, curves, label="network"))
    report.section("Every training run").table(metric_rows(
        {f"{name} (seed {e['seed']})": e for name, group in groups.items() for e in group}, columns[:-2],
        label="network"))
    report.section("Published findings").findings(DISTILLATION_FINDINGS)
    if verdicts:
        report.directions(f"Direction of each effect ({verdicts['compared']}; {v.SEED_TEST})", [
            ["attack on probabilities (Papernot et al.)", verdicts["paper_attack"]["published"],
             v.verdict_cell(verdicts["paper_attack"])],
            ["PGD with margin loss on logits (Carlini & Wagner)", verdicts["logits_margin"]["published"],
             v.verdict_cell(verdicts["logits_margin"])],
            ["PGD-margin / clean (matched clean accuracy)", "—", v.verdict_cell(verdicts["logits_margin_relative"])],
            ["clean accuracy change", "small (\"without much change in accuracy\")",
             f"{verdicts['clean_change']:+.3f} ({verdicts['clean']})"]], ["effect", "published", "ours"])
    return report.footer(["attacks_by_temperature.png"], note="(error bars: ± std over seeds)").markdown()


def run(config: DistillationConfig) -> dict:
    """Trains the undefended net and a teacher/student pair per (T, seed), attacks them; returns results.json."""
    from tfrobust.studies.curves import plot_bars_mean_std
    from tfrobust.studies.run_store import with_sweeps
    from tfrobust.studies.training import start

    store, data = start(EXPERIMENT, config)
    load = with_sweeps(*SWEEPS)
    groups = {UNDEFENDED: [store.cached(seed_key_of(UNDEFENDED, s), lambda s=s: _evaluate_undefended(
        store, data, config, s), load=load) for s in config.seeds]}
    for t in config.temperatures:
        groups[f"student T={t:g}"] = [store.cached(seed_key_of(f"T={t:g}", s), lambda t=t, s=s: _evaluate_temperature(
            store, data, config, t, s), load=load) for s in config.seeds]
    path = plot_bars_mean_std(
        list(groups), {"clean": [[e["clean_accuracy"] for e in g] for g in groups.values()],
                       **{label: [[e[key] for e in g] for g in groups.values()] for key, label in ATTACKS}},
        store.path("attacks_by_temperature.png"),
        title=f"Defensive distillation, PGD at ε={config.eps:g} ({config.dataset})")
    verdicts = _verdicts(groups)
    return store.finish(_markdown(store, config, groups, verdicts), verdicts=verdicts, figures=[path])


if __name__ == "__main__":
    run_script(run, DistillationConfig, PRESETS)
