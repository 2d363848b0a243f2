"""Plumbing shared by the experiment scripts: presets, flags, run directories, resume.

An experiment script (``experiments/*.py``) describes its settings as a dataclass deriving from
``ExperimentConfig`` and gives two presets, ``quick`` (offline data, minutes on a laptop CPU) and
``paper`` (the seed's own settings). ``define_flags`` turns the dataclass into absl flags whose
defaults are "take the preset's value", and ``config_from_flags`` builds the final config.

``ExperimentRun`` owns the run's places on disk:

* ``results/<experiment>/<run>/``: ``results.json`` and ``results.md`` (written atomically through
  ``tfrobust.evaluation.results``), the PNG figures, ``models/<key>.weights.h5`` (each finished
  model) and ``checkpoints/<key>/`` (Keras ``BackupAndRestore`` state of the model being trained);
* ``tensorboard_logs/<experiment>/<run>/<key>/``: TensorBoard logs of each training and sweep.

Resume: a killed run started again with the same flags skips every entry already in
``results.json``, reloads every finished model from its weights file instead of training it, and
continues the interrupted training from its last completed epoch (so at most one epoch is lost).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import sys
import time
import typing
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import tf_keras as keras

from tfrobust.evaluation.results import to_jsonable, write_json_atomic, write_text_atomic
from tfrobust.training.checkpoints import resumable_callbacks

logger = logging.getLogger("tfrobust")

#: Config fields that only say where to write; changing them never invalidates earlier results.
LOCATION_FIELDS = ("preset", "run_name", "logdir_root", "results_root")


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """Settings every experiment has. Scripts derive their own dataclass from this one.

    Attributes:
        preset: name of the preset the config started from ("quick" or "paper").
        dataset: a ``tfrobust.data`` dataset name ("mnist5k", "fashion_mnist", "cifar10", "imagenette").
        train_size: number of training examples (None = the whole split).
        eval_size: number of test examples attacked.
        epochs: training epochs per model.
        batch_size: training batch size.
        learning_rate: peak learning rate of the optimiser.
        seed: random seed (weights, shuffling, attacks' random starts).
        max_steps: when set, every training stops after this many steps per epoch (smoke runs).
        run_name: name of the run directory (default: the preset's name).
        logdir_root: root of TensorBoard logs.
        results_root: root of results.
    """

    preset: str = "quick"
    dataset: str = "mnist5k"
    train_size: Optional[int] = None
    eval_size: int = 500
    epochs: int = 3
    batch_size: int = 128
    learning_rate: float = 1e-3
    seed: int = 0
    max_steps: Optional[int] = None
    run_name: Optional[str] = None
    logdir_root: str = "tensorboard_logs"
    results_root: str = "results"

    #: Fields listing the settings of a sweep: adding a value to them keeps earlier results valid.
    SWEEP_FIELDS: typing.ClassVar[Tuple[str, ...]] = ()
    #: Help text of the fields a subclass adds, shown by ``--help``.
    HELP: typing.ClassVar[Dict[str, str]] = {}


_BASE_HELP = {
    "preset": "Preset to start from; every other flag overrides one of its settings.",
    "dataset": "Dataset name (mnist5k, fashion_mnist, cifar10, imagenette).",
    "train_size": "Number of training examples (default: the preset's).",
    "eval_size": "Number of test examples evaluated and attacked.",
    "epochs": "Training epochs per model.",
    "batch_size": "Training batch size.",
    "learning_rate": "Peak learning rate.",
    "seed": "Random seed.",
    "max_steps": "Stop each training epoch after this many steps (smoke runs).",
    "run_name": "Run directory name under results/<experiment>/ (default: the preset name).",
    "logdir_root": "Root directory of TensorBoard logs.",
    "results_root": "Root directory of results.",
}


def _unwrap_optional(tp):
    args = typing.get_args(tp)
    if typing.get_origin(tp) is typing.Union and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0]
    return tp


def _flag_kind(tp) -> Tuple[str, Optional[type]]:
    """Maps a field type to ("integer"|"float"|"string"|"boolean"|"list", element type)."""
    tp = _unwrap_optional(tp)
    origin = typing.get_origin(tp)
    if origin in (tuple, list, Sequence, typing.Sequence):
        element = typing.get_args(tp)[0] if typing.get_args(tp) else str
        return "list", _unwrap_optional(element)
    return {int: ("integer", None), float: ("float", None), str: ("string", None),
            bool: ("boolean", None)}.get(tp, ("string", None))


def _convert_list(values: Sequence[str], element: type, name: str):
    out = []
    for v in values:
        v = v.strip()
        if element in (int, float):
            if v.lower() in ("none", "free"):
                out.append(None)
                continue
            try:
                out.append(element(float(v)) if element is int else element(v))
            except ValueError:
                raise ValueError(f"--{name} takes comma-separated numbers, got {v!r}.") from None
        else:
            out.append(v)
    return tuple(out)


def define_flags(config_cls: type, presets: Mapping[str, ExperimentConfig], flag_values=None) -> None:
    """Defines one absl flag per field of ``config_cls`` (default None = keep the preset's value).

    Flags already defined (e.g. by another script imported in the same process) are left alone.

    Args:
        config_cls: an ``ExperimentConfig`` dataclass.
        presets: the script's presets, by name (their names are the values of ``--preset``).
        flag_values: the absl ``FlagValues`` to define them in (default ``absl.flags.FLAGS``).
    """
    from absl import flags

    fv = flags.FLAGS if flag_values is None else flag_values
    hints = typing.get_type_hints(config_cls)
    help_texts = {**_BASE_HELP, **config_cls.HELP}
    owner = sys.argv[0] if sys.argv and sys.argv[0] else None  # --help lists the main script's own flags
    for field in dataclasses.fields(config_cls):
        name = field.name
        if name in fv:
            continue
        text = help_texts.get(name, name.replace("_", " "))
        if name == "preset":
            flags.DEFINE_enum("preset", "quick", list(presets), text, flag_values=fv, module_name=owner)
            continue
        kind, _ = _flag_kind(hints[name])
        definer = {"integer": flags.DEFINE_integer, "float": flags.DEFINE_float, "string": flags.DEFINE_string,
                   "boolean": flags.DEFINE_boolean, "list": flags.DEFINE_list}[kind]
        definer(name, None, text, flag_values=fv, module_name=owner)


def config_from_flags(config_cls: type, presets: Mapping[str, ExperimentConfig], flag_values=None):
    """Returns the preset chosen by ``--preset`` with every flag that was set applied on top.

    Raises:
        ValueError: an unknown preset or a list flag with a malformed value.
    """
    from absl import flags

    fv = flags.FLAGS if flag_values is None else flag_values
    overrides: Dict[str, Any] = {}
    hints = typing.get_type_hints(config_cls)
    for field in dataclasses.fields(config_cls):
        if field.name == "preset" or field.name not in fv:
            continue
        value = fv[field.name].value
        if value is None:
            continue
        kind, element = _flag_kind(hints[field.name])
        overrides[field.name] = _convert_list(value, element, field.name) if kind == "list" else value
    return make_config(presets, fv["preset"].value, **overrides)


def make_config(presets: Mapping[str, ExperimentConfig], preset: str, **overrides):
    """Returns ``presets[preset]`` with ``overrides`` applied (the in-process equivalent of flags).

    Raises:
        ValueError: unknown preset or unknown setting name.
    """
    if preset not in presets:
        raise ValueError(f"Unknown preset {preset!r}; choose one of {', '.join(presets)}.")
    base = presets[preset]
    names = {f.name for f in dataclasses.fields(base)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"Unknown setting(s) {unknown} for {type(base).__name__}; known: {sorted(names)}.")
    return dataclasses.replace(base, preset=preset, **overrides)


class ExperimentRun:
    """The directories, results file and resume logic of one run of one experiment.

    Args:
        experiment: the experiment's name (a directory name, e.g. ``"pruning_robustness"``).
        config: its ``ExperimentConfig``.

    Raises:
        ValueError: ``results.json`` of an earlier run with the same name was made with other
            settings (choose another ``--run_name`` or delete that directory).
    """

    def __init__(self, experiment: str, config: ExperimentConfig):
        self.experiment = experiment
        self.config = config
        self.name = config.run_name or config.preset
        self.results_dir = os.path.join(config.results_root, experiment, self.name)
        self.logdir = os.path.join(config.logdir_root, experiment, self.name)
        self.results_path = os.path.join(self.results_dir, "results.json")
        self.markdown_path = os.path.join(self.results_dir, "results.md")
        self.entries: Dict[str, Any] = {}
        self.summary: Dict[str, Any] = {}
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

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        """Returns the recorded result of ``key``, or computes, records (atomically) and returns it."""
        if key in self.entries:
            logger.info("%s/%s: %s already done, skipped.", self.experiment, self.name, key)
            return self.entries[key]
        value = to_jsonable(compute())
        self.record(key, value)
        return value

    def record(self, key: str, value: Any) -> None:
        """Stores the result of ``key`` and rewrites ``results.json`` atomically."""
        self.entries[key] = to_jsonable(value)
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
        """TensorBoard directory of one model or sweep: ``<logdir_root>/<experiment>/<run>/<key>``."""
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

    # ----------------------------------------------------------------------------- training
    def trained_model(self, key: str, build: Callable[[], keras.Model],
                      train: Callable[[keras.Model, List[keras.callbacks.Callback]], Optional[keras.Model]]
                      ) -> keras.Model:
        """Returns the trained model ``key``: reloaded when finished earlier, else trained (resuming).

        Args:
            key: unique name of the model within the run (e.g. ``"fc5_sparsity0.9"``).
            build: builds the *deployable* model, untrained (same architecture every call).
            train: ``train(model, callbacks)`` compiles and fits (wrapping the model as it needs),
                passing ``callbacks`` to ``fit``; returns the deployable model whose weights are kept
                (e.g. the stripped pruned model), or None to keep ``model``.

        Returns:
            The deployable model with its trained weights.
        """
        path = self.weights_path(key)
        if os.path.exists(path):
            logger.info("%s/%s: model %s already trained, loading %s.", self.experiment, self.name, key, path)
            model = build()
            model.load_weights(path)
            return model
        model = build()
        callbacks = resumable_callbacks(self.checkpoint_dir(key)) + tensorboard_callbacks(self.model_logdir(key))
        trained = train(model, callbacks) or model
        _save_weights_atomic(trained, path)
        shutil.rmtree(self.checkpoint_dir(key), ignore_errors=True)
        return trained


def tensorboard_callbacks(logdir: str) -> List[keras.callbacks.Callback]:
    """Per-epoch TensorBoard logging of the training metrics into ``logdir``."""
    return [keras.callbacks.TensorBoard(logdir, histogram_freq=0, write_graph=False, profile_batch=0)]


def _save_weights_atomic(model: keras.Model, path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path[: -len(".weights.h5")] + ".partial.weights.h5"
    model.save_weights(tmp)
    os.replace(tmp, path)


def _safe(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.=" else "_" for c in key)


# --------------------------------------------------------------------------------------------- data
@dataclasses.dataclass
class ExperimentData:
    """Training pipeline and attacked evaluation set of an experiment.

    Attributes:
        name: dataset name.
        input_shape: image shape (H, W, C).
        num_classes: number of classes.
        x_eval: float32 images in [0, 1] attacked by the experiment (``eval_size`` of the test split).
        y_eval: int labels of ``x_eval``.
        train_size: number of training examples used (None = the whole split).
        batch_size: training batch size.
        seed: shuffling seed.
        max_steps: cap on the batches of one epoch (smoke runs), or None.
    """

    name: str
    input_shape: Tuple[int, int, int]
    num_classes: int
    x_eval: np.ndarray
    y_eval: np.ndarray
    train_size: Optional[int]
    batch_size: int
    seed: int
    max_steps: Optional[int]

    def train_dataset(self, *, augment: bool = False, batch_size: Optional[int] = None):
        """The shuffled, batched training ``tf.data.Dataset`` (capped at ``max_steps`` batches)."""
        from tfrobust import data as tfr_data

        ds = tfr_data.load(self.name, "train", batch_size or self.batch_size, shuffle=True, seed=self.seed,
                           augment=augment, take=self.train_size)
        if self.max_steps is not None:
            ds = ds.take(self.max_steps)
        return ds


def load_data(config: ExperimentConfig) -> ExperimentData:
    """Loads the dataset of ``config``: a training pipeline and ``eval_size`` test examples.

    Raises:
        ValueError: unknown dataset (raised by ``tfrobust.data``).
    """
    from tfrobust import data as tfr_data

    info = tfr_data.info(config.dataset)
    x_eval, y_eval = tfr_data.load_numpy(config.dataset, "test", take=config.eval_size)
    return ExperimentData(
        name=config.dataset, input_shape=tuple(info.input_shape), num_classes=int(info.num_classes),
        x_eval=np.asarray(x_eval, np.float32), y_eval=np.asarray(y_eval).astype(np.int64),
        train_size=config.train_size, batch_size=config.batch_size, seed=config.seed,
        max_steps=config.max_steps)


def compile_classifier(model: keras.Model, optimizer) -> keras.Model:
    """Compiles a plain logits model with sparse cross entropy and accuracy (the standard baseline)."""
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    return model


def fit(model: keras.Model, data: ExperimentData, config: ExperimentConfig,
        callbacks: Sequence[keras.callbacks.Callback], *, augment: bool = False, epochs: Optional[int] = None):
    """Fits a compiled model (plain or a ``tfrobust.training`` wrapper) on the experiment's training set.

    Args:
        model: the compiled model.
        data: the experiment's data.
        config: supplies ``epochs``.
        callbacks: Keras callbacks (those of ``ExperimentRun.trained_model`` plus any others).
        augment: use the dataset's augmentation (random crop and flip for CIFAR-10 style data).
        epochs: overrides ``config.epochs``.

    Returns:
        The Keras ``History``.
    """
    dataset = data.train_dataset(augment=augment)
    if not model.built:  # BackupAndRestore can only restore into a built model and optimizer
        model(next(iter(dataset))[0][:1])
    return model.fit(dataset, epochs=config.epochs if epochs is None else epochs, callbacks=list(callbacks),
                     verbose=2)


def steps_per_epoch(data: ExperimentData, config: ExperimentConfig, num_train: Optional[int] = None) -> int:
    """Number of optimiser steps in one epoch (for schedules that need the total step count).

    Args:
        data: the experiment's data.
        config: supplies ``batch_size`` and ``max_steps``.
        num_train: size of the full training split, used when ``train_size`` is None.
    """
    from tfrobust import data as tfr_data

    n = data.train_size if data.train_size is not None else (num_train or tfr_data.info(data.name).splits["train"])
    steps = -(-int(n) // int(config.batch_size))
    return min(steps, config.max_steps) if config.max_steps is not None else steps


def setup_logging() -> None:
    """Shows tfrobust's INFO messages (resume and skip notices) on stderr."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")


def start(experiment: str, config: ExperimentConfig) -> Tuple[ExperimentRun, ExperimentData]:
    """Seeds Keras/TF/numpy, opens (or resumes) the run directory and loads the data of ``config``."""
    keras.utils.set_random_seed(config.seed)
    run = ExperimentRun(experiment, config)
    return run, load_data(config)


def run_script(run: Callable[[Any], Dict[str, Any]], config_cls: type, presets: Mapping[str, ExperimentConfig]):
    """The ``__main__`` of an experiment script: defines its flags, parses them and calls ``run(config)``.

    Args:
        run: the script's ``run(config) -> results`` function.
        config_cls: its ``ExperimentConfig`` dataclass.
        presets: its presets by name.
    """
    from absl import app

    define_flags(config_cls, presets)

    def main(argv):
        if len(argv) > 1:
            raise app.UsageError(f"Unexpected arguments {argv[1:]}; settings are given as --flags.")
        setup_logging()
        result = run(config_from_flags(config_cls, presets))
        print(f"{result['experiment']}/{result['run']} done in {result['wall_time_s']:.0f} s.")

    app.run(main)

