"""General input/output: crash-safe files, JSON conversion and markdown tables.

This module sits at the bottom of tfrobust's layers (beside ``validation``): evaluation, training, the
reports and the studies all write through it, and it imports nothing of tfrobust.

Every tfrobust component that writes a result file goes through ``write_json_atomic``,
``write_text_atomic`` or ``write_bytes_atomic``. Each serialises *before* touching the disk,
writes to a temporary file in the destination directory and then ``os.replace``-s it over the
target. ``os.replace`` is atomic on POSIX and Windows when source and target share a file system,
so a run killed mid-write (or a serialisation error) leaves either the complete old file or the
complete new one, never a half-written file.

The files are created with mode ``0o666`` masked by the process umask (``0644`` under the usual
umask ``022``), as ``open()`` would create them; ``tempfile.mkstemp`` alone would leave them ``0600``.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from typing import Any, Iterable, Mapping, Sequence

import numpy as np


_PLAIN = frozenset((float, int, bool, str, type(None)))


def to_jsonable(obj: Any) -> Any:
    """Converts ``obj`` into plain JSON types (dict, list, str, int, float, bool, None).

    Handles dataclasses, numpy scalars and arrays, TensorFlow eager tensors, tuples and mappings.
    Non-finite floats become ``None`` (JSON has no NaN); the strict ``json.dumps`` below then
    refuses anything else it cannot represent.

    Args:
        obj: the object to convert.

    Returns:
        The converted object.

    Raises:
        TypeError: an object that has no JSON representation.
    """
    kind = type(obj)
    if kind is float:  # the plain types first: results hold long lists of them, walked on every save
        return obj if math.isfinite(obj) else None
    if kind is str or kind is int or kind is bool or obj is None:
        return obj
    if kind is list and all(type(v) in _PLAIN for v in obj) and \
            all(math.isfinite(v) for v in obj if type(v) is float):
        return list(obj)  # already plain JSON (a recorded entry walked again); a copy, as the slow path gives
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return to_jsonable(obj.to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "numpy") and callable(obj.numpy):  # tf.Tensor / tf.Variable
        obj = obj.numpy()
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "biu" or (obj.dtype.kind == "f" and np.isfinite(obj).all()):
            return obj.tolist()  # nested lists of plain bool / int / float: nothing left to convert
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if obj is None or isinstance(obj, str):
        return obj
    raise TypeError(f"Cannot write an object of type {type(obj).__name__} as JSON: {obj!r}.")


def _current_umask() -> int:
    """Returns the process umask (reading it requires setting it; it is restored at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> str:
    """Writes ``data`` to ``path`` through a temporary file and ``os.replace``.

    Args:
        path: destination file; missing parent directories are created.
        data: the bytes to write.

    Returns:
        The path written, as a string.

    Raises:
        TypeError: ``data`` is not bytes.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}.")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        # mkstemp creates 0600; give the file the mode open() would (0666 less the umask).
        os.chmod(tmp_path, 0o666 & ~_current_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
        raise
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> str:
    """Writes ``text`` (UTF-8) to ``path`` atomically; see ``write_bytes_atomic``.

    Raises:
        TypeError: ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}.")
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int = 2) -> str:
    """Serialises ``obj`` to JSON, then writes it to ``path`` atomically.

    Serialisation happens in memory first, so an object that cannot be written leaves an
    existing file at ``path`` untouched.

    Args:
        path: destination file.
        obj: anything ``to_jsonable`` accepts.
        indent: JSON indentation.

    Returns:
        The path written, as a string.

    Raises:
        TypeError: ``obj`` holds something without a JSON representation.
    """
    text = json.dumps(to_jsonable(obj), indent=indent, allow_nan=False, sort_keys=False)
    return write_text_atomic(path, text + "\n")


def _format_cell(value: Any, float_format: str) -> str:
    if isinstance(value, (float, np.floating)):
        return "nan" if not math.isfinite(float(value)) else format(float(value), float_format)
    text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Iterable[Mapping[str, Any] | Sequence[Any]], columns: Sequence[str],
                   float_format: str = ".4f") -> str:
    """Formats rows as a GitHub markdown table.

    Args:
        rows: mappings (looked up by column name; a missing key gives an empty cell) or sequences
            (one value per column, in order).
        columns: the column headers.
        float_format: format spec for float cells.

    Returns:
        The table as a string, one line per row, ending without a newline.

    Raises:
        ValueError: no columns, or a sequence row whose length differs from the columns'.
    """
    columns = [str(c) for c in columns]
    if not columns:
        raise ValueError("markdown_table needs at least one column.")
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for i, row in enumerate(rows):
        if isinstance(row, Mapping):
            cells = [_format_cell(row[c], float_format) if c in row else "" for c in columns]
        else:
            row = list(row)
            if len(row) != len(columns):
                raise ValueError(f"Row {i} has {len(row)} values but there are {len(columns)} columns.")
            cells = [_format_cell(v, float_format) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
