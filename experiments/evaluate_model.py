"""Evaluate anyone's saved model: accuracy-vs-eps sweeps for chosen attacks and the gradient-masking report.

    python experiments/evaluate_model.py --model model.keras --dataset mnist5k --attacks 'fgsm;pgd:steps=100' \
        --epsilons 0.05,0.1,0.2,0.3

Reads tf_keras `.keras`/`.h5`, Keras 3 `.keras` and SavedModel directories. Safe mode is on: models with
Lambda layers (serialised Python code) are refused unless --unsafe. The model must take images in [0, 1]
(normalisation inside the model) and return logits or probabilities (probabilities are detected).
Writes report.json, report.md and figures to --out_dir and TensorBoard logs to --logdir.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Optional, Tuple

from tfrobust.studies.config import CurveSettings, ReportSettings
from tfrobust.studies.flags import run_script


@dataclasses.dataclass(frozen=True)
class EvaluateConfig(CurveSettings, ReportSettings):
    """Settings of evaluate_model (out_dir and logdir default to results/ and tensorboard_logs/evaluate_model/<name>).

    Attributes:
        model: Path to a .keras/.h5 file or a SavedModel directory (required).
        dataset: Dataset name (tfrobust.data: mnist5k, mnist, fashion_mnist, cifar10, ...).
        split: Dataset split.
        num_examples: Examples to evaluate (the first N of the split).
        masking_eps: ε of the gradient-masking report (default: the largest ε of the grid; 0 skips it).
        attack_batch_size: Examples per attack call.
        unsafe: Allow Lambda layers (runs code stored in the model file).
        seed: Seed of the attacks' random starts.
        substitute: Path of a second model (same formats) to craft transfer examples on; the masking report then
            also checks whether its transferred PGD beats the white-box attacks (a sign of masked gradients).
    """

    model: Optional[str] = None
    dataset: str = "mnist5k"
    split: str = "test"
    num_examples: int = 1000
    epsilons: Tuple[float, ...] = (0.05, 0.1, 0.2, 0.3)
    masking_eps: Optional[float] = None
    attack_batch_size: int = 256
    unsafe: bool = False
    seed: int = 0
    substitute: Optional[str] = None

    def validate(self) -> None:
        if not self.model:
            raise ValueError("--model is required: the path of a .keras/.h5 file or a SavedModel directory.")


def main(config: EvaluateConfig) -> None:
    from absl import app

    from tfrobust import config as tfr_config
    from tfrobust.data import load_numpy
    from tfrobust.model_import import load_model
    from tfrobust.report import evaluate_robustness

    tfr_config.set_xla(config.xla)
    name = os.path.basename(os.path.normpath(config.model))
    out_dir = config.out_dir or os.path.join("results", "evaluate_model", name)
    logdir = config.logdir or os.path.join("tensorboard_logs", "evaluate_model", name)
    try:
        loaded = load_model(config.model, safe_mode=not config.unsafe)
    except (FileNotFoundError, ValueError) as err:  # missing file, unknown format, Lambda in safe mode
        raise app.UsageError(str(err)) from err
    substitute = None
    if config.substitute:
        try:
            substitute = load_model(config.substitute, safe_mode=not config.unsafe).model
        except (FileNotFoundError, ValueError) as err:
            raise app.UsageError(f"--substitute: {err}") from err
    x, y = load_numpy(config.dataset, config.split, take=config.num_examples)
    shape = loaded.input_shape
    if shape is not None and tuple(shape) != tuple(x.shape[1:]) and None not in shape:
        raise app.UsageError(f"The model takes inputs of shape {shape} but {config.dataset} images "
                             f"have shape {x.shape[1:]}; choose the matching --dataset.")
    masking_eps = max(config.epsilons) if config.masking_eps is None else config.masking_eps
    report = evaluate_robustness(
        loaded.model, x, y, attacks=config.attack_specs(), epsilons=config.epsilons, masking_eps=masking_eps or None,
        out_dir=out_dir, logdir=logdir, model_name=name, batch_size=config.attack_batch_size,
        extra={"model_path": os.path.abspath(config.model), "format": loaded.format, "dataset": config.dataset,
               "split": config.split}, progress=config.verbose > 0, substitute=substitute)
    print(report.markdown())
    print(f"Wrote {', '.join(sorted(report.files.values()))}")


if __name__ == "__main__":
    run_script(main, EvaluateConfig)
