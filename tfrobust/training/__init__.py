"""tfrobust.training: robust training methods as Keras models with a custom ``train_step``.

Each wrapper takes any tf_keras logits model and keeps ``compile()``/``fit()``/``evaluate()``,
callbacks, TensorBoard, ``tf.distribute`` and mixed precision working; the wrapped model
(``wrapper.inner``) is the one to save and deploy.

- ``FastAdversarialModel``: FGSM with random start (Wong, Rice & Kolter 2020).
- ``PGDAdversarialModel``: k-step PGD adversarial training (Madry et al. 2018).
- ``TemperatureModel``: cross entropy on logits / T (high-temperature training, seed 004).
- ``DistillationModel``: student at T on a teacher's soft labels (Hinton 2015; Papernot 2016).
- ``prune``/``pruning_callbacks``/``strip``/``measured_sparsity``: Zhu & Gupta magnitude pruning via tfmot.
- ``one_cycle``/``piecewise_linear``/``TriangularCyclicSchedule``: per-batch learning-rate schedules.
- ``CatastrophicOverfittingGuard``: PGD on a held batch after each epoch, restore and stop on collapse.
- ``TRADESModel`` (Zhang et al. 2019), ``MARTModel`` (Wang et al. 2020), ``AWPModel`` (Wu et al. 2020, on PGD-AT
  or TRADES), ``EnsembleAdversarialModel`` (Tramèr et al. 2018), ``GradAlignModel`` (Andriushchenko &
  Flammarion 2020), ``NFGSMModel`` (de Jorge et al. 2022); ``CatastrophicOverfittingDetector`` logs FGSM vs PGD
  accuracy on a held batch every epoch.
- ``resumable_callbacks``: epoch-level checkpoints so killed runs resume.
"""
from tfrobust.training._wrapper import TrainingWrapper
from tfrobust.training.callbacks import CatastrophicOverfittingGuard
from tfrobust.training.checkpoints import resumable_callbacks
from tfrobust.training.distillation import DistillationModel
from tfrobust.training.fast_adversarial import FastAdversarialModel
from tfrobust.training.inner_attack import pgd_examples
from tfrobust.training.pgd_adversarial import PGDAdversarialModel
from tfrobust.training.pruning import (SparsityReport, measured_sparsity, prune, pruned_layers,
                                       pruning_callbacks, strip)
from tfrobust.training.schedules import (PiecewiseLinearSchedule, TriangularCyclicSchedule, one_cycle,
                                         piecewise_linear)
from tfrobust.training.temperature import TemperatureModel, TemperatureScaledModel

__all__ = [
    "TrainingWrapper", "FastAdversarialModel", "PGDAdversarialModel", "TemperatureModel", "TemperatureScaledModel",
    "DistillationModel", "CatastrophicOverfittingGuard", "resumable_callbacks", "pgd_examples", "prune",
    "pruning_callbacks", "pruned_layers", "strip", "measured_sparsity", "SparsityReport", "piecewise_linear", "one_cycle",
    "PiecewiseLinearSchedule", "TriangularCyclicSchedule",
]

# Batch-2 training baselines (issue 14).
from tfrobust.training.awp import AWPModel  # noqa: E402
from tfrobust.training.ensemble_adversarial import EnsembleAdversarialModel  # noqa: E402
from tfrobust.training.grad_align import GradAlignModel  # noqa: E402
from tfrobust.training.mart import MARTModel  # noqa: E402
from tfrobust.training.n_fgsm import NFGSMModel  # noqa: E402
from tfrobust.training.overfitting_detector import CatastrophicOverfittingDetector  # noqa: E402
from tfrobust.training.trades import TRADESModel  # noqa: E402

__all__ += ["TRADESModel", "MARTModel", "AWPModel", "EnsembleAdversarialModel", "GradAlignModel", "NFGSMModel",
            "CatastrophicOverfittingDetector"]
