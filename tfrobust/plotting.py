"""Matplotlib figures for experiments and reports.

Figures are built with ``matplotlib.figure.Figure`` and the Agg canvas directly, never through
``pyplot``: nothing is displayed, no global backend is switched, and no figure is kept alive by a
global registry, so the functions work the same in scripts, tests, notebooks and headless servers.
Each function returns its ``Figure``; given ``path`` it also writes a PNG (atomically).

- ``plot_accuracy_vs_epsilon`` / ``plot_drop_vs_epsilon``: one line per model (seed 004's curves,
  drop(eps) = acc(0) - acc(eps)).
- ``plot_reliability_diagram``: accuracy per confidence bin against the diagonal (Guo et al. 2017).
- ``plot_adversarial_grid``: clean row, adversarial row, perturbation row (Goodfellow et al. 2015, Fig. 1).
- ``plot_activations``: the learned shapes of a model's KAF activations (seed 002).
- ``plot_grouped_bars``: clean and robust accuracies side by side per model variant, published numbers as ticks.
- ``plot_accuracy_vs_robustness``: accuracy against robustness of sampled networks (seed 000).
- ``plot_matrix_heatmap``: a source x target matrix of shares (transfer rates, fooling rates) with its values.

This module sits above ``tfrobust.evaluation`` (it draws its results) and below ``tfrobust.report`` and the
studies; ``evaluation`` never imports it.
"""
from __future__ import annotations

import io
import os
from typing import Mapping, Optional, Sequence, Tuple

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tfrobust.evaluation.calibration import ReliabilityDiagram, reliability_diagram
from tfrobust.evaluation.epsilon_sweep import SweepResult
from tfrobust.io import write_bytes_atomic


def new_figure(width: float = 6.0, height: float = 4.0, dpi: int = 100) -> Figure:
    """A Figure attached to an Agg canvas (renders without any display)."""
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def figure_to_png(fig: Figure, dpi: int | None = None) -> bytes:
    """The figure rendered as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int | None = None) -> str:
    """Writes ``fig`` as a PNG to ``path`` atomically; returns the path."""
    return write_bytes_atomic(path, figure_to_png(fig, dpi=dpi))


def _as_sweeps(sweeps) -> Mapping[str, SweepResult]:
    if isinstance(sweeps, SweepResult):
        return {sweeps.model_name or sweeps.attack: sweeps}
    if not isinstance(sweeps, Mapping) or not sweeps:
        raise ValueError("sweeps must be a SweepResult or a non-empty dict {name: SweepResult}.")
    for name, sweep in sweeps.items():
        if not isinstance(sweep, SweepResult):
            raise TypeError(f"sweeps[{name!r}] is a {type(sweep).__name__}, not a SweepResult.")
    return sweeps


def sweep_title(what: str, *, model: str | None = None, dataset: str | None = None,
                attacks: Sequence[str] = ()) -> str:
    """A figure title naming the model, the dataset and the attack labels: ``"accuracy: lenet5 on mnist5k, fgsm"``.

    Parts that are not known (None, empty) are left out.
    """
    where = " on ".join(part for part in (model, dataset) if part)
    tail = ", ".join(part for part in (where, ", ".join(attacks)) if part)
    return f"{what}: {tail}" if tail else what


def _plot_sweeps(sweeps, metric: str, ylabel: str, title: str | None, path, *, model: str | None = None,
                 dataset: str | None = None, legend_title: str | None = None) -> Figure:
    sweeps = _as_sweeps(sweeps)
    fig = new_figure()
    ax = fig.add_subplot(1, 1, 1)
    attacks = list(dict.fromkeys(s.attack for s in sweeps.values()))  # the registry labels, in order
    for name, sweep in sweeps.items():
        order = np.argsort(sweep.epsilons, kind="stable")
        values = np.asarray(getattr(sweep, metric))[order]
        # one attack: the legend tells the models apart; several: each line carries its attack's label
        label = str(name) if len(attacks) == 1 or str(name) == sweep.attack else f"{name} ({sweep.attack})"
        ax.plot(np.asarray(sweep.epsilons)[order], values, marker="o", label=label)
    models = {s.model_name for s in sweeps.values()}
    if model is None and len(models) == 1 and not models & set(attacks):
        model = next(iter(models)) or None
    ax.set_xlabel("eps (pixel units)")
    ax.set_ylabel(ylabel)
    ax.set_title(title or sweep_title(ylabel, model=model, dataset=dataset, attacks=attacks), fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(title=legend_title)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_accuracy_vs_epsilon(sweeps: Mapping[str, SweepResult] | SweepResult, path: str | None = None,
                             title: str | None = None, *, model: str | None = None, dataset: str | None = None,
                             legend_title: str | None = None) -> Figure:
    """Accuracy against eps, one line per model (seed 004, Figs. of FGSM accuracy vs eps).

    Args:
        sweeps: ``{name: SweepResult}`` (e.g. from ``sweep_models``) or one ``SweepResult``.
        path: write a PNG here when given.
        title: figure title; by default ``sweep_title``: the model (``model``, else the sweeps' common
            ``model_name``), ``dataset`` and the attacks' registry labels (``SweepResult.attack``). With several
            attacks each legend entry carries its attack's label too, so title and legend name attacks alike.
        model, dataset: named in the default title.
        legend_title: heading of the legend (e.g. "sparsity" when the lines are sparsities).

    Returns:
        The Figure; ``fig.axes[0].lines`` holds one line per model.

    Raises:
        ValueError, TypeError: empty input or values that are not SweepResults.
    """
    fig = _plot_sweeps(sweeps, "accuracy", "accuracy", title, None, model=model, dataset=dataset,
                       legend_title=legend_title)
    fig.axes[0].set_ylim(-0.02, 1.02)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_drop_vs_epsilon(sweeps: Mapping[str, SweepResult] | SweepResult, path: str | None = None,
                         title: str | None = None, *, model: str | None = None, dataset: str | None = None,
                         legend_title: str | None = None) -> Figure:
    """drop(eps) = acc(0) - acc(eps) against eps, one line per model (seed 004).

    Args and Returns as ``plot_accuracy_vs_epsilon``.
    """
    return _plot_sweeps(sweeps, "drop", "accuracy drop", title, path, model=model, dataset=dataset,
                        legend_title=legend_title)


def plot_reliability_diagram(diagram: ReliabilityDiagram | None = None, *, probs_or_logits=None, labels=None,
                             n_bins: int = 15, path: str | None = None, title: str | None = None) -> Figure:
    """Reliability diagram: accuracy per confidence bin against the diagonal (Guo et al. 2017, Fig. 1).

    Args:
        diagram: a ``ReliabilityDiagram``; or give ``probs_or_logits`` and ``labels`` instead.
        probs_or_logits, labels, n_bins: passed to ``reliability_diagram`` when ``diagram`` is None.
        path: write a PNG here when given.
        title: figure title (default shows the ECE).

    Returns:
        The Figure: bars of per-bin accuracy (empty bins drawn at 0), the gap to the mean bin
        confidence, and the diagonal as ``fig.axes[0].lines[0]``.

    Raises:
        ValueError: neither a diagram nor predictions and labels.
    """
    if diagram is None:
        if probs_or_logits is None or labels is None:
            raise ValueError("Give a ReliabilityDiagram, or probs_or_logits and labels.")
        diagram = reliability_diagram(probs_or_logits, labels, n_bins=n_bins)
    fig = new_figure(4.5, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    edges = diagram.bin_edges
    width = np.diff(edges)
    acc = np.nan_to_num(diagram.accuracy)
    conf = np.where(np.isnan(diagram.confidence), (edges[:-1] + edges[1:]) / 2, diagram.confidence)
    ax.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfect calibration")
    ax.bar(edges[:-1], acc, width=width, align="edge", edgecolor="black", label="accuracy")
    ax.bar(edges[:-1], conf - acc, bottom=acc, width=width, align="edge", color="red", alpha=0.3, label="gap")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(title or f"ECE = {diagram.ece:.4f}")
    ax.legend(loc="upper left")
    if path is not None:
        save_figure(fig, path)
    return fig


def _display_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, dtype=np.float32)
    return image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image


def perturbation_image(delta: np.ndarray) -> np.ndarray:
    """Maps a perturbation to [0, 1] for display: 0.5 + delta / (2 max|delta|) (grey = unchanged)."""
    delta = np.asarray(delta, dtype=np.float32)
    scale = float(np.abs(delta).max())
    return np.full_like(delta, 0.5) if scale == 0 else 0.5 + delta / (2 * scale)


def plot_adversarial_grid(x, x_adv, y=None, pred_clean=None, pred_adv=None, *, max_images: int = 8,
                          bounds: Sequence[float] = (0.0, 1.0), path: str | None = None,
                          class_names: Sequence[str] | None = None) -> Figure:
    """Image grid: clean images (top row), adversarial images, perturbations magnified (bottom row).

    Args:
        x: clean images (n, H, W, C) in ``bounds``.
        x_adv: adversarial images, same shape.
        y: true labels shown above the clean images (optional).
        pred_clean: predicted labels of the clean images (optional).
        pred_adv: predicted labels of the adversarial images (optional).
        max_images: columns at most.
        bounds: pixel range, for display.
        path: write a PNG here when given.
        class_names: names to show instead of class indices.

    Returns:
        The Figure with 3 rows of ``min(n, max_images)`` axes.

    Raises:
        ValueError: shape mismatch or an empty batch.
    """
    x, x_adv = np.asarray(x, np.float32), np.asarray(x_adv, np.float32)
    if x.shape != x_adv.shape or x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(f"x and x_adv must be non-empty NHWC batches of one shape, got {x.shape} and {x_adv.shape}.")
    n = min(int(x.shape[0]), int(max_images))
    lo, hi = bounds
    name = (lambda c: str(class_names[int(c)])) if class_names is not None else (lambda c: str(int(c)))
    fig = new_figure(1.4 * n, 4.6)
    grey = "gray" if x.shape[-1] == 1 else None
    for i in range(n):
        delta = x_adv[i] - x[i]
        rows = [((x[i] - lo) / (hi - lo), "clean", y, pred_clean),
                ((x_adv[i] - lo) / (hi - lo), "adversarial", None, pred_adv),
                (perturbation_image(delta), f"|d|inf={np.abs(delta).max():.3f}", None, None)]
        for r, (image, label, truth, pred) in enumerate(rows):
            ax = fig.add_subplot(3, n, r * n + i + 1)
            ax.imshow(np.clip(_display_image(image), 0, 1), cmap=grey, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            parts = []
            if truth is not None:
                parts.append(f"y={name(truth[i])}")
            if pred is not None:
                parts.append(f"pred={name(pred[i])}")
            ax.set_title(" ".join(parts) if parts else (label if r == 2 else ""), fontsize=7)
            if i == 0:
                ax.set_ylabel(label if r < 2 else "perturbation", fontsize=8)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_activations(model, x_range: Sequence[float] = (-4.0, 4.0), path: str | None = None, *,
                     max_channels: int = 4, num_samples: int = 401) -> Figure:
    """The learned KAF activation shapes of ``model``, one panel per KAF layer.

    Each panel shows the first ``max_channels`` per-channel activations
    ``KAF_c(s) = sum_i alpha[c, i] exp(-gamma (s - d_i)^2)`` (Scardapane et al. 2019) and, in
    black, their mean over all channels, evaluated by the layer itself on ``x_range``; dotted
    lines mark the dictionary interval, outside which every KAF decays to 0.

    Args:
        model: a Keras model containing :class:`tfrobust.layers.KAF` layers (also inside nested
            models or pruning wrappers).
        x_range: ``(low, high)`` of the pre-activation axis.
        path: if given, the PNG is written there.
        max_channels: number of individual channels drawn per layer.
        num_samples: points on the x axis.

    Returns:
        The Figure.

    Raises:
        ValueError: if the model has no KAF layer or ``x_range`` is not increasing.
    """
    import tensorflow as tf  # noqa: PLC0415  (local: only this figure needs them)

    from tfrobust.layers import KAF, find_layers  # noqa: PLC0415

    layers = find_layers(model, KAF)
    if not layers:
        raise ValueError("The model has no KAF layer: plot_activations draws learned KAF shapes "
                         "(build the model with activation='kaf', 'kaf_relu', ... ).")
    low, high = (float(v) for v in x_range)
    if not low < high:
        raise ValueError(f"x_range must be (low, high) with low < high, got {tuple(x_range)}.")
    grid = np.linspace(low, high, int(num_samples), dtype=np.float32)
    columns = min(len(layers), 4)
    rows = -(-len(layers) // columns)
    fig = new_figure(3.2 * columns, 2.6 * rows)
    for index, layer in enumerate(layers):
        ax = fig.add_subplot(rows, columns, index + 1)
        channels = int(layer.alpha.shape[0])
        # Every channel sees the same grid: column c of the output is KAF_c on the grid.
        values = layer(tf.tile(grid[:, None], (1, channels))).numpy().astype(np.float64)
        for c in range(min(channels, max_channels)):
            ax.plot(grid, values[:, c], linewidth=0.8, alpha=0.7, label=f"channel {c}")
        ax.plot(grid, values.mean(axis=1), color="black", linewidth=2.0, label=f"mean of {channels}")
        dictionary = tf.convert_to_tensor(layer.dictionary).numpy()  # trained when KAF_Free
        for edge in (dictionary.min(), dictionary.max()):
            ax.axvline(edge, color="grey", linestyle=":", linewidth=0.8)
        kind = "KAF_Free" if layer.trainable_dictionary else f"KAF (init {layer.init})"
        ax.set_title(f"{layer.name}: {kind}", fontsize=8)
        ax.set_xlabel("pre-activation", fontsize=8)
        ax.tick_params(labelsize=7)
        if index == 0:
            ax.legend(fontsize=6)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_grouped_bars(groups: Sequence[str], series: Mapping[str, Sequence[float]], path: Optional[str] = None, *,
                      title: str = "", ylabel: str = "accuracy",
                      reference: Optional[Mapping[str, Sequence[Optional[float]]]] = None) -> Figure:
    """Grouped bar chart (e.g. clean and robust accuracy per activation), written as a PNG.

    Args:
        groups: x-axis groups (e.g. activation names).
        series: name -> one value per group (e.g. {"clean": [...], "PGD": [...]}).
        path: PNG path to write (atomically), or None.
        title: figure title.
        ylabel: y-axis label.
        reference: optional name -> one value (or None) per group, drawn as black ticks on the bars of the
            ``series`` at the same position (e.g. the published numbers); the legend names the first one.

    Returns:
        The matplotlib figure.
    """
    fig = new_figure(width=max(6.0, 0.9 * len(groups) + 2), height=4.0)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / max(1, len(series))
    positions = np.arange(len(groups))
    for i, (name, values) in enumerate(series.items()):
        offset = positions - 0.4 + width * (i + 0.5)
        ax.bar(offset, values, width=width, label=name)
        if reference and i < len(reference):
            ref_name, ref_values = list(reference.items())[i]
            points = [(o, v) for o, v in zip(offset, ref_values) if v is not None]
            if points:
                ax.scatter(*zip(*points), marker="_", s=300, color="black", zorder=3,
                           label=ref_name if i == 0 else None)  # one legend entry for all black ticks
    ax.set_xticks(positions)
    ax.set_xticklabels(groups, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside: never hides a bar
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_accuracy_vs_robustness(samples: Mapping[str, object], references: Mapping[str, Tuple[float, float]],
                                *, published: Optional[Mapping[str, object]] = None, path: Optional[str] = None,
                                title: str = "Generated LeNet-5 networks") -> Figure:
    """Scatter of accuracy A (x) against robustness R (y): sampled networks and reference networks.

    Args:
        samples: label -> measurement of sampled networks (``tfrobust.hypernet.Measurement`` or anything with
            ``accuracy`` and ``robustness`` arrays), one marker colour per label.
        references: label -> (A, R) of single networks (e.g. the original and the PGD-trained LeNet-5),
            drawn as large stars.
        published: seed 000's numbers (``tfrobust.studies.published.GENERATOR_PUBLISHED``), drawn as hollow
            black markers; None leaves them out.
        path: PNG path to write (atomically), or None.
        title: figure title.

    Returns:
        The matplotlib figure.
    """
    fig = new_figure(width=6.5, height=5.0)
    ax = fig.add_subplot(1, 1, 1)
    markers = ["o", "^", "s", "D", "v"]
    for i, (label, m) in enumerate(samples.items()):
        ax.scatter(m.accuracy, m.robustness, marker=markers[i % len(markers)], alpha=0.75, s=36, zorder=3,
                   label=f"{label} ({m.accuracy.size} samples)")
    for label, (acc, rob) in references.items():
        ax.scatter([acc], [rob], marker="*", s=260, edgecolors="black", alpha=0.8, zorder=2, label=label)
    if published:
        ax.scatter([published["original_accuracy"]], [published["original_robustness"]], marker="*", s=260,
                   facecolors="none", edgecolors="black", zorder=4, label="seed: original")
        lo, hi = published["best_generated_accuracy_range"]
        ax.errorbar([(lo + hi) / 2], [published["best_generated_robustness"]], xerr=[(hi - lo) / 2], fmt="o",
                    mfc="none", color="black", capsize=4, zorder=4, label="seed: best generated")
    ax.set_xlabel("accuracy A")
    ax.set_ylabel("robustness R (share of correct examples surviving PGD)")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, alpha=0.3)
    ax.set_title(title)
    ax.legend(fontsize="small", loc="best")
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_matrix_heatmap(values, rows: Sequence[str], columns: Sequence[str], path: Optional[str] = None, *,
                        title: str = "", row_label: str = "crafted on", column_label: str = "evaluated on",
                        value_label: str = "accuracy", cmap: str = "viridis") -> Figure:
    """A heatmap of a (rows x columns) matrix of shares in [0, 1], each cell printed with its value.

    Args:
        values: array-like of shape (len(rows), len(columns)); NaN cells are left blank.
        rows, columns: the row and column names (e.g. the source and the target models of a transfer matrix).
        path: PNG path to write (atomically), or None.
        title, row_label, column_label, value_label: the figure's title, axis and colour-bar labels.
        cmap: matplotlib colour map name.

    Returns:
        The matplotlib figure.

    Raises:
        ValueError: the shape of ``values`` does not match the names.
    """
    values = np.asarray(values, dtype=float)
    if values.shape != (len(rows), len(columns)):
        raise ValueError(f"values has shape {values.shape}, expected ({len(rows)}, {len(columns)}) for "
                         f"{len(rows)} row and {len(columns)} column names.")
    fig = new_figure(width=1.2 * len(columns) + 2.5, height=0.8 * len(rows) + 1.8)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(values, cmap=cmap, vmin=0.0, vmax=1.0)
    for i in range(len(rows)):
        for j in range(len(columns)):
            if np.isfinite(values[i, j]):
                ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if values[i, j] < 0.5 else "black")
    ax.set_xticks(np.arange(len(columns)))
    ax.set_xticklabels(columns, rotation=30, ha="right")
    ax.set_yticks(np.arange(len(rows)))
    ax.set_yticklabels(rows)
    ax.set_xlabel(column_label)
    ax.set_ylabel(row_label)
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label=value_label)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig
