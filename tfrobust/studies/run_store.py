"""The run store: one run of one study on disk, its recorded entries and its resume logic.

``RunStore`` owns the run's places:

* ``results/<experiment>/<run>/``: ``results.json`` and ``results.md`` (written atomically through
  ``tfrobust.io``), the PNG figures, ``models/<key>.weights.h5`` (each finished model) and
  ``checkpoints/<key>/`` (Keras ``BackupAndRestore`` state of the model being trained);
* ``tensorboard_logs/<experiment>/<run>/<key>/``: TensorBoard logs of each training and evaluation.

Resume: a killed run started again with the same settings skips every entry already in ``results.json``,
reloads every finished model from its weights file instead of training it, and continues the interrupted
training from its last completed epoch (so at most one epoch is lost). Settings listed in the config's
``SWEEP_FIELDS`` (e.g. the sparsities) may grow between runs; any other change is refused, so results made
with different settings never mix.

Entries are typed: ``cached(key, compute, load=T.from_dict)`` returns what ``compute`` returned when it ran
now, and ``T.from_dict(recorded)`` when the entry was recorded by an earlier session, so a study works with
the same objects either way.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import time
import zlib
from typing import Any, Callable, Dict, List, Mapping, Optional, TypeVar

import tf_keras as keras

from tfrobust.evaluation.epsilon_sweep import SweepResult
from tfrobust.io import to_jsonable, write_json_atomic, write_text_atomic
from tfrobust.studies.config import LOCATION_FIELDS, StudyConfig
from tfrobust.training.checkpoints import resumable_callbacks

logger = logging.getLogger("tfrobust")
T = TypeVar("T")


class RunStore:
    """The directories, results file and resume logic of one run of one study.

    Args:
        experiment: the study's name (a directory name, e.g. ``"pruning_robustness"``).
        config: its ``StudyConfig``.
        resume_within_entry: continue an interrupted training from its last completed epoch
            (``BackupAndRestore``: at most one epoch lost, but the random-number state and the data order
            are not restored, so the numbers differ from an uninterrupted run). Off by default: an
            interrupted entry is retrained from its own seeded start, so a killed-and-resumed run gives
            exactly the numbers of an uninterrupted one.

    Raises:
        ValueError: ``results.json`` of an earlier run with the same name was made with other settings
            (choose another ``--run_name`` or delete that directory).
    """

    def __init__(self, experiment: str, config: StudyConfig, *, resume_within_entry: bool = False):
        self.experiment = experiment
        self.config = config
        self.resume_within_entry = bool(resume_within_entry)
        self.name = config.run_name or config.preset
        self.results_dir = os.path.join(config.results_root, experiment, self.name)
        self.logdir = os.path.join(config.logdir_root, experiment, self.name)
        self.results_path = os.path.join(self.results_dir, "results.json")
        self.markdown_path = os.path.join(self.results_dir, "results.md")
        self.entries: Dict[str, Any] = {}  # key -> recorded entry, as written to results.json
        self.summary: Dict[str, Any] = {}
        self._typed: Dict[str, Any] = {}
        self._started = time.time()
        self._previous_wall_s = 0.0
        os.makedirs(self.results_dir, exist_ok=True)
        os.makedirs(self.logdir, exist_ok=True)
        if os.path.exists(self.results_path):
            self._resume()

    # ----------------------------------------------------------------------------- resume
    def _comparable_config(self, config: Mapping[str, Any]) -> Dict[str, Any]:
        ignored = set(LOCATION_FIELDS) | set(type(self.config).SWEEP_FIELDS)
        return {k: v for k, v in config.items() if k not in ignored}

    def _resume(self) -> None:
        with open(self.results_path, encoding="utf-8") as f:
            previous = json.load(f)
        mine = self._comparable_config(to_jsonable(self.config))
        theirs = self._comparable_config(previous.get("config", {}))
        changed = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        if changed:
            raise ValueError(
                f"{self.results_path} holds a run made with other settings ({', '.join(changed)} differ: "
                f"{ {k: theirs.get(k) for k in changed} } vs { {k: mine.get(k) for k in changed} }). "
                f"Use another --run_name, or delete {self.results_dir} to start over.")
        self.entries = dict(previous.get("entries", {}))
        self._previous_wall_s = float(previous.get("wall_time_s", 0.0) or 0.0)
        logger.info("Resuming %s: %d finished entries in %s.", self.name, len(self.entries), self.results_path)

    def done(self, key: str) -> bool:
        """True when ``key`` has a recorded result (it is skipped on rerun)."""
        return key in self.entries

    def cached(self, key: str, compute: Callable[[], T], load: Optional[Callable[[Any], T]] = None) -> T:
        """The result of ``key``: computed and recorded (atomically) now, or the one recorded earlier.

        Args:
            key: the entry's name in ``results.json``.
            compute: computes the entry (anything ``tfrobust.io.to_jsonable`` accepts).
            load: turns a recorded (JSON) entry back into the type ``compute`` returns; None returns the
                JSON form in both cases.

        Returns:
            ``compute()`` (or, without ``load``, its JSON form), or ``load(recorded)`` on resume.
        """
        if key in self._typed:
            return self._typed[key]
        if key in self.entries:
            logger.info("%s/%s: %s already done, skipped.", self.experiment, self.name, key)
            value = self.entries[key] if load is None else load(self.entries[key])
        else:
            value = compute()
            self.record(key, value)
            if load is None:
                value = self.entries[key]
        self._typed[key] = value
        return value

    def record(self, key: str, value: Any) -> None:
        """Stores the result of ``key`` and rewrites ``results.json`` atomically."""
        self.entries[key] = to_jsonable(value)
        self._typed.pop(key, None)
        self.save()

    def save(self, **summary: Any) -> Dict[str, Any]:
        """Writes ``results.json`` atomically; keyword arguments are added to its ``summary``.

        Returns:
            The content written (plain JSON types).
        """
        self.summary.update(to_jsonable(summary))
        payload = to_jsonable({
            "experiment": self.experiment,
            "run": self.name,
            "config": self.config,
            "wall_time_s": self.wall_time_s,
            "entries": self.entries,
            "summary": self.summary,
        })
        write_json_atomic(self.results_path, payload)
        return payload

    def finish(self, markdown: str, **summary: Any) -> Dict[str, Any]:
        """Writes ``results.md`` and the final ``results.json`` (with ``summary``); returns the JSON content."""
        self.save(**summary)
        self.write_markdown(markdown)
        return self.save()

    @property
    def wall_time_s(self) -> float:
        """Seconds spent on this run, summed over resumed sessions."""
        return self._previous_wall_s + (time.time() - self._started)

    # ----------------------------------------------------------------------------- paths
    def path(self, name: str) -> str:
        """A file in the results directory (e.g. a figure)."""
        return os.path.join(self.results_dir, name)

    def model_logdir(self, key: str) -> str:
        """TensorBoard directory of one model or evaluation: ``<logdir_root>/<experiment>/<run>/<key>``."""
        return os.path.join(self.logdir, _safe(key))

    def weights_path(self, key: str) -> str:
        return os.path.join(self.results_dir, "models", _safe(key) + ".weights.h5")

    def checkpoint_dir(self, key: str) -> str:
        return os.path.join(self.results_dir, "checkpoints", _safe(key))

    def log_evaluation(self, key: str, *, sweeps: Optional[Mapping[str, Any]] = None,
                       scalars: Optional[Mapping[str, float]] = None) -> None:
        """Logs an entry's ε-sweeps (``tfrobust.tensorboard.log_sweep``) and scalars to TensorBoard.

        Args:
            key: the entry (its logs go to ``model_logdir(key)/evaluation``).
            sweeps: tag -> ``SweepResult``.
            scalars: tag -> number.
        """
        from tfrobust import tensorboard

        logdir = os.path.join(self.model_logdir(key), "evaluation")
        for name, sweep in (sweeps or {}).items():
            tensorboard.log_sweep(logdir, name, sweep)
        if scalars:
            tensorboard.log_scalars(logdir, scalars)

    def write_markdown(self, text: str) -> str:
        """Writes ``results.md`` atomically."""
        return write_text_atomic(self.markdown_path, text if text.endswith("\n") else text + "\n")

    # ----------------------------------------------------------------------------- models
    def trained_model(self, key: str, build: Callable[[], keras.Model],
                      train: Callable[[keras.Model, List[keras.callbacks.Callback]], Optional[keras.Model]]
                      ) -> keras.Model:
        """Returns the trained model ``key``: reloaded when finished earlier, else trained from its seeded start.

        Args:
            key: unique name of the model within the run (e.g. ``"fc5_sparsity0.9"``).
            build: builds the *deployable* model, untrained (same architecture every call).
            train: ``train(model, callbacks)`` compiles and fits (wrapping the model as it needs), passing
                ``callbacks`` to ``fit``; returns the deployable model whose weights are kept (e.g. the
                stripped pruned model), or None to keep ``model``.

        Returns:
            The deployable model with its trained weights.
        """
        path = self.weights_path(key)
        if os.path.exists(path):
            logger.info("%s/%s: model %s already trained, loading %s.", self.experiment, self.name, key, path)
            model = build()
            model.load_weights(path)
            return model
        callbacks = tensorboard_callbacks(self.model_logdir(key))
        if self.resume_within_entry:
            callbacks = resumable_callbacks(self.checkpoint_dir(key)) + callbacks
        else:  # an interrupted entry starts again from its own seeded start
            shutil.rmtree(self.checkpoint_dir(key), ignore_errors=True)
        # Every entry seeds itself, so its numbers depend on (seed, key) alone, not on which earlier entries were
        # trained in this process and which were reloaded from an earlier, killed run.
        keras.utils.set_random_seed(self.entry_seed(key))
        model = build()
        trained = train(model, callbacks) or model
        self.save_weights(trained, key)
        shutil.rmtree(self.checkpoint_dir(key), ignore_errors=True)
        return trained

    def entry_seed(self, key: str) -> int:
        """The seed an entry trains from: a stable hash of the run's ``seed`` and the entry's key."""
        return zlib.crc32(f"{self.config.seed}:{key}".encode("utf-8")) & 0x7FFFFFFF

    def load_weights(self, model, key: str) -> bool:
        """Loads the weights saved under ``key`` into ``model``; False (nothing loaded) when there are none."""
        path = self.weights_path(key)
        if not os.path.exists(path):
            return False
        model.load_weights(path)
        return True

    def save_weights(self, model, key: str) -> str:
        """Saves ``model``'s weights under ``key`` atomically (a killed run never leaves half a file)."""
        path = self.weights_path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path[: -len(".weights.h5")] + ".partial.weights.h5"  # the suffix selects the weights format
        model.save_weights(tmp)
        os.replace(tmp, path)
        return path


def with_sweeps(*keys: str) -> Callable[[Mapping[str, Any]], Dict[str, Any]]:
    """A ``load`` for ``RunStore.cached``: the recorded entry with the sweeps under ``keys`` as ``SweepResult``.

    An entry computed as a dict holding ``SweepResult`` objects is written as JSON; this turns the recorded
    JSON back into the same dict, so a resumed study reads ``entry["fgsm"].accuracy_at(eps)`` either way.
    """
    def load(entry: Mapping[str, Any]) -> Dict[str, Any]:
        return {k: SweepResult.from_dict(v) if k in keys else v for k, v in entry.items()}

    return load


def tensorboard_callbacks(logdir: str) -> List[keras.callbacks.Callback]:
    """Per-epoch TensorBoard logging of the training metrics into ``logdir``."""
    return [keras.callbacks.TensorBoard(logdir, histogram_freq=0, write_graph=False, profile_batch=0)]


def _safe(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.=" else "_" for c in key)
