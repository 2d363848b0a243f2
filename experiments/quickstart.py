"""Quickstart: train the seed-000 LeNet-5 on the bundled mnist5k digits, attack it, check the evaluation.

Runs offline in about two minutes on 2 CPU cores:

    python experiments/quickstart.py

Prints a table of FGSM and PGD accuracy and drop(eps) over an eps grid and the gradient-masking report;
writes the model (lenet5.keras), report.json/report.md and figures to results/quickstart/ and TensorBoard logs to
tensorboard_logs/quickstart/ (open with `tensorboard --logdir tensorboard_logs`).
"""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Optional, Tuple

from tfrobust.studies.config import CurveSettings, ReportSettings
from tfrobust.studies.flags import run_script


@dataclasses.dataclass(frozen=True)
class QuickstartConfig(CurveSettings, ReportSettings):
    """Settings of the quickstart (the masking report runs at the largest ε of the grid).

    Attributes:
        epochs: Training epochs.
        batch_size: Training batch size.
        learning_rate: Adam learning rate.
        eval_size: Test digits evaluated (mnist5k's test split has 1,000).
        seed: Random seed (weights, shuffling, the attacks' random starts).
    """

    epochs: int = 15
    batch_size: int = 32
    learning_rate: float = 2e-3
    eval_size: int = 1000
    seed: int = 0
    epsilons: Tuple[float, ...] = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
    attacks: str = "fgsm;pgd:steps=40,step_size=0.01"  # Madry et al. MNIST: 40 steps of 0.01
    out_dir: Optional[str] = "results/quickstart"
    logdir: Optional[str] = "tensorboard_logs/quickstart"


def main(config: QuickstartConfig) -> None:
    import tf_keras as keras

    from tfrobust import config as tfr_config
    from tfrobust import models
    from tfrobust.data import load_numpy
    from tfrobust.report import evaluate_robustness

    tfr_config.set_xla(config.xla)
    keras.utils.set_random_seed(config.seed)
    x_train, y_train = load_numpy("mnist5k", "train")
    x_test, y_test = load_numpy("mnist5k", "test", take=config.eval_size)

    start = time.time()
    model = models.build("lenet5", (28, 28, 1), 10)
    model.compile(keras.optimizers.Adam(config.learning_rate),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
                  jit_compile=tfr_config.use_xla())
    model.fit(x_train, y_train, batch_size=config.batch_size, epochs=config.epochs, verbose=2,
              validation_data=(x_test, y_test),
              callbacks=[keras.callbacks.TensorBoard(os.path.join(config.logdir, "train"))])
    train_seconds = time.time() - start
    os.makedirs(config.out_dir, exist_ok=True)
    model_path = os.path.join(config.out_dir, "lenet5.keras")
    model.save(model_path)

    report = evaluate_robustness(
        model, x_test, y_test, attacks=config.attack_specs(), epsilons=config.epsilons,
        masking_eps=max(config.epsilons), out_dir=config.out_dir, logdir=os.path.join(config.logdir, "eval"),
        model_name="lenet5 (mnist5k, standard training)",
        extra={"model_path": model_path, "train_seconds": train_seconds, "epochs": config.epochs, "seed": config.seed},
        progress=config.verbose > 0)
    print()
    print(report.markdown())
    print(f"Wrote {', '.join(sorted(report.files.values()))}")
    print(f"Model saved to {model_path}; evaluate it again with experiments/evaluate_model.py --model {model_path}")
    print(f"TensorBoard: tensorboard --logdir {config.logdir}")


if __name__ == "__main__":
    run_script(main, QuickstartConfig)
