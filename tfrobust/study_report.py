"""Measures, tables, verdicts and figures that several experiment scripts share.

* Seed 004's robustness measures of one model (Section 3.3 and Figures 8-13): FGSM accuracy(ε),
  drop(ε) = accuracy(0) - accuracy(ε), and the per-example minimal FGSM ε on a grid
  (``fgsm_curves``), their markdown rows (``curves_rows``), our verdict against a baseline in the
  vocabulary of ``tfrobust.published`` (``curve_directions``) and the two panels of the seed's
  figures (``plot_curves``).
* ``plot_grouped_bars``: clean and robust accuracies side by side per model variant, with the
  published numbers as black ticks (seed 002's tables, the distillation attacks).
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from tfrobust import plotting, published
from tfrobust.attacks import minimal_epsilon
from tfrobust.evaluation.epsilon_sweep import SweepResult, epsilon_sweep


def fgsm_curves(model, x, y, epsilons: Sequence[float], *, minimal_eps_points: int = 31) -> Dict[str, Any]:
    """Seed 004's robustness measures of one model: FGSM accuracy(ε), drop(ε) and minimal FGSM ε.

    Args:
        model: logits model.
        x: images in [0, 1].
        y: labels.
        epsilons: the ε grid of the curves (include 0 for the clean point).
        minimal_eps_points: size of the uniform grid on [0, max(epsilons)] of the per-example minimal ε
            (``tfrobust.attacks.minimal_epsilon``); 0 to skip it.

    Returns:
        ``{"clean_accuracy", "fgsm": SweepResult.to_dict(), "minimal_epsilon": {...}}`` where the minimal-ε
        summary has the median and mean over correctly classified examples (``inf`` = not flipped on the
        grid), the share never flipped, and a histogram over the grid.
    """
    sweep = epsilon_sweep(model, x, y, attack="fgsm", epsilons=epsilons)
    entry: Dict[str, Any] = {"clean_accuracy": sweep.clean_accuracy, "fgsm": sweep.to_dict()}
    if minimal_eps_points:
        grid = np.linspace(0.0, max(epsilons), int(minimal_eps_points))[1:]
        eps = minimal_epsilon(model, x, y, grid)
        attacked = eps[eps > 0]  # 0 marks examples misclassified without attack
        finite = attacked[np.isfinite(attacked)]
        counts = [int(np.sum(np.isclose(attacked, g))) for g in grid]
        entry["minimal_epsilon"] = {
            "grid": grid.tolist(), "counts": counts, "never_flipped": int(np.sum(np.isinf(attacked))),
            "median": float(np.median(attacked)) if attacked.size else None,  # inf (-> null) above the grid
            "median_above_grid": bool(attacked.size and np.isinf(np.median(attacked))),
            "mean_flipped": float(finite.mean()) if finite.size else None,
        }
    return entry


def sweep_of(entry: Mapping[str, Any]) -> SweepResult:
    """The ``SweepResult`` stored in an entry made by ``fgsm_curves``."""
    return SweepResult.from_dict(entry["fgsm"])


def mean_drop(entry: Mapping[str, Any]) -> float:
    """Mean of drop(ε) over the ε > 0 of an entry's FGSM sweep (the area under seed 004's drop curve)."""
    sweep = sweep_of(entry)
    drops = [d for e, d in zip(sweep.epsilons, sweep.drop) if e > 0]
    return float(np.mean(drops)) if drops else 0.0


def curves_rows(entries: Mapping[str, Mapping[str, Any]], epsilons: Sequence[float],
                label: str = "variant") -> List[Dict[str, Any]]:
    """One markdown row per entry: clean accuracy, FGSM accuracy per ε > 0, mean drop, minimal ε."""
    rows = []
    for name, entry in entries.items():
        sweep = sweep_of(entry)
        row: Dict[str, Any] = {label: name, "clean": entry["clean_accuracy"]}
        for eps in epsilons:
            if eps > 0:
                row[f"acc ε={eps:.3g}"] = sweep.accuracy_at(eps)
        row["mean drop"] = mean_drop(entry)
        minimal = entry.get("minimal_epsilon") or {}
        if minimal.get("median_above_grid"):
            row["median min-ε"] = f"> {max(epsilons):.3g}"
        else:
            row["median min-ε"] = "—" if minimal.get("median") is None else f"{minimal['median']:.3f}"
        rows.append(row)
    return rows


def curve_directions(baseline: Mapping[str, Any], variant: Mapping[str, Any], *,
                     tolerance: float = 0.02) -> Dict[str, str]:
    """Our seed-004 verdicts for ``variant`` against ``baseline``: robustness (mean drop) and clean accuracy."""
    robustness = published.robustness_direction(mean_drop(baseline), mean_drop(variant), tolerance=tolerance,
                                                higher_is_robust=False, baseline_clean=baseline["clean_accuracy"],
                                                variant_clean=variant["clean_accuracy"])
    clean = (published.LOWER_CLEAN if variant["clean_accuracy"] < baseline["clean_accuracy"] - tolerance
             else published.UNCHANGED_CLEAN)
    return {"robustness": robustness, "clean": clean}


def plot_curves(entries: Mapping[str, Mapping[str, Any]], results_dir: str, stem: str, title: str) -> List[str]:
    """Writes ``<stem>_accuracy.png`` and ``<stem>_drop.png`` (seed 004's panels a and b); returns the paths."""
    sweeps = {name: sweep_of(entry) for name, entry in entries.items()}
    accuracy = os.path.join(results_dir, f"{stem}_accuracy.png")
    drop = os.path.join(results_dir, f"{stem}_drop.png")
    plotting.plot_accuracy_vs_epsilon(sweeps, path=accuracy, title=f"{title}: FGSM accuracy")
    plotting.plot_drop_vs_epsilon(sweeps, path=drop, title=f"{title}: drop(ε) = acc(0) - acc(ε)")
    return [accuracy, drop]


def plot_grouped_bars(groups: Sequence[str], series: Mapping[str, Sequence[float]], path: str, *, title: str,
                      ylabel: str = "accuracy", reference: Optional[Mapping[str, Sequence[Optional[float]]]] = None
                      ) -> str:
    """Grouped bar chart (e.g. clean and robust accuracy per activation), written as a PNG.

    Args:
        groups: x-axis groups (e.g. activation names).
        series: name -> one value per group (e.g. {"clean": [...], "PGD": [...]}).
        path: PNG path (written atomically).
        title: figure title.
        ylabel: y-axis label.
        reference: optional name -> one value (or None) per group, drawn as black ticks on the bars of the
            ``series`` at the same position (e.g. the published numbers); the legend names the first one.

    Returns:
        ``path``.
    """
    fig = plotting.new_figure(width=max(6.0, 0.9 * len(groups) + 2), height=4.0)
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
    plotting.save_figure(fig, path)
    return path
