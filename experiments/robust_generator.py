"""Seed 000: a generator of robust LeNet-5 weights, trained through a value network or directly.

Ballarin (2020), "Modelli generativi di modelli neurali artificiali robusti": a generator G maps
s ~ U([-10, 10]²) to the 20,522 weights θ of a LeNet-5; a value network V predicts accuracy A and PGD
robustness R of θ, and G is trained to maximise αÂ + βR̂ after being pretrained on a normally trained
LeNet-5 (``tfrobust.hypernet``). This script

1. trains the original LeNet-5 (standard training) and a PGD-trained LeNet-5
   (``tfrobust.training.PGDAdversarialModel``, at the evaluation ε) and measures their A and R;
2. pretrains G on the original network's θ (MSE);
3. for ``--mode value`` (the seed's loop, ``GeneratorValueModel``) and/or ``--mode direct`` (no V: clean plus
   PGD-adversarial cross entropy through the functional target network, ``DirectGeneratorModel``) trains a
   copy of the pretrained G, then samples ``num_samples`` networks and measures their A and R with the same
   PGD as the reference networks;
4. writes ``results.json`` and ``results.md`` (the seed's table beside ours), the scatter plot
   ``accuracy_vs_robustness.png`` and TensorBoard logs (loop metrics A, R, Â, R̂, losses per epoch;
   pretraining MSE; the final scalars and the figure).

R = 1 - (successful attacks / attacked examples), the attacked examples being those classified correctly
(see ``tfrobust.hypernet.robustness``); robust accuracy A·R is reported too. Every finished stage is
recorded in ``results.json`` and every trained network saved, so a killed run restarted with the same
flags resumes (the loops from their last completed epoch).

Usage:
    python experiments/robust_generator.py --preset quick                # mnist5k, about 5-10 min on 2 CPU cores
    python experiments/robust_generator.py --preset medium   # Fashion-MNIST (apt-get install -y dataset-fashion-mnist)
    python experiments/robust_generator.py --preset paper --mode value   # the seed's settings on MNIST (tfds)
    tensorboard --logdir tensorboard_logs/robust_generator
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional

from tfrobust.studies.config import QUICK_AUTOATTACK, AttackSettings, AutoAttackSettings, Settings, StudyConfig
from tfrobust.studies.flags import run_script

EXPERIMENT = "robust_generator"
MODES = ("value", "direct")


@dataclasses.dataclass(frozen=True)
class _PGDSettings(Settings):
    """The PGD of the robustness R and of the PGD-trained reference LeNet-5.

    Attributes:
        pgd_travel: steps × step size of every PGD of R (seed: 160 × 0.00225 = 0.36); the step size is
            pgd_travel / steps, so fewer steps keep the same reach.
        eval_pgd_steps: PGD steps when measuring the reference and the sampled networks (seed: 160).
        loop_pgd_steps: PGD steps inside the training loops (seed: 160).
        at_pgd_steps: PGD steps of the PGD-trained LeNet-5's training attack (step 2.5ε / steps, Madry et al.).
        at_epochs: epochs of the PGD-trained LeNet-5 (default: --epochs).
    """

    pgd_travel: float = 0.36
    eval_pgd_steps: int = 160
    loop_pgd_steps: int = 160
    at_pgd_steps: int = 40
    at_epochs: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class _LoopSettings(Settings):
    """Generator pretraining and the length of the loops.

    Attributes:
        pretrain_steps: generator pretraining steps (MSE to the original θ).
        pretrain_learning_rate: Adam learning rate of the pretraining.
        loop_epochs: epochs of each loop (TensorBoard points).
        loop_steps_per_epoch: generator steps per loop epoch.
        subset_size: examples of the subset T̃ drawn for each loop step.
    """

    pretrain_steps: int = 2000
    pretrain_learning_rate: float = 1e-3
    loop_epochs: int = 20
    loop_steps_per_epoch: int = 100
    subset_size: int = 512


@dataclasses.dataclass(frozen=True)
class _ValueModeSettings(Settings):
    """The seed's G/V loop (value mode).

    Attributes:
        value_samples_per_step: generated networks per step in value mode.
        generator_learning_rate: Adam learning rate of G in value mode.
        value_learning_rate: Adam learning rate of V.
        value_updates_per_step: V updates per measured batch (seed: 1).
        generator_start_step: value-mode steps with V alone before G moves (seed: 0).
    """

    value_samples_per_step: int = 8
    generator_learning_rate: float = 1e-5
    value_learning_rate: float = 1e-4
    value_updates_per_step: int = 2
    generator_start_step: int = 5


@dataclasses.dataclass(frozen=True)
class RobustGeneratorConfig(_ValueModeSettings, _LoopSettings, _PGDSettings, AutoAttackSettings, AttackSettings,
                            StudyConfig):
    """Settings of the generator study (``eps``: the PGD-L∞ radius of R, seed 0.175; ``attack``: the stronger PGD,
    with cross entropy and with the margin loss, that re-attacks the reference networks and the best samples).

    Attributes:
        mode: value (the seed's G/V loop), direct (no V: CE through the target network) or both.
        exploration_std: σ of the weight noise of V's training samples (seed: 0).
        direct_samples_per_step: generated networks per step in direct mode.
        direct_learning_rate: Adam learning rate of G in direct mode.
        alpha: weight of accuracy in the objective (β = 1 - α; seed 0.5).
        num_samples: networks sampled from each trained generator (seed: 20).
        latent_bound: s ~ U([-b, b]²) (seed: 10).
    """

    mode: str = "both"
    eps: float = 0.175
    attack: str = "pgd:steps=200,restarts=3"
    exploration_std: float = 0.0
    direct_samples_per_step: int = 4
    direct_learning_rate: float = 1e-4
    alpha: float = 0.5
    num_samples: int = 20
    latent_bound: float = 10.0

    SWEEP_FIELDS = ("mode",)

    def validate(self) -> None:
        if self.mode not in MODES + ("both",):
            raise ValueError(f"--mode must be value, direct or both, got {self.mode!r}.")


PRESETS: Dict[str, RobustGeneratorConfig] = {
    # mnist5k (bundled), sized for <= 10 min on 2 CPU cores: PGD shortened to 20 steps (evaluation) and 10 steps
    # (loops, PGD training) with the seed's eps and total travel; 100 generator steps per mode on subsets of 128.
    "quick": RobustGeneratorConfig(
        preset="quick", dataset="mnist5k", epochs=6, batch_size=64, learning_rate=2e-3, eval_size=500,
        eval_pgd_steps=20, loop_pgd_steps=10, at_pgd_steps=10, at_epochs=10, pretrain_steps=300,
        loop_epochs=10, loop_steps_per_epoch=10, subset_size=128, attack="pgd:steps=50,restarts=2",
        autoattack=QUICK_AUTOATTACK, autoattack_size=200),
    # Full Fashion-MNIST (60,000 training images, the offline full-size set; the seed's MNIST is only reachable
    # through tensorflow-datasets, online), the quick preset's generator loops with 2x the steps, on 1,000 test
    # images. Budget choices: the reference LeNet-5s train 4 epochs (PGD training 3 epochs of PGD-10) on 60k instead
    # of 10 epochs of PGD-160; PGD-20 (the seed's eps and total travel) in evaluation; one training seed (the
    # generator study samples 20 networks per mode: its spread is over samples, not seeds). ~30 minutes (estimate).
    "medium": RobustGeneratorConfig(
        preset="medium", dataset="fashion_mnist", epochs=4, batch_size=128, learning_rate=2e-3, eval_size=1000,
        eval_pgd_steps=20, loop_pgd_steps=10, at_pgd_steps=10, at_epochs=3, pretrain_steps=600,
        loop_epochs=20, loop_steps_per_epoch=10, subset_size=128, attack="pgd:steps=50,restarts=2",
        autoattack=QUICK_AUTOATTACK, autoattack_size=200),
    # The seed's settings on MNIST (tfds): PGD-Linf eps 0.175, 160 steps of 0.00225 everywhere, 20 samples.
    # Not given by the seed (our choices): 2,000 generator steps per mode, subsets of 512, learning rates.
    "paper": RobustGeneratorConfig(
        preset="paper", dataset="mnist", epochs=10, batch_size=128, learning_rate=1e-3, eval_size=2000),
}


def run(config: RobustGeneratorConfig) -> dict:
    """Trains the reference networks and the generator(s), samples and measures them; returns results.json."""
    from tfrobust.studies.generator_study import run_study

    return run_study(config)


if __name__ == "__main__":
    run_script(run, RobustGeneratorConfig, PRESETS)
