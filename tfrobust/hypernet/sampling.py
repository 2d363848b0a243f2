"""Sampling a trained generator and summarising its networks the way seed 000 reports them.

Ballarin (2020), slide "Risultati": the original LeNet-5 reaches A = 0.991 and R = 0.202; among 20
networks sampled from the trained generator the best reach R = 0.654 at A between 0.765 and 0.801,
and 8 of the 20 have A < 0.5. ``summarise_samples`` computes the same quantities for our samples
(best by robustness, best by the objective αA + βR, share with A < 0.5) so that they can be put in a
table beside ``PUBLISHED``; ``plot_accuracy_vs_robustness`` draws the A-R scatter of the samples with
reference networks.
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Tuple

import numpy as np

from tfrobust.hypernet.generator import Generator, sample_latent
from tfrobust.hypernet.robustness import Measurement, RobustnessMeter
from tfrobust.published import GENERATOR_PUBLISHED as PUBLISHED  # seed 000's numbers, kept with the other seeds'


def sample_networks(generator: Generator, meter: RobustnessMeter, x, y, num_samples: int = 20, *,
                    latent_bound: float = 10.0, seed: Optional[int] = None, batch_size: int = 500,
                    theta_batch_size: int = 8) -> Tuple[np.ndarray, Measurement]:
    """Draws ``num_samples`` latent points, generates their networks and measures A and R on (x, y).

    Args:
        generator: the trained generator.
        meter: measures accuracy and PGD robustness.
        x, y: evaluation images and labels.
        num_samples: networks to sample (seed: 20).
        latent_bound: s ~ U([-latent_bound, latent_bound]²).
        seed: seed of the latent points (the same seed gives the same networks).
        batch_size, theta_batch_size: chunk sizes of the measurement.

    Returns:
        (latent points (num_samples, latent_dim), their ``Measurement``).
    """
    latent = sample_latent(int(num_samples), generator.latent_dim, latent_bound, seed=seed)
    measurement = meter(generator(latent), x, y, batch_size=batch_size, theta_batch_size=theta_batch_size)
    return latent.numpy(), measurement


def summarise_samples(measurement: Measurement, *, alpha: float = 0.5, beta: float = 0.5,
                      low_accuracy: float = 0.5, top: int = 3) -> Dict[str, object]:
    """The seed's summary of sampled networks.

    Args:
        measurement: A and R of the samples.
        alpha, beta: objective weights.
        low_accuracy: threshold of the "low accuracy" share (seed: 0.5).
        top: how many of the most robust samples to list.

    Returns:
        dict with ``num_samples``, ``mean_accuracy``, ``mean_robustness``, ``mean_objective``,
        ``most_robust`` (list of {index, accuracy, robustness, robust_accuracy}, most robust first, among
        samples with A ≥ low_accuracy), ``best_objective`` (the sample with the highest αA + βR),
        ``num_low_accuracy`` and ``share_low_accuracy``.
    """
    acc, rob, racc = measurement.accuracy, measurement.robustness, measurement.robust_accuracy
    objective = alpha * acc + beta * rob

    def row(i):
        return {"index": int(i), "accuracy": float(acc[i]), "robustness": float(rob[i]),
                "robust_accuracy": float(racc[i]), "objective": float(objective[i])}

    usable = [i for i in np.argsort(-rob, kind="stable") if acc[i] >= low_accuracy]
    low = int(np.sum(acc < low_accuracy))
    return {
        "num_samples": int(acc.size),
        "mean_accuracy": float(acc.mean()),
        "mean_robustness": float(rob.mean()),
        "mean_robust_accuracy": float(racc.mean()),
        "mean_objective": float(objective.mean()),
        "most_robust": [row(i) for i in usable[:top]],
        "best_objective": row(int(np.argmax(objective))),
        "num_low_accuracy": low,
        "share_low_accuracy": low / max(1, int(acc.size)),
    }


def plot_accuracy_vs_robustness(samples: Mapping[str, Measurement], references: Mapping[str, Tuple[float, float]],
                                *, published: Optional[Mapping[str, object]] = PUBLISHED, path: Optional[str] = None,
                                title: str = "Generated LeNet-5 networks"):
    """Scatter of accuracy A (x) against robustness R (y): sampled networks and reference networks.

    Args:
        samples: label -> measurement of sampled networks (one marker colour per label).
        references: label -> (A, R) of single networks (e.g. the original and the PGD-trained LeNet-5),
            drawn as large stars.
        published: seed 000's numbers, drawn as hollow black markers (None to leave them out).
        path: PNG path to write (atomically), or None.
        title: figure title.

    Returns:
        The matplotlib figure.
    """
    from tfrobust import plotting  # matplotlib only when a figure is asked for

    fig = plotting.new_figure(width=6.5, height=5.0)
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
        plotting.save_figure(fig, path)
    return fig
