"""Seed 004, Section 4.1: does magnitude pruning make a network more robust to FGSM?

Each model is trained dense (sparsity 0) and with magnitude pruning to each final sparsity
(``tfrobust.training.prune``: tensorflow-model-optimization's polynomial schedule of Zhu & Gupta 2017,
s_t = s_f (1 - (1 - (t - t_0) / (n Δt))^3), pruning every Δt steps between ``begin_fraction`` and
``end_fraction`` of training), stripped, and its measured sparsity reported. Each model is then attacked
with FGSM for a grid of ε: accuracy(ε) and drop(ε) = accuracy(0) - accuracy(ε) (seed 004, Figures 8-11),
plus the per-example minimal FGSM ε on a fine grid (seed 004, Section 3.3).

Usage:
    python experiments/pruning_robustness.py --preset quick
    python experiments/pruning_robustness.py --preset medium   # full Fashion-MNIST (apt-get install -y dataset-fashion-mnist)
    python experiments/pruning_robustness.py --preset paper --models=alexnet --batch_size=512
"""
from __future__ import annotations

import dataclasses
import time
from typing import Dict, Tuple

from tfrobust.studies.config import SEED_004_PAPER_EPSILONS, CurveSettings, SeedsSettings, StudyConfig
from tfrobust.studies.flags import run_script
from tfrobust.studies.published import PRUNING_FINDINGS, SEED_004_SPARSITIES, SEED_COMPRESSION
from tfrobust.studies.verdicts import SEED_TEST

EXPERIMENT = "pruning_robustness"


@dataclasses.dataclass(frozen=True)
class PruningConfig(SeedsSettings, CurveSettings, StudyConfig):
    """Settings of the pruning study.

    Attributes:
        models: Comma-separated model names (tfrobust.models: fc5, alexnet, resnet18, ...).
        sparsities: Comma-separated final sparsities s_f in [0, 1); 0 trains the dense baseline.
        begin_fraction: Pruning begins at this fraction of the training steps (t_0).
        end_fraction: The final sparsity is reached at this fraction of the training steps.
        pruning_frequency: Prune every this many steps (Δt).
        minimal_eps_points: Grid size of the per-example minimal FGSM ε (0 skips it).
    """

    models: Tuple[str, ...] = ("fc5",)
    sparsities: Tuple[float, ...] = SEED_004_SPARSITIES
    begin_fraction: float = 0.2
    end_fraction: float = 0.7
    pruning_frequency: int = 10
    minimal_eps_points: int = 41

    SWEEP_FIELDS = ("models", "sparsities", "seeds")

    def validate(self) -> None:
        if any(not 0.0 <= s < 1.0 for s in self.sparsities):
            raise ValueError(f"--sparsities must be fractions in [0, 1), got {self.sparsities}.")


PRESETS: Dict[str, PruningConfig] = {
    # mnist5k (bundled): FC5 at the six sparsities of the seed, 3 training seeds; 4,000 training digits, 10 epochs of 32 steps.
    "quick": PruningConfig(preset="quick", dataset="mnist5k", models=("fc5",), seeds=(0, 1, 2), epochs=10, batch_size=128,
                           learning_rate=1e-3, eval_size=500),
    # Seed 004: ResNet18, AlexNet and FC5 on Imagenette, batch 128 or 512 (flag), attacked on 785 validation
    # images; pruning starts at step 1000 and prunes every 100 steps (the seed's example). Epochs and ε grid
    # are not given by the seed; these are ours.
    "paper": PruningConfig(preset="paper", dataset="imagenette", models=("resnet18", "alexnet", "fc5"), epochs=30,
                           batch_size=128, learning_rate=1e-3, eval_size=785, pruning_frequency=100,
                           epsilons=SEED_004_PAPER_EPSILONS),
    # Full Fashion-MNIST (60,000 training, all 10,000 test images attacked): FC5 at the seed's six sparsities,
    # batch 512 as in the seed's FC5 figure (Figure 11), 3 training seeds, 6 epochs (FC5 reaches ~88% clean).
    # Budget choice: FC5 only. AlexNet costs ~1 s and ResNet18 ~4 s per step of 128 on 2 cores (3.5 s and 14 s
    # measured under load), so 6 sparsities x 3 seeds of either would take hours. The 18 FC5 trainings and their
    # attacks took 1,632 s (27 min) on 2 idle cores (oneDNN kernels on).
    "medium": PruningConfig(preset="medium", dataset="fashion_mnist", models=("fc5",), seeds=(0, 1, 2), epochs=6,
                            batch_size=512, learning_rate=1e-3, eval_size=10000, pruning_frequency=20),
}


def _key(model_name: str, sparsity: float) -> str:
    return f"{model_name}_sparsity={sparsity:g}"


def _train_and_evaluate(run, data, config: PruningConfig, model_name: str, sparsity: float, seed: int):
    import tf_keras as keras

    from tfrobust.models import build
    from tfrobust.studies.curves import fgsm_curves, seeded_entry
    from tfrobust.studies.training import compile_classifier, fit
    from tfrobust.training.pruning import measured_sparsity, prune, pruning_callbacks, strip

    key, data = seeded_entry(data, _key(model_name, sparsity), seed)
    total_steps = config.epochs * data.steps_per_epoch()
    begin = int(config.begin_fraction * total_steps)
    end = max(begin + 1, int(config.end_fraction * total_steps))

    def train(model, callbacks):
        if sparsity > 0:
            model = prune(model, sparsity, begin_step=begin, end_step=end,
                          frequency=min(config.pruning_frequency, max(1, end - begin)))
            callbacks = list(callbacks) + pruning_callbacks(run.model_logdir(key))
        compile_classifier(model, keras.optimizers.Adam(config.learning_rate))
        fit(model, data, config.epochs, callbacks)
        return strip(model) if sparsity > 0 else model

    started = time.time()
    model = run.trained_model(key, lambda: build(model_name, data.input_shape, data.num_classes,
                                                 model_name=f"{model_name}_s{sparsity:g}"), train)
    train_seconds = time.time() - started
    report = measured_sparsity(model)
    measures = fgsm_curves(model, data.x_eval, data.y_eval, config.epsilons,
                           minimal_eps_points=config.minimal_eps_points)
    run.log_evaluation(key, sweeps={"fgsm": measures.fgsm}, scalars={"measured_sparsity": report.overall})
    measures.details = {"model": model_name, "target_sparsity": sparsity, "measured_sparsity": report.overall,
                        "seed": seed, "train_seconds": train_seconds, "pruning_steps": [begin, end] if sparsity > 0 else None}
    return measures


def _markdown(run, config: PruningConfig, study) -> str:
    from tfrobust.studies.curves import curve_sections
    from tfrobust.studies.report import StudyReport, training_summary

    report = StudyReport("Magnitude pruning and FGSM robustness", run).paragraph(
        f"Reproduces seed 004 (`{SEED_COMPRESSION}`), Section 4.1, Figures 8-11, on {training_summary(config)}. "
        f"Pruning: polynomial schedule (power 3) from {config.begin_fraction:.0%} to {config.end_fraction:.0%} of "
        f"training, every {config.pruning_frequency} steps; sparsity measured on the stripped model's prunable "
        f"kernels. Accuracy under FGSM on {config.eval_size} test examples; *mean drop* is drop(ε) = acc(0) - acc(ε) "
        f"averaged over the ε > 0 of the grid; *median min-ε* is the median over correctly classified examples of "
        f"the smallest FGSM ε (on a {config.minimal_eps_points}-point grid) that flips them.")
    curve_sections(report, study, config.epsilons, label="sparsity", verdict_column="vs dense",
                   columns=lambda m: {"measured": f"{m['measured_sparsity']:.1%}"},
                   findings=lambda model: [f for (m, _), f in PRUNING_FINDINGS.items() if m == model],
                   intro=f"Published (seed 004 shows curves only; its stated findings; batch {config.batch_size} "
                         "here):")
    summary = []
    for model_name, verdicts in study.verdicts.items():
        ours = "; ".join(f"{name}: {v['robustness']} (p={v['p_drop'] if v['p_drop'] is None else round(v['p_drop'], 3)}),"
                         f" by robust/clean {v['relative']}" for name, v in verdicts.items())
        summary += [[model_name, f"{finding.citation} (batch {batch}): {finding.direction}",
                     f"batch {config.batch_size}: {ours}"]
                    for (m, batch), finding in PRUNING_FINDINGS.items() if m == model_name and verdicts]
    report.directions(f"Direction of the effect (pruned vs dense, by mean drop over {len(config.seeds)} seeds; {SEED_TEST})", summary, ["model", "seed 004", "ours"])
    return report.footer(note="TensorBoard also holds the pruning summaries.").markdown()


def run(config: PruningConfig) -> dict:
    """Trains and prunes every (model, sparsity) not finished yet, attacks them; returns results.json."""
    from tfrobust.studies.curves import curve_study
    from tfrobust.studies.training import start

    store, data = start(EXPERIMENT, config)
    study = curve_study(store, config.models, sorted(config.sparsities), key=_key, label=lambda s: f"{s:.0%}",
                        measure=lambda m, s, seed: _train_and_evaluate(store, data, config, m, s, seed),
                        baseline=0.0, what="magnitude pruning", seeds=config.seeds, legend_title="sparsity")
    return store.finish(_markdown(store, config, study), verdicts=study.verdicts, figures=study.figures)


if __name__ == "__main__":
    run_script(run, PruningConfig, PRESETS)
