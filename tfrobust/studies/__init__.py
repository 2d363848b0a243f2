"""tfrobust.studies: the seed-study layer the scripts in ``experiments/`` are built on.

It sits above every other part of tfrobust (evaluation, training, hypernet, reports, figures, TensorBoard) and
below the scripts; no library module imports it.

- ``config``: ``StudyConfig`` (settings every study has) and the mixins ``AttackSettings`` (``eps``, ``attack``)
  and ``CurveSettings`` (``epsilons``); each setting is documented once, in its class's docstring.
- ``flags``: absl flags generated from a settings dataclass, presets, and ``run_script`` (every script's main).
- ``run_store``: ``RunStore``, a run's directories, atomic ``results.json``, typed cached entries and resume.
- ``training``: ``start``, the study's data (``StudyData``), ``fit``, optimisers and schedules.
- ``published``: the seeds' published numbers and stated findings; ``verdicts``: the direction vocabulary and
  ``robustness_direction``, in which our measurements are judged beside them.
- ``curves``: seed 004's FGSM curves, drop and minimal ε of a model, and the compression studies' loop.
- ``report``: ``StudyReport``, the builder of ``results.md``.
"""
from tfrobust.studies.autoattack import autoattack_accuracy, autoattack_cell
from tfrobust.studies.config import QUICK_AUTOATTACK, AttackSettings, AutoAttackSettings, CurveSettings, StudyConfig
from tfrobust.studies.flags import config_from_flags, define_flags, make_config, run_script
from tfrobust.studies.report import StudyReport
from tfrobust.studies.run_store import RunStore
from tfrobust.studies.training import StudyData, compile_classifier, fit, load_data, make_optimizer, start

__all__ = [
    "AttackSettings", "AutoAttackSettings", "QUICK_AUTOATTACK", "autoattack_accuracy", "autoattack_cell",
    "CurveSettings", "StudyConfig", "config_from_flags", "define_flags", "make_config",
    "run_script", "StudyReport", "RunStore", "StudyData", "compile_classifier", "fit", "load_data",
    "make_optimizer", "start",
]
