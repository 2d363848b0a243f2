"""Global settings of tfrobust: XLA compilation.

XLA (``jit_compile=True``) speeds attacks and training steps up on GPUs but was measured
2.5-5.5x *slower* than a plain ``tf.function`` on a 2-core CPU, so the default is ``"auto"``:
on when TensorFlow sees a GPU, off otherwise.
"""
from __future__ import annotations

import contextlib
import functools
from typing import Callable, Union

import tensorflow as tf

XlaSetting = Union[bool, str]
_xla_setting: XlaSetting = "auto"


def _check(setting: XlaSetting) -> XlaSetting:
    """Normalises True/False/"auto" (also "on"/"off"/"true"/"false" from command lines)."""
    if isinstance(setting, str):
        words = {"auto": "auto", "true": True, "on": True, "1": True, "false": False, "off": False, "0": False}
        if setting.lower() in words:
            return words[setting.lower()]
    elif isinstance(setting, bool):
        return setting
    raise ValueError(f"XLA setting must be True, False or 'auto', got {setting!r}.")


def set_xla(setting: XlaSetting) -> None:
    """Sets the XLA policy: ``True``, ``False`` or ``"auto"`` (on when a GPU is visible)."""
    global _xla_setting
    _xla_setting = _check(setting)


def get_xla() -> XlaSetting:
    """Returns the XLA setting as given (``True``, ``False`` or ``"auto"``)."""
    return _xla_setting


@functools.lru_cache(maxsize=None)
def _gpu_present() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


def use_xla(setting: XlaSetting | None = None) -> bool:
    """Resolves an XLA setting (the global one when ``None``) to a boolean."""
    setting = _xla_setting if setting is None else _check(setting)
    if setting == "auto":
        return _gpu_present()
    return bool(setting)


@contextlib.contextmanager
def xla(setting: XlaSetting):
    """Context manager that sets XLA temporarily: ``with tfrobust.config.xla(False): ...``."""
    previous = _xla_setting
    set_xla(setting)
    try:
        yield
    finally:
        set_xla(previous)


def compile_function(fn: Callable, xla_setting: XlaSetting | None = None) -> Callable:
    """Wraps ``fn`` in ``tf.function`` with ``jit_compile`` chosen by the XLA setting."""
    return tf.function(fn, jit_compile=use_xla(xla_setting), reduce_retracing=True)
