"""Seed 004, Section 4.1: does magnitude pruning make a network more robust to FGSM?

Each model is trained dense (sparsity 0) and with magnitude pruning to each final sparsity
(``tfrobust.training.prune``: tensorflow-model-optimization's polynomial schedule of Zhu & Gupta 2017,
s_t = s_f (1 - (1 - (t - t_0) / (n Δt))^3), pruning every Δt steps between ``begin_fraction`` and
``end_fraction`` of training), stripped, and its measured sparsity reported. Each model is then attacked
with FGSM for a grid of ε: accuracy(ε) and drop(ε) = accuracy(0) - accuracy(ε) (seed 004, Figures 8-11),
plus the per-example minimal FGSM ε on a fine grid (seed 004, Section 3.3).

Usage:
    python experiments/pruning_robustness.py --preset quick
    python experiments/pruning_robustness.py --preset paper --models=alexnet --batch_size=512
"""
from __future__ import annotations

import dataclasses
import time
from typing import Dict, Tuple

import tf_keras as keras

from tfrobust import experiment, published, study_report
from tfrobust.evaluation.results import markdown_table
from tfrobust.models import build
from tfrobust.training.pruning import measured_sparsity, prune, pruning_callbacks, strip

EXPERIMENT = "pruning_robustness"


@dataclasses.dataclass(frozen=True)
class PruningConfig(experiment.ExperimentConfig):
    """Settings of the pruning study (fields of ``ExperimentConfig`` plus these).

    Attributes:
        models: ``tfrobust.models`` names.
        sparsities: final sparsities s_f in [0, 1); 0 trains the dense baseline.
        epsilons: ε grid of the FGSM curves (include 0).
        begin_fraction: pruning starts at this fraction of the training steps (t_0).
        end_fraction: s_f is reached at this fraction of the training steps.
        pruning_frequency: prune every this many steps (Δt).
        minimal_eps_points: grid size of the minimal-ε measurement (0 skips it).
    """

    models: Tuple[str, ...] = ("fc5",)
    sparsities: Tuple[float, ...] = published.SEED_004_SPARSITIES
    epsilons: Tuple[float, ...] = (0.0, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2)
    begin_fraction: float = 0.2
    end_fraction: float = 0.7
    pruning_frequency: int = 10
    minimal_eps_points: int = 41

    SWEEP_FIELDS = ("models", "sparsities")
    HELP = {
        "models": "Comma-separated model names (fc5, alexnet, resnet18, ...).",
        "sparsities": "Comma-separated final sparsities in [0, 1) (0 = dense baseline).",
        "epsilons": "Comma-separated ε grid of the FGSM curves.",
        "begin_fraction": "Pruning begins at this fraction of training.",
        "end_fraction": "The final sparsity is reached at this fraction of training.",
        "pruning_frequency": "Prune every this many steps.",
        "minimal_eps_points": "Grid size of the minimal FGSM ε (0 skips it).",
    }


PRESETS: Dict[str, PruningConfig] = {
    # mnist5k (bundled): FC5 at the six sparsities of the seed; 4,000 training digits, 10 epochs of 32 steps.
    "quick": PruningConfig(preset="quick", dataset="mnist5k", models=("fc5",), epochs=10, batch_size=128,
                           learning_rate=1e-3, eval_size=500),
    # Seed 004: ResNet18, AlexNet and FC5 on Imagenette, batch 128 or 512 (flag), attacked on 785 validation
    # images; pruning starts at step 1000 and prunes every 100 steps (the seed's example). Epochs and ε grid
    # are not given by the seed; these are ours.
    "paper": PruningConfig(preset="paper", dataset="imagenette", models=("resnet18", "alexnet", "fc5"), epochs=30,
                           batch_size=128, learning_rate=1e-3, eval_size=785, pruning_frequency=100,
                           epsilons=(0.0, 1 / 255, 2 / 255, 3 / 255, 4 / 255, 6 / 255, 8 / 255, 12 / 255, 16 / 255)),
}


def _key(model_name: str, sparsity: float) -> str:
    return f"{model_name}_sparsity={sparsity:g}"


def _train_and_evaluate(run: experiment.ExperimentRun, data: experiment.ExperimentData, config: PruningConfig,
                        model_name: str, sparsity: float) -> dict:
    key = _key(model_name, sparsity)
    total_steps = config.epochs * experiment.steps_per_epoch(data, config)
    begin = int(config.begin_fraction * total_steps)
    end = max(begin + 1, int(config.end_fraction * total_steps))

    def build_model():
        return build(model_name, data.input_shape, data.num_classes, model_name=f"{model_name}_s{sparsity:g}")

    def train(model, callbacks):
        if sparsity > 0:
            model = prune(model, sparsity, begin_step=begin, end_step=end,
                          frequency=min(config.pruning_frequency, max(1, end - begin)))
            callbacks = list(callbacks) + pruning_callbacks(run.model_logdir(key))
        experiment.compile_classifier(model, keras.optimizers.Adam(config.learning_rate))
        experiment.fit(model, data, config, callbacks)
        return strip(model) if sparsity > 0 else model

    started = time.time()
    model = run.trained_model(key, build_model, train)
    train_seconds = time.time() - started
    report = measured_sparsity(model)
    entry = study_report.fgsm_curves(model, data.x_eval, data.y_eval, config.epsilons,
                                   minimal_eps_points=config.minimal_eps_points)
    run.log_evaluation(key, sweeps={"fgsm": study_report.sweep_of(entry)},
                       scalars={"measured_sparsity": report.overall})
    entry.update({"model": model_name, "target_sparsity": sparsity, "measured_sparsity": report.overall,
                  "train_seconds": train_seconds, "pruning_steps": [begin, end] if sparsity > 0 else None})
    return entry


def _model_entries(run: experiment.ExperimentRun, config: PruningConfig, model_name: str) -> Dict[str, dict]:
    return {f"{s:.0%}": run.entries[_key(model_name, s)] for s in sorted(config.sparsities)}


def _verdicts(entries: Dict[str, dict]) -> Dict[str, Dict[str, str]]:
    baseline = next((e for e in entries.values() if e["target_sparsity"] == 0), None)
    if baseline is None:
        return {}
    return {name: study_report.curve_directions(baseline, entry) for name, entry in entries.items()
            if entry["target_sparsity"] > 0}


def _markdown(run: experiment.ExperimentRun, config: PruningConfig, per_model: Dict[str, Dict[str, dict]],
              verdicts: Dict[str, dict]) -> str:
    lines = [
        f"# Magnitude pruning and FGSM robustness ({run.name})",
        "",
        f"Reproduces seed 004 (`{published.SEED_COMPRESSION}`), Section 4.1, Figures 8-11, on {config.dataset} "
        f"({config.train_size or 'all'} training examples, {config.epochs} epochs, batch {config.batch_size}, "
        f"Adam {config.learning_rate:g}). Pruning: polynomial schedule (power 3) from {config.begin_fraction:.0%} to "
        f"{config.end_fraction:.0%} of training, every {config.pruning_frequency} steps; sparsity measured on the "
        f"stripped model's prunable kernels. Accuracy under FGSM on {config.eval_size} test examples; *mean drop* is "
        f"drop(ε) = acc(0) - acc(ε) averaged over the ε > 0 of the grid; *median min-ε* is the median over correctly "
        f"classified examples of the smallest FGSM ε (on a {config.minimal_eps_points}-point grid) that flips them.",
        "",
    ]
    for model_name, entries in per_model.items():
        rows = study_report.curves_rows(entries, config.epsilons, label="sparsity")
        for row, entry in zip(rows, entries.values()):
            row["measured"] = f"{entry['measured_sparsity']:.1%}"
            verdict = verdicts.get(model_name, {}).get(row["sparsity"])
            row["vs dense"] = f"{verdict['robustness']}, {verdict['clean']}" if verdict else "baseline"
        columns = ["sparsity", "measured"] + [c for c in rows[0] if c not in ("sparsity", "measured")]
        findings = [f for (m, _), f in published.PRUNING_FINDINGS.items() if m == model_name]
        lines += [f"## {model_name}", "", markdown_table(rows, columns, float_format=".3f"), "",
                  f"Figures: `{model_name}_accuracy.png`, `{model_name}_drop.png`.", "",
                  f"Published (seed 004 shows curves only; its stated findings, batch {config.batch_size} here):", "",
                  published.findings_markdown(findings) if findings else "- (no finding for this model in seed 004)",
                  ""]
    summary = []
    for model_name, entries in per_model.items():
        model_verdicts = verdicts.get(model_name, {})
        if not model_verdicts:
            continue
        ours = "; ".join(f"{name}: {v['robustness']}" for name, v in model_verdicts.items())
        for (m, batch), finding in published.PRUNING_FINDINGS.items():
            if m == model_name:
                summary.append([model_name, f"{finding.citation} (batch {batch}): {finding.direction}",
                                f"batch {config.batch_size}: {ours}"])
    if summary:
        lines += ["## Direction of the effect (pruned vs dense, by mean drop)", "",
                  markdown_table(summary, ["model", "seed 004", "ours"]), ""]
    lines += [f"TensorBoard (training, pruning summaries): `{run.logdir}`. Wall time: {run.wall_time_s:.0f} s.", ""]
    return "\n".join(lines)


def run(config: PruningConfig) -> dict:
    """Trains and prunes every (model, sparsity) not finished yet, attacks them, writes the results.

    Args:
        config: the settings (``PRESETS[name]`` with overrides, see ``experiment.make_config``).

    Returns:
        The content of ``results.json``.
    """
    if any(not 0.0 <= s < 1.0 for s in config.sparsities):
        raise ValueError(f"sparsities must be fractions in [0, 1), got {config.sparsities}.")
    experiment_run, data = experiment.start(EXPERIMENT, config)
    per_model, verdicts, figures = {}, {}, []
    for model_name in config.models:
        for sparsity in config.sparsities:
            experiment_run.cached(_key(model_name, sparsity), lambda m=model_name, s=sparsity: _train_and_evaluate(
                experiment_run, data, config, m, s))
        entries = _model_entries(experiment_run, config, model_name)
        per_model[model_name] = entries
        verdicts[model_name] = _verdicts(entries)
        figures += study_report.plot_curves(entries, experiment_run.results_dir, model_name,
                                          f"{model_name}, magnitude pruning")
    markdown = _markdown(experiment_run, config, per_model, verdicts)
    return experiment_run.finish(markdown, verdicts=verdicts, figures=figures)


if __name__ == "__main__":
    experiment.run_script(run, PruningConfig, PRESETS)
