"""TensorBoard logging of evaluation results with ``tf.summary`` file writers.

Every function takes a log directory (or an open ``tf.summary`` writer), writes and flushes, so a
result is visible in TensorBoard (``tensorboard --logdir tensorboard_logs``) as soon as it is logged.

- ``log_scalars``: a dict of scalars at one step.
- ``log_sweep``: an eps-sweep. TensorBoard steps are integers, so the curves ``<name>/accuracy`` and
  ``<name>/drop`` use step = the index of eps in the sweep's grid (0, 1, 2, ...), and ``<name>/eps``
  logs the eps of each step on the same axis; every point is also a scalar with eps in its tag,
  ``<name>/accuracy/eps=0.1``. The curves' descriptions and the text table ``<name>/table`` spell out
  the step -> eps mapping.
- ``log_image_grid``: clean images over adversarial images over magnified perturbations, as one image.
- ``log_figure``: any matplotlib figure as an image.
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator, Mapping

import numpy as np
import tensorflow as tf

from tfrobust.evaluation.epsilon_sweep import SweepResult
from tfrobust.plotting import figure_to_png, perturbation_image

@contextlib.contextmanager
def _writer(logdir) -> Iterator[tf.summary.SummaryWriter]:
    """Yields a writer for ``logdir`` (a path or an existing writer) as the default, flushing after."""
    if isinstance(logdir, (str, os.PathLike)):
        writer = tf.summary.create_file_writer(os.fspath(logdir))
        owned = True
    elif hasattr(logdir, "as_default") and hasattr(logdir, "flush"):
        writer, owned = logdir, False
    else:
        raise TypeError(f"logdir must be a directory path or a tf.summary writer, got {type(logdir).__name__}.")
    try:
        with writer.as_default():
            yield writer
        writer.flush()
    finally:
        if owned:
            writer.close()


def log_scalars(logdir, scalars: Mapping[str, float], step: int = 0) -> None:
    """Logs each ``{tag: value}`` as a scalar at ``step``.

    Raises:
        TypeError: a value that is not a number.
    """
    values = {}
    for tag, value in scalars.items():
        try:
            values[str(tag)] = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"Scalar {tag!r} must be a number, got {value!r}.") from None
    with _writer(logdir):
        for tag, value in values.items():
            tf.summary.scalar(tag, value, step=int(step))


def log_sweep(logdir, name: str, sweep: SweepResult) -> None:
    """Logs an eps-sweep with a readable eps axis (module docstring).

    Writes ``<name>/accuracy``, ``<name>/drop`` and ``<name>/eps`` at step i (the i-th eps of the
    grid), ``<name>/accuracy/eps=<eps>`` at step 0 for every eps, and the table of the sweep as the
    text summary ``<name>/table``.

    Args:
        logdir: log directory or writer.
        name: tag prefix, e.g. "fgsm/lenet".
        sweep: the ``SweepResult``.

    Raises:
        TypeError: ``sweep`` is not a SweepResult.
    """
    if not isinstance(sweep, SweepResult):
        raise TypeError(f"sweep must be a SweepResult, got {type(sweep).__name__}.")
    epsilons = [float(e) for e in sweep.epsilons]
    mapping = ", ".join(f"{i}: {e:g}" for i, e in enumerate(epsilons))
    axis = f"attack {sweep.attack}; step = index into the eps grid ({mapping})"
    with _writer(logdir):
        for step, (eps, accuracy, drop) in enumerate(zip(epsilons, sweep.accuracy, sweep.drop)):
            tf.summary.scalar(f"{name}/accuracy", accuracy, step=step, description=f"robust accuracy; {axis}")
            tf.summary.scalar(f"{name}/drop", drop, step=step, description=f"clean minus robust accuracy; {axis}")
            tf.summary.scalar(f"{name}/eps", eps, step=step, description=f"the eps of each step; {axis}")
            tf.summary.scalar(f"{name}/accuracy/eps={eps:g}", accuracy, step=0,
                              description=f"robust accuracy under {sweep.attack} at eps={eps:g}")
        header = f"{axis}, n={sweep.n}\n\n"
        tf.summary.text(f"{name}/table", header + sweep.as_table(), step=0)


def image_grid(x, x_adv, max_images: int = 16, bounds=(0.0, 1.0)) -> np.ndarray:
    """One image of rows clean / adversarial / perturbation (magnified), shape (3H, nW, C) in [0, 1].

    Raises:
        ValueError: shape mismatch or not an NHWC batch.
    """
    x, x_adv = np.asarray(x, np.float32), np.asarray(x_adv, np.float32)
    if x.shape != x_adv.shape or x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(f"x and x_adv must be non-empty NHWC batches of one shape, got {x.shape} and {x_adv.shape}.")
    n = min(int(x.shape[0]), int(max_images))
    lo, hi = bounds
    rows = [(x[:n] - lo) / (hi - lo), (x_adv[:n] - lo) / (hi - lo),
            np.stack([perturbation_image(d) for d in x_adv[:n] - x[:n]])]
    return np.clip(np.concatenate([np.concatenate(list(r), axis=1) for r in rows], axis=0), 0.0, 1.0)


def log_image_grid(logdir, tag: str, x, x_adv, step: int = 0, max_images: int = 16,
                   bounds=(0.0, 1.0)) -> None:
    """Logs clean images over adversarial images over magnified perturbations as one image.

    Args:
        logdir: log directory or writer.
        tag: image tag.
        x: clean images (n, H, W, C) in ``bounds``.
        x_adv: adversarial images, same shape.
        step: TensorBoard step.
        max_images: columns at most.
        bounds: pixel range.
    """
    grid = image_grid(x, x_adv, max_images=max_images, bounds=bounds)
    with _writer(logdir):
        tf.summary.image(tag, grid[None], step=int(step), max_outputs=1)


def log_figure(logdir, tag: str, fig, step: int = 0) -> None:
    """Logs a matplotlib figure as an image (rendered to PNG first)."""
    image = tf.image.decode_png(figure_to_png(fig), channels=4)
    with _writer(logdir):
        tf.summary.image(tag, image[None], step=int(step), max_outputs=1)


def log_activations(logdir, model, step: int = 0, tag: str = "kaf_activations", **plot_kwargs) -> None:
    """Logs :func:`tfrobust.plotting.plot_activations` of ``model`` as an image at ``step``.

    Raises:
        ValueError: if the model has no KAF layer.
    """
    from tfrobust.plotting import plot_activations  # noqa: PLC0415

    log_figure(logdir, tag, plot_activations(model, **plot_kwargs), step=step)
