"""Sampling a trained generator and summarising its networks the way seed 000 reports them.

Ballarin (2020), slide "Risultati": the original LeNet-5 reaches A = 0.991 and R = 0.202; among 20
networks sampled from the trained generator the best reach R = 0.654 at A between 0.765 and 0.801,
and 8 of the 20 have A < 0.5. ``summarise_samples`` computes the same quantities for our samples
(best by robustness, best by the objective αA + βR, share with A < 0.5) so that they can be put in a
table beside the seed's numbers (``tfrobust.studies.published.GENERATOR_PUBLISHED``; library code keeps
no published numbers); ``tfrobust.plotting.plot_accuracy_vs_robustness`` draws the A-R scatter.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np

from tfrobust.hypernet.generator import Generator, sample_latent
from tfrobust.hypernet.robustness import Measurement, RobustnessMeter


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
