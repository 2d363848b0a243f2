"""Figures of the domain-adaptation study: PCA of the features before/after adaptation."""
from __future__ import annotations

from typing import Mapping, Tuple

import numpy as np
from matplotlib.figure import Figure

from tfrobust.adaptation.dann import pca_2d
from tfrobust.generative.figures import save_png


def plot_feature_pca(panels: Mapping[str, Tuple[np.ndarray, np.ndarray]], path: str, *,
                     title: str = "Features of source (blue) and target (orange) test images, PCA") -> str:
    """One scatter panel per model: the source and target features projected on their 2 principal axes."""
    fig = Figure(figsize=(5 * len(panels), 4.5), dpi=100)
    for i, (name, (source, target)) in enumerate(panels.items()):
        ps, pt = pca_2d(source, target)
        ax = fig.add_subplot(1, len(panels), i + 1)
        ax.scatter(ps[:, 0], ps[:, 1], s=4, alpha=0.5, label="source")
        ax.scatter(pt[:, 0], pt[:, 1], s=4, alpha=0.5, label="target")
        ax.set(title=name, xlabel="PC 1", ylabel="PC 2")
        ax.legend(markerscale=3)
    fig.suptitle(title)
    return save_png(fig, path)
