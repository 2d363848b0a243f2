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
import importlib

#: Public name -> the submodule that defines it, imported on first use (PEP 562): ``config`` and ``flags`` need no
#: TensorFlow, so ``from tfrobust.studies.config import StudyConfig`` and a script's ``--help`` stay light, while
#: ``from tfrobust.studies import StudyReport`` loads what it names.
_EXPORTS = {
    "autoattack_accuracy": "autoattack", "autoattack_cell": "autoattack",
    "QUICK_AUTOATTACK": "config", "AttackSettings": "config", "AutoAttackSettings": "config",
    "CurveSettings": "config", "StudyConfig": "config",
    "config_from_flags": "flags", "define_flags": "flags", "make_config": "flags", "run_script": "flags",
    "StudyReport": "report", "RunStore": "run_store",
    "StudyData": "training", "compile_classifier": "training", "fit": "training", "load_data": "training",
    "make_optimizer": "training", "start": "training",
}
_SUBMODULES = frozenset({"autoattack", "config", "curves", "flags", "published", "report", "run_store", "training",
                         "verdicts"})

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS) | _SUBMODULES)
