"""Crash-safe result files, JSON conversion and markdown tables."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tfrobust.io import markdown_table, to_jsonable, write_bytes_atomic, write_json_atomic, write_text_atomic


def test_write_json_atomic_roundtrip_and_no_temp_files(tmp_path):
    path = tmp_path / "sub" / "r.json"
    obj = {"acc": np.float32(0.5), "n": np.int64(3), "x": np.array([1, 2]), "t": tf.constant([0.25]),
           "nan": float("nan"), "ok": np.bool_(True), "tup": (1, "a")}
    write_json_atomic(path, obj)
    assert json.loads(path.read_text()) == {"acc": 0.5, "n": 3, "x": [1, 2], "t": [0.25], "nan": None,
                                            "ok": True, "tup": [1, "a"]}
    assert os.listdir(path.parent) == ["r.json"]


def test_failed_serialisation_leaves_old_file_intact(tmp_path):
    path = tmp_path / "r.json"
    write_json_atomic(path, {"version": 1})
    with pytest.raises(TypeError, match="object"):
        write_json_atomic(path, {"version": 2, "bad": object()})
    assert json.loads(path.read_text()) == {"version": 1}
    assert os.listdir(tmp_path) == ["r.json"]


def test_interrupted_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "t.txt"
    write_text_atomic(path, "old")

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        write_text_atomic(path, "new")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["t.txt"]


def test_write_rejects_wrong_types(tmp_path):
    with pytest.raises(TypeError, match="str"):
        write_text_atomic(tmp_path / "a", b"bytes")
    with pytest.raises(TypeError, match="bytes"):
        write_bytes_atomic(tmp_path / "a", "text")


def test_markdown_table_rows_and_formatting():
    table = markdown_table([{"eps": 0.1, "acc": 0.12345, "name": "a|b"}, [0.3, 0.5, "c"]], ["eps", "acc", "name"],
                           float_format=".2f")
    assert table.splitlines() == ["| eps | acc | name |", "|---|---|---|", "| 0.10 | 0.12 | a\\|b |",
                                  "| 0.30 | 0.50 | c |"]
    with pytest.raises(ValueError, match="2 values"):
        markdown_table([[1, 2]], ["a", "b", "c"])


def test_to_jsonable_dataclass():
    from dataclasses import dataclass

    @dataclass
    class D:
        a: np.ndarray

    assert to_jsonable(D(np.array([[True, False]]))) == {"a": [[True, False]]}


def test_to_jsonable_turns_every_non_finite_float_into_null_on_its_fast_and_slow_paths():
    # Finite numeric arrays and already-plain lists take a fast path; a NaN or inf anywhere must still become None,
    # in an array, in a plain list walked again (a recorded entry), and in a numpy scalar.
    values = np.array([[0.5, np.nan], [np.inf, -2.0]], np.float32)
    assert to_jsonable(values) == [[0.5, None], [None, -2.0]]
    assert to_jsonable([1.0, float("-inf"), 3, "x", None, True]) == [1.0, None, 3, "x", None, True]
    assert to_jsonable({"a": np.arange(3, dtype=np.int64), "b": np.float64("nan")}) == {"a": [0, 1, 2], "b": None}
    plain = to_jsonable(np.linspace(0, 1, 5))
    assert to_jsonable(plain) == plain and all(type(v) is float for v in plain)
    with pytest.raises(TypeError, match="object"):
        to_jsonable([1.0, object()])


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_files_get_the_umask_mode_not_0600(tmp_path, umask):
    # mkstemp alone leaves 0600: results and figures must be readable as any tool's output (issue 10).
    old = os.umask(umask)
    try:
        json_path = write_json_atomic(tmp_path / "r.json", {"a": 1})
        text_path = write_text_atomic(tmp_path / "r.md", "x")
        reference = tmp_path / "plain.txt"
        with open(reference, "w") as f:
            f.write("x")
    finally:
        os.umask(old)
    expected = 0o666 & ~umask
    for path in (json_path, text_path, reference):
        assert os.stat(path).st_mode & 0o777 == expected, oct(os.stat(path).st_mode)
