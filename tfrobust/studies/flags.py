"""Command-line flags generated from a settings dataclass, and the ``__main__`` of every script.

A script describes its settings as a frozen dataclass (a ``StudyConfig`` subclass for the seed studies, any
dataclass for the quickstart and ``evaluate_model``) and, for studies, its presets. ``define_flags`` turns each
field into one absl flag whose default is "keep the preset's (or the dataclass's) value"; ``config_from_flags``
builds the final config from the flags that were given; ``make_config`` does the same in process (tests).

Each setting is documented once: the help text of a flag is the field's entry in the ``Attributes:`` section of
the docstring of the dataclass that declares it (searched along the MRO, so a setting shared by several
studies, such as ``eps``, is described in one mixin only).

Validation lives in one place: the dataclass's ``__post_init__`` (``StudyConfig.validate`` for studies). A bad
value raises ``ValueError`` there, and ``run_script`` reports it as a one-line usage error, not a traceback.
"""
from __future__ import annotations

import dataclasses
import inspect
import logging
import re
import sys
import typing
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

def _unwrap_optional(tp):
    args = typing.get_args(tp)
    if typing.get_origin(tp) is typing.Union and type(None) in args:
        return [a for a in args if a is not type(None)][0]
    return tp


def _flag_kind(tp) -> Tuple[str, Optional[type]]:
    """Maps a field type to ("integer"|"float"|"string"|"boolean"|"list", element type)."""
    tp = _unwrap_optional(tp)
    if typing.get_origin(tp) in (tuple, list, Sequence, typing.Sequence):
        element = typing.get_args(tp)[0] if typing.get_args(tp) else str
        return "list", _unwrap_optional(element)
    return {int: ("integer", None), float: ("float", None), str: ("string", None),
            bool: ("boolean", None)}.get(tp, ("string", None))


def _convert_list(values: Sequence[str], element: type, name: str) -> tuple:
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


_ATTRIBUTE = re.compile(r"^(\s*)([A-Za-z_][\w, ]*):\s(.*)$")


def _attribute_docs(cls: type) -> Dict[str, str]:
    """Field name -> its description in the ``Attributes:`` section of ``cls``'s own docstring.

    An entry may name several fields (``pgd_steps, pgd_restarts: ...``) and continue on more-indented lines.
    """
    doc = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
    docs: Dict[str, str] = {}
    inside, names, indent = False, [], None
    for line in doc.splitlines():
        if line.strip() == "Attributes:":
            inside, names, indent = True, [], None
            continue
        if not inside:
            continue
        if not line.strip():
            continue
        current = len(line) - len(line.lstrip())
        if current == 0:  # the section ended
            inside = False
            continue
        match = _ATTRIBUTE.match(line)
        if match and (indent is None or current <= indent):
            indent = current
            names = [n.strip() for n in match.group(2).split(",") if n.strip()]
            for name in names:
                docs[name] = match.group(3).strip()
        elif names:
            for name in names:
                docs[name] += " " + line.strip()
    return docs


def help_texts(config_cls: type) -> Dict[str, str]:
    """Field name -> help text, from the docstrings along ``config_cls``'s MRO (the declaring class wins)."""
    texts: Dict[str, str] = {}
    for klass in reversed(config_cls.__mro__):
        texts.update(_attribute_docs(klass))
    return texts


def _flag_values(flag_values):
    from absl import flags

    return flags.FLAGS if flag_values is None else flag_values


def define_flags(config_cls: type, presets: Optional[Mapping[str, Any]] = None, flag_values=None) -> None:
    """Defines one absl flag per field of ``config_cls``; a flag left unset keeps the preset's value.

    With ``presets`` the field ``preset`` becomes an enum flag of their names. Flags already defined (e.g. by
    another script imported in the same process) are left alone.

    Args:
        config_cls: a dataclass.
        presets: the script's presets by name, or None (the dataclass defaults are the only preset).
        flag_values: the absl ``FlagValues`` to define them in (default ``absl.flags.FLAGS``).

    Raises:
        ValueError: a field has no description in any docstring of ``config_cls``'s MRO.
    """
    from absl import flags

    fv = _flag_values(flag_values)
    hints = typing.get_type_hints(config_cls)
    texts = help_texts(config_cls)
    owner = sys.argv[0] if sys.argv and sys.argv[0] else None  # --help lists the main script's own flags
    for field in dataclasses.fields(config_cls):
        name = field.name
        if name in fv:
            continue
        if name not in texts:
            raise ValueError(f"Setting {name!r} of {config_cls.__name__} has no entry in an 'Attributes:' docstring.")
        text = texts[name]
        if name == "preset" and presets is not None:
            flags.DEFINE_enum("preset", next(iter(presets)), list(presets), text, flag_values=fv, module_name=owner)
            continue
        if presets is None and field.default is not dataclasses.MISSING:
            text += f" (default: {_show(field.default)})"
        elif presets is not None:
            text += " (" + _preset_values(presets, name) + ")"
        kind, _ = _flag_kind(hints[name])
        definer = {"integer": flags.DEFINE_integer, "float": flags.DEFINE_float, "string": flags.DEFINE_string,
                   "boolean": flags.DEFINE_boolean, "list": flags.DEFINE_list}[kind]
        definer(name, None, text, flag_values=fv, module_name=owner)


def _preset_values(presets: Mapping[str, Any], name: str) -> str:
    """``"quick: 6; paper: 30"``, or ``"every preset: 0"`` when the presets agree: what --help shows."""
    shown = {preset: _show(getattr(config, name)) for preset, config in presets.items()}
    if len(set(shown.values())) == 1:
        return f"every preset: {next(iter(shown.values()))}"
    return "; ".join(f"{preset}: {value}" for preset, value in shown.items())


def _show(value) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def config_from_flags(config_cls: type, presets: Optional[Mapping[str, Any]] = None, flag_values=None):
    """Returns the preset chosen by ``--preset`` (or the dataclass defaults) with every set flag applied.

    Raises:
        ValueError: an unknown preset, a list flag with a malformed value, or a value the config refuses.
    """
    fv = _flag_values(flag_values)
    overrides: Dict[str, Any] = {}
    hints = typing.get_type_hints(config_cls)
    for field in dataclasses.fields(config_cls):
        if (field.name == "preset" and presets is not None) or field.name not in fv:
            continue
        value = fv[field.name].value
        if value is None:
            continue
        kind, element = _flag_kind(hints[field.name])
        overrides[field.name] = _convert_list(value, element, field.name) if kind == "list" else value
    if presets is None:
        return _check_specs(config_cls(**overrides))  # every field has a default; validation refuses what is missing
    return make_config(presets, fv["preset"].value, **overrides)


def make_config(presets: Mapping[str, Any], preset: str, **overrides):
    """Returns ``presets[preset]`` with ``overrides`` applied (the in-process equivalent of flags).

    Raises:
        ValueError: unknown preset, unknown setting name, or a value the config's validation refuses.
    """
    if preset not in presets:
        raise ValueError(f"Unknown preset {preset!r}; choose one of {', '.join(presets)}.")
    base = presets[preset]
    names = {f.name for f in dataclasses.fields(base)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"Unknown setting(s) {unknown} for {type(base).__name__}; known: {sorted(names)}.")
    if "preset" in names:
        overrides["preset"] = preset
    return _check_specs(dataclasses.replace(base, **overrides))


def _check_specs(config):
    """Runs the config's attack-spec checks (``Settings.check_specs``; they import TensorFlow), if it has any."""
    check = getattr(config, "check_specs", None)
    return check() if check is not None else config


def setup_logging() -> None:
    """Shows tfrobust's INFO messages (resume and skip notices) on stderr."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")


def run_script(main: Callable[[Any], Any], config_cls: type, presets: Optional[Mapping[str, Any]] = None) -> None:
    """The ``__main__`` of a script: defines its flags, parses them and calls ``main(config)``.

    A malformed flag (``--eps abc``, an unknown flag) or a ``ValueError`` raised while building the config (a bad
    value, e.g. ``--temperatures=1,-5``) ends the script before anything runs with ONE line on stderr,
    ``<script>: error: <the flag, the value and what is accepted>``, and exit status 1: no traceback, no flag help.
    ``--help`` lists the flags with every preset's values and exits with status 0.
    A study's ``main`` returns the content of its ``results.json``; its
    run name and wall time are printed.

    Args:
        main: ``main(config)``; the study's ``run``.
        config_cls: its settings dataclass.
        presets: its presets by name (None for a script without presets).
    """
    from absl import app, flags

    define_flags(config_cls, presets)
    script = sys.argv[0].rsplit("/", 1)[-1] if sys.argv and sys.argv[0] else "script"

    def usage_error(message: str) -> None:
        """One line on stderr, exit status 1 (no traceback, no flag listing before the reason)."""
        print(f"{script}: error: {message} (--help lists the flags)", file=sys.stderr)
        sys.exit(1)

    help_asked = any(a in ("--help", "-h", "--helpfull", "--helpshort", "-?") for a in sys.argv[1:])
    if not help_asked:
        try:  # flag syntax and types (--eps abc, an unknown flag) before absl's own parse prints its help
            flags.FLAGS(list(sys.argv), known_only=False)
        except flags.Error as err:
            usage_error(str(err))
        try:  # every value, before anything trains or any results folder is made
            config_from_flags(config_cls, presets)
        except (TypeError, ValueError) as err:
            usage_error(str(err))
        flags.FLAGS.unparse_flags()

    def absl_main(argv):
        if len(argv) > 1:
            usage_error(f"unexpected arguments {argv[1:]}; settings are given as --flags.")
        try:
            config = config_from_flags(config_cls, presets)
        except (TypeError, ValueError) as err:
            usage_error(str(err))
        setup_logging()
        result = main(config)
        if isinstance(result, Mapping) and "experiment" in result:
            print(f"{result['experiment']}/{result['run']} done in {result['wall_time_s']:.0f} s.")

    try:
        app.run(absl_main)
    except SystemExit as exit_:
        if help_asked and exit_.code == 1:  # absl ends --help with status 1; a tool's --help succeeds
            sys.exit(0)
        raise
