"""Seed 004, Section 4.2: does a low-rank constraint on the convolutions change FGSM robustness?

Each model is trained three times: with standard convolutions (baseline) and with every k×k
convolution replaced by Tai et al.'s (2016) separable pair, a vertical k×1 convolution with K filters
followed by a horizontal 1×k convolution with N filters (``tfrobust.layers.LowRankConv2D``), with the
ranks K of seed 004's schedules LR1 and LR2 = LR1 / 2 (``tfrobust.models.rank_schedule``):
AlexNet LR1 = {8, 40, 60, 100, 200, free}, ResNet18 LR1 = {8, 5, 24, ..., 256, free}. Each model is then
attacked with FGSM for a grid of ε: accuracy(ε) and drop(ε) (seed 004, Figure 12), plus the
per-example minimal FGSM ε.

Input size: the quick preset runs AlexNet on 28×28×1 digits. ``tfrobust.models`` adapts AlexNet's stem to
small images (5×5 stride-1 first convolution, 2×2 pools, 1024-unit classifier) instead of the 224×224
ImageNet stem, so the five convolutions and their LR1/LR2 ranks are those of the seed.

Usage:
    python experiments/lowrank_robustness.py --preset quick
    python experiments/lowrank_robustness.py --preset paper --models=resnet18
"""
from __future__ import annotations

import dataclasses
import time
from typing import Dict, Tuple

import tf_keras as keras

from tfrobust import experiment, published, study_report
from tfrobust.evaluation.results import markdown_table
from tfrobust.models import build, count_conv_layers
from tfrobust.models.rank_schedules import resolve_ranks

EXPERIMENT = "lowrank_robustness"


@dataclasses.dataclass(frozen=True)
class LowRankConfig(experiment.ExperimentConfig):
    """Settings of the low-rank study (fields of ``ExperimentConfig`` plus these).

    Attributes:
        models: ``tfrobust.models`` names with seed-004 rank schedules (alexnet, resnet18).
        convs: conv choices: "standard" (baseline), "LR1", "LR2".
        epsilons: ε grid of the FGSM curves (include 0).
        minimal_eps_points: grid size of the minimal-ε measurement (0 skips it).
        train_augment: random crop / flip augmentation during training.
        low_rank_batch_norm: BatchNorm between the vertical and horizontal factors (Tai et al. 2016).
    """

    models: Tuple[str, ...] = ("alexnet",)
    convs: Tuple[str, ...] = ("standard", "LR1", "LR2")
    epsilons: Tuple[float, ...] = (0.0, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2)
    minimal_eps_points: int = 41
    train_augment: bool = False
    low_rank_batch_norm: bool = True

    SWEEP_FIELDS = ("models", "convs")
    HELP = {
        "models": "Comma-separated model names (alexnet, resnet18).",
        "convs": "Comma-separated conv choices: standard, LR1, LR2.",
        "epsilons": "Comma-separated ε grid of the FGSM curves.",
        "minimal_eps_points": "Grid size of the minimal FGSM ε (0 skips it).",
        "train_augment": "Random crop and flip augmentation during training.",
        "low_rank_batch_norm": "BatchNorm between the two factors of each low-rank convolution.",
    }


PRESETS: Dict[str, LowRankConfig] = {
    # mnist5k (bundled): AlexNet adapted to 28×28×1, 2,000 training digits, 3 epochs per variant, 300 test digits
    # (AlexNet costs ~165M multiply-adds per digit: 0.3-1 s per training step of 64 on 2 CPU cores).
    "quick": LowRankConfig(preset="quick", dataset="mnist5k", models=("alexnet",), epochs=3, batch_size=64,
                           train_size=2000, learning_rate=5e-4, eval_size=300, minimal_eps_points=21),
    # Seed 004, Figure 12: AlexNet (batch 512) and ResNet18 (batch 128, use --batch_size) on Imagenette,
    # attacked on 785 validation images. Epochs and ε grid are not given by the seed; these are ours.
    "paper": LowRankConfig(preset="paper", dataset="imagenette", models=("alexnet", "resnet18"), epochs=30,
                           batch_size=128, learning_rate=1e-3, eval_size=785, train_augment=True,
                           epsilons=(0.0, 1 / 255, 2 / 255, 3 / 255, 4 / 255, 6 / 255, 8 / 255, 12 / 255, 16 / 255)),
}


def _key(model_name: str, conv: str) -> str:
    return f"{model_name}_{conv}"


def _train_and_evaluate(run: experiment.ExperimentRun, data: experiment.ExperimentData, config: LowRankConfig,
                        model_name: str, conv: str) -> dict:
    key = _key(model_name, conv)

    def build_model():
        return build(model_name, data.input_shape, data.num_classes, conv=conv, model_name=key,
                     low_rank_batch_norm=config.low_rank_batch_norm)

    def train(model, callbacks):
        experiment.compile_classifier(model, keras.optimizers.Adam(config.learning_rate))
        experiment.fit(model, data, config, callbacks, augment=config.train_augment)
        return model

    started = time.time()
    model = run.trained_model(key, build_model, train)
    train_seconds = time.time() - started
    entry = study_report.fgsm_curves(model, data.x_eval, data.y_eval, config.epsilons,
                                   minimal_eps_points=config.minimal_eps_points)
    run.log_evaluation(key, sweeps={"fgsm": study_report.sweep_of(entry)})
    ranks = resolve_ranks(model_name, conv, count_conv_layers(model_name))
    entry.update({"model": model_name, "conv": conv, "ranks": ranks, "parameters": int(model.count_params()),
                  "train_seconds": train_seconds})
    return entry


def _markdown(run: experiment.ExperimentRun, config: LowRankConfig, per_model: Dict[str, Dict[str, dict]],
              verdicts: Dict[str, dict]) -> str:
    lines = [
        f"# Low-rank convolutions and FGSM robustness ({run.name})",
        "",
        f"Reproduces seed 004 (`{published.SEED_COMPRESSION}`), Section 4.2, Figure 12, on {config.dataset} "
        f"({config.train_size or 'all'} training examples, {config.epochs} epochs, batch {config.batch_size}, "
        f"Adam {config.learning_rate:g}). LR1/LR2: seed 004's rank schedules (LR2 = LR1 / 2) on every k×k "
        f"convolution (Tai et al. 2016 vertical k×1 + horizontal 1×k, "
        f"{'with' if config.low_rank_batch_norm else 'without'} BatchNorm between); the classifier stays "
        f"free. Accuracy under FGSM on {config.eval_size} test examples; *mean drop* averages "
        f"drop(ε) = acc(0) - acc(ε) over the ε > 0 of the grid; *median min-ε* is the median smallest FGSM ε "
        f"that flips a correctly classified example.",
        "",
    ]
    for model_name, entries in per_model.items():
        rows = study_report.curves_rows(entries, config.epsilons, label="conv")
        for row, entry in zip(rows, entries.values()):
            row["ranks"] = "full" if entry["ranks"] is None else "-".join(str(r) for r in entry["ranks"])
            row["params"] = f"{entry['parameters']:,}"
            verdict = verdicts.get(model_name, {}).get(row["conv"])
            row["vs standard"] = f"{verdict['robustness']}, {verdict['clean']}" if verdict else "baseline"
        columns = ["conv", "ranks", "params"] + [c for c in rows[0] if c not in ("conv", "ranks", "params")]
        findings = published.LOWRANK_FINDINGS.get(model_name, ())
        lines += [f"## {model_name}", "", markdown_table(rows, columns, float_format=".3f"), "",
                  f"Figures: `{model_name}_accuracy.png`, `{model_name}_drop.png`.", "",
                  "Published (seed 004 shows curves only; its stated findings):", "",
                  published.findings_markdown(findings) if findings else "- (no finding for this model in seed 004)",
                  ""]
    summary = []
    for model_name in per_model:
        for conv, verdict in verdicts.get(model_name, {}).items():
            for finding in published.LOWRANK_FINDINGS.get(model_name, ()):
                ours = verdict["clean"] if finding.direction in (published.LOWER_CLEAN, published.UNCHANGED_CLEAN) \
                    else verdict["robustness"]
                summary.append([model_name, conv, f"{finding.citation}: {finding.direction}", ours])
    if summary:
        lines += ["## Direction of each effect (vs standard convolutions)", "",
                  markdown_table(summary, ["model", "conv", "seed 004", "ours"]), ""]
    lines += [f"TensorBoard: `{run.logdir}`. Wall time: {run.wall_time_s:.0f} s.", ""]
    return "\n".join(lines)


def run(config: LowRankConfig) -> dict:
    """Trains every (model, conv) not finished yet, attacks them, writes the results.

    Args:
        config: the settings (``PRESETS[name]`` with overrides, see ``experiment.make_config``).

    Returns:
        The content of ``results.json``.
    """
    experiment_run, data = experiment.start(EXPERIMENT, config)
    per_model, verdicts, figures = {}, {}, []
    for model_name in config.models:
        for conv in config.convs:
            experiment_run.cached(_key(model_name, conv), lambda m=model_name, c=conv: _train_and_evaluate(
                experiment_run, data, config, m, c))
        entries = {conv: experiment_run.entries[_key(model_name, conv)] for conv in config.convs}
        per_model[model_name] = entries
        if "standard" in entries:
            verdicts[model_name] = {conv: study_report.curve_directions(entries["standard"], entry)
                                    for conv, entry in entries.items() if conv != "standard"}
        figures += study_report.plot_curves(entries, experiment_run.results_dir, model_name,
                                          f"{model_name}, low-rank convolutions")
    markdown = _markdown(experiment_run, config, per_model, verdicts)
    return experiment_run.finish(markdown, verdicts=verdicts, figures=figures)


if __name__ == "__main__":
    experiment.run_script(run, LowRankConfig, PRESETS)
