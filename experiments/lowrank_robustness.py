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
    python experiments/lowrank_robustness.py --preset medium   # Fashion-MNIST (apt-get install -y dataset-fashion-mnist)
    python experiments/lowrank_robustness.py --preset paper --models=resnet18
"""
from __future__ import annotations

import dataclasses
import time
from typing import Dict, Tuple

from tfrobust.studies.config import SEED_004_PAPER_EPSILONS, CurveSettings, SeedsSettings, StudyConfig
from tfrobust.studies.flags import run_script
from tfrobust.studies.published import LOWRANK_FINDINGS, SEED_COMPRESSION
from tfrobust.studies.verdicts import LOWER_CLEAN, SEED_TEST, UNCHANGED_CLEAN

EXPERIMENT = "lowrank_robustness"
BASELINE = "standard"


@dataclasses.dataclass(frozen=True)
class LowRankConfig(SeedsSettings, CurveSettings, StudyConfig):
    """Settings of the low-rank study.

    Attributes:
        models: Comma-separated model names with seed-004 rank schedules (alexnet, resnet18).
        convs: Comma-separated conv choices: standard (the baseline), LR1, LR2.
        minimal_eps_points: Grid size of the per-example minimal FGSM ε (0 skips it).
        train_augment: Random crop and flip augmentation during training.
        low_rank_batch_norm: BatchNorm between the vertical and horizontal factors (Tai et al. 2016).
    """

    models: Tuple[str, ...] = ("alexnet",)
    convs: Tuple[str, ...] = (BASELINE, "LR1", "LR2")
    minimal_eps_points: int = 41
    train_augment: bool = False
    low_rank_batch_norm: bool = True

    SWEEP_FIELDS = ("models", "convs", "seeds")


PRESETS: Dict[str, LowRankConfig] = {
    # mnist5k (bundled): AlexNet adapted to 28×28×1, 2,000 training digits, 3 epochs per variant, 300 test digits
    # (AlexNet costs ~165M multiply-adds per digit: 0.3-1 s per training step of 64 on 2 CPU cores).
    "quick": LowRankConfig(preset="quick", dataset="mnist5k", models=("alexnet",), seeds=(0, 1, 2), epochs=3, batch_size=64,
                           train_size=2000, learning_rate=5e-4, eval_size=300, minimal_eps_points=21),
    # Seed 004, Figure 12: AlexNet (batch 512) and ResNet18 (batch 128, use --batch_size) on Imagenette,
    # attacked on 785 validation images. Epochs and ε grid are not given by the seed; these are ours.
    "paper": LowRankConfig(preset="paper", dataset="imagenette", models=("alexnet", "resnet18"), epochs=30,
                           batch_size=128, learning_rate=1e-3, eval_size=785, train_augment=True,
                           epsilons=SEED_004_PAPER_EPSILONS),
    # Fashion-MNIST: AlexNet (adapted to 28×28×1, as in the quick preset) with standard, LR1 and LR2 convolutions x 3
    # seeds, batch 128, 2 epochs on 15,000 of the 60,000 training images, FGSM on 500 test images, minimal ε on an
    # 11-point grid. Budget choices: AlexNet only (seed 004's ResNet18 costs ~4x AlexNet per step on 2 cores:
    # 9 trainings of it would take hours); 15,000 images (236 steps of ~1.2 s) so that 9 trainings plus their
    # attacks fit in ~50 minutes on 2 idle cores (AlexNet measured at 3.5 s a step under load, ~3x fewer idle).
    # Measured end to end on 2 idle cores: 1,403 s (23 min; 0.8 s a step).
    "medium": LowRankConfig(preset="medium", dataset="fashion_mnist", models=("alexnet",), seeds=(0, 1, 2), epochs=2,
                            batch_size=128, train_size=15000, learning_rate=5e-4, eval_size=500,
                            minimal_eps_points=11),
}


def _key(model_name: str, conv: str) -> str:
    return f"{model_name}_{conv}"


def _train_and_evaluate(run, data, config: LowRankConfig, model_name: str, conv: str, seed: int):
    import tf_keras as keras

    from tfrobust.models import build, count_conv_layers
    from tfrobust.models.rank_schedules import resolve_ranks
    from tfrobust.studies.curves import fgsm_curves, seeded_entry
    from tfrobust.studies.training import compile_classifier, fit

    key, data = seeded_entry(data, _key(model_name, conv), seed)

    def train(model, callbacks):
        compile_classifier(model, keras.optimizers.Adam(config.learning_rate))
        fit(model, data, config.epochs, callbacks, augment=config.train_augment)
        return model

    started = time.time()
    model = run.trained_model(key, lambda: build(model_name, data.input_shape, data.num_classes, conv=conv,
                                                 model_name=_key(model_name, conv), low_rank_batch_norm=config.low_rank_batch_norm),
                              train)
    train_seconds = time.time() - started
    measures = fgsm_curves(model, data.x_eval, data.y_eval, config.epsilons,
                           minimal_eps_points=config.minimal_eps_points)
    run.log_evaluation(key, sweeps={"fgsm": measures.fgsm})
    measures.details = {"model": model_name, "conv": conv,
                        "ranks": resolve_ranks(model_name, conv, count_conv_layers(model_name)),
                        "parameters": int(model.count_params()), "seed": seed, "train_seconds": train_seconds}
    return measures


def _markdown(run, config: LowRankConfig, study) -> str:
    from tfrobust.studies.curves import curve_sections
    from tfrobust.studies.report import StudyReport, training_summary

    batch_norm = "with" if config.low_rank_batch_norm else "without"
    setting = (f"Reproduces seed 004 (`{SEED_COMPRESSION}`), Section 4.2, Figure 12, on {training_summary(config)}. "
               f"LR1/LR2: seed 004's rank schedules (LR2 = LR1 / 2) on every k×k convolution (Tai et al. 2016 "
               f"vertical k×1 + horizontal 1×k, {batch_norm} BatchNorm between); the classifier stays free. Accuracy "
               f"under FGSM on {config.eval_size} test examples; *mean drop* averages drop(ε) = acc(0) - acc(ε) over "
               f"the ε > 0 of the grid; *median min-ε* is the median smallest FGSM ε that flips a correctly "
               f"classified example.")
    report = StudyReport("Low-rank convolutions and FGSM robustness", run).paragraph(setting)
    curve_sections(report, study, config.epsilons, label="conv", verdict_column="vs standard",
                   columns=lambda m: {"ranks": "full" if m["ranks"] is None else "-".join(str(r) for r in m["ranks"]),
                                      "params": f"{m['parameters']:,}"},
                   findings=lambda model: LOWRANK_FINDINGS.get(model, ()),
                   intro="Published (seed 004 shows curves only; its stated findings):")
    summary = [[model, conv, f"{finding.citation}: {finding.direction}",
                verdict["clean"] if finding.direction in (LOWER_CLEAN, UNCHANGED_CLEAN) else verdict["robustness"]]
               for model, verdicts in study.verdicts.items() for conv, verdict in verdicts.items()
               for finding in LOWRANK_FINDINGS.get(model, ())]
    report.directions(f"Direction of each effect (vs standard convolutions, over {len(config.seeds)} seeds; {SEED_TEST})", summary,
                      ["model", "conv", "seed 004", "ours"])
    return report.footer().markdown()


def run(config: LowRankConfig) -> dict:
    """Trains every (model, conv) not finished yet, attacks them; returns results.json."""
    from tfrobust.studies.curves import curve_study
    from tfrobust.studies.training import start

    store, data = start(EXPERIMENT, config)
    study = curve_study(store, config.models, config.convs, key=_key, label=str,
                        measure=lambda m, c, seed: _train_and_evaluate(store, data, config, m, c, seed),
                        baseline=BASELINE, what="low-rank convolutions", seeds=config.seeds)
    return store.finish(_markdown(store, config, study), verdicts=study.verdicts, figures=study.figures)


if __name__ == "__main__":
    run_script(run, LowRankConfig, PRESETS)
