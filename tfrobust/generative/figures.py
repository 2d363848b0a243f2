"""Figures of the GAN study: classifier FID per epoch, the generator's logit gradient, image rows."""
from __future__ import annotations

import io
from typing import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tfrobust.io import write_bytes_atomic


def save_png(fig: Figure, path: str) -> str:
    """Writes ``fig`` as a PNG atomically and returns ``path``."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    write_bytes_atomic(path, buffer.getvalue())
    return path


def plot_curves(curves: Mapping[str, Sequence[float]], path: str, *, title: str, ylabel: str,
                xlabel: str = "epoch", log_y: bool = False) -> str:
    """One line per named curve over epochs 1..n."""
    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.add_subplot(111)
    for name, values in curves.items():
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", label=name)
    if log_y:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    return save_png(fig, path)


def plot_image_rows(rows: Mapping[str, np.ndarray], path: str, *, title: str = "", max_images: int = 10) -> str:
    """A grid with one labelled row of images (N, H, W, C in [0, 1]) per entry of ``rows``."""
    names = list(rows)
    n = min(max_images, min(len(v) for v in rows.values()))
    fig = Figure(figsize=(1.1 * n + 1.5, 1.2 * len(names) + 0.4), dpi=100)
    for r, name in enumerate(names):
        for k in range(n):
            ax = fig.add_subplot(len(names), n, r * n + k + 1)
            image = np.clip(np.asarray(rows[name][k]), 0, 1)
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if k == 0:
                ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title)
    return save_png(fig, path)
