"""Resuming killed training runs (epoch-level checkpoints).

``resumable_callbacks(run_dir)`` returns Keras' ``BackupAndRestore`` callback backing up the model,
its optimizer and the epoch counter at the end of every epoch under ``run_dir/backup``. When a run is
killed, re-running the same script (a fresh model and the same ``run_dir``) restores the last
backup at the start of ``fit`` and continues from the next epoch, so at most one epoch is lost.
The backup is deleted when ``fit`` finishes normally. It works with the tfrobust training wrappers
(the wrapper tracks the inner model and the optimizer).

The backup lives in a ``backup`` subdirectory because ``BackupAndRestore`` deletes its whole
directory when training finishes. Result files are written atomically by
``tfrobust.io.write_json_atomic``.
"""
from __future__ import annotations

import os
from typing import List

import tf_keras as keras


def resumable_callbacks(run_dir: str, *, delete_on_finish: bool = True) -> List[keras.callbacks.Callback]:
    """Callbacks that make ``fit`` resumable from ``run_dir`` after a kill (epoch granularity).

    Put them first in the callback list, so the weights are restored before other callbacks
    (e.g. ``CatastrophicOverfittingGuard``) look at them.

    Args:
        run_dir: directory of the run; the backup lives in ``run_dir/backup``.
        delete_on_finish: delete the backup when ``fit`` completes (a later ``fit`` then starts
            from epoch 0); set False to keep it, e.g. for several ``fit`` calls in one run.

    Returns:
        ``[keras.callbacks.BackupAndRestore(run_dir/backup)]``.

    Raises:
        ValueError: empty ``run_dir``.
    """
    if not run_dir:
        raise ValueError("run_dir must be a non-empty directory path.")
    backup_dir = os.path.join(os.fspath(run_dir), "backup")
    os.makedirs(backup_dir, exist_ok=True)
    return [keras.callbacks.BackupAndRestore(backup_dir, save_freq="epoch", delete_checkpoint=delete_on_finish)]
