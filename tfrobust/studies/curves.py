"""Seed 004's robustness curves of one model, and the study loop the compression studies share.

Seed 004 (Section 3.3, Figures 8-13) measures a model by FGSM accuracy(ε) over a grid, by
drop(ε) = accuracy(0) - accuracy(ε), and by the per-example minimal FGSM ε on a fine grid. ``fgsm_curves``
measures all three into a ``CurveMeasures``; ``mean_drop`` is the area under the drop curve (its mean over
ε > 0), by which ``curve_directions`` judges a variant against its baseline; ``curves_rows`` gives the
markdown rows and ``plot_curves`` the seed's two panels.

``curve_study`` is the loop of the pruning and low-rank studies: for every model, measure each variant
(resumable), judge each against the baseline variant and draw the curves.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np

from tfrobust import plotting
from tfrobust.attacks import minimal_epsilon
from tfrobust.evaluation.epsilon_sweep import SweepResult, epsilon_sweep
from tfrobust.studies.run_store import RunStore
from tfrobust.studies.verdicts import clean_direction, robustness_direction


@dataclasses.dataclass
class CurveMeasures:
    """Seed 004's measures of one model, plus the study's own details of it.

    Attributes:
        clean_accuracy: accuracy on the attacked examples.
        fgsm: FGSM accuracy and drop over the ε grid.
        minimal_epsilon: summary of the per-example minimal FGSM ε (None when not measured): ``grid``,
            ``counts`` per grid value, ``never_flipped``, ``median`` (None = above the grid or no example),
            ``median_above_grid`` and ``mean_flipped``, over the correctly classified examples.
        details: anything the study records beside them (model name, sparsity, ranks, ...).
    """

    clean_accuracy: float
    fgsm: SweepResult
    minimal_epsilon: Optional[Dict[str, Any]] = None
    details: Dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"clean_accuracy": self.clean_accuracy, "fgsm": self.fgsm.to_dict()}
        if self.minimal_epsilon is not None:
            out["minimal_epsilon"] = self.minimal_epsilon
        out.update(self.details)
        return out

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> "CurveMeasures":
        rest = {k: v for k, v in entry.items() if k not in ("clean_accuracy", "fgsm", "minimal_epsilon")}
        return cls(float(entry["clean_accuracy"]), SweepResult.from_dict(entry["fgsm"]),
                   entry.get("minimal_epsilon"), rest)

    def __getitem__(self, key: str) -> Any:
        """A study detail by name (``measures["measured_sparsity"]``)."""
        return self.details[key]


def fgsm_curves(model, x, y, epsilons: Sequence[float], *, minimal_eps_points: int = 31) -> CurveMeasures:
    """Seed 004's robustness measures of one model: FGSM accuracy(ε), drop(ε) and minimal FGSM ε.

    Args:
        model: logits model.
        x: images in [0, 1].
        y: labels.
        epsilons: the ε grid of the curves (include 0 for the clean point).
        minimal_eps_points: size of the uniform grid on [0, max(epsilons)] of the per-example minimal ε
            (``tfrobust.attacks.minimal_epsilon``); 0 to skip it.

    Returns:
        The ``CurveMeasures`` (no details yet).
    """
    sweep = epsilon_sweep(model, x, y, attack="fgsm", epsilons=epsilons)
    measures = CurveMeasures(sweep.clean_accuracy, sweep)
    if minimal_eps_points:
        grid = np.linspace(0.0, max(epsilons), int(minimal_eps_points))[1:]
        result = minimal_epsilon(model, x, y, grid)
        eps = result.info["epsilon"]  # seed 004's minimal grid eps (result.norms are the clipped images' norms)
        attacked = eps[eps > 0]  # 0 marks examples misclassified without attack
        finite = attacked[np.isfinite(attacked)]
        measures.minimal_epsilon = {
            "grid": grid.tolist(), "counts": [int(np.sum(np.isclose(attacked, g))) for g in grid],
            "never_flipped": int(np.sum(np.isinf(attacked))),
            "median": float(np.median(attacked)) if attacked.size else None,  # inf (-> null) above the grid
            "median_above_grid": bool(attacked.size and np.isinf(np.median(attacked))),
            "mean_flipped": float(finite.mean()) if finite.size else None,
        }
    return measures


def mean_drop(measures: CurveMeasures) -> float:
    """Mean of drop(ε) over the ε > 0 of the FGSM sweep (the area under seed 004's drop curve)."""
    drops = [d for e, d in zip(measures.fgsm.epsilons, measures.fgsm.drop) if e > 0]
    return float(np.mean(drops)) if drops else 0.0


def curves_rows(entries: Mapping[str, CurveMeasures], epsilons: Sequence[float],
                label: str = "variant") -> List[Dict[str, Any]]:
    """One markdown row per entry: clean accuracy, FGSM accuracy per ε > 0, mean drop, median minimal ε."""
    rows = []
    for name, measures in entries.items():
        row: Dict[str, Any] = {label: name, "clean": measures.clean_accuracy}
        for eps in epsilons:
            if eps > 0:
                row[f"acc ε={eps:.3g}"] = measures.fgsm.accuracy_at(eps)
        row["mean drop"] = mean_drop(measures)
        minimal = measures.minimal_epsilon or {}
        if minimal.get("median_above_grid"):
            row["median min-ε"] = f"> {max(epsilons):.3g}"
        else:
            row["median min-ε"] = "—" if minimal.get("median") is None else f"{minimal['median']:.3f}"
        rows.append(row)
    return rows


def curve_directions(baseline: CurveMeasures, variant: CurveMeasures, *, tolerance: float = 0.02) -> Dict[str, str]:
    """Our seed-004 verdicts for ``variant`` against ``baseline``: robustness (mean drop) and clean accuracy."""
    robustness = robustness_direction(mean_drop(baseline), mean_drop(variant), tolerance=tolerance,
                                      higher_is_robust=False, baseline_clean=baseline.clean_accuracy,
                                      variant_clean=variant.clean_accuracy)
    return {"robustness": robustness,
            "clean": clean_direction(baseline.clean_accuracy, variant.clean_accuracy, tolerance=tolerance)}


def plot_curves(entries: Mapping[str, CurveMeasures], results_dir: str, stem: str, title: str) -> List[str]:
    """Writes ``<stem>_accuracy.png`` and ``<stem>_drop.png`` (seed 004's panels a and b); returns the paths."""
    sweeps = {name: measures.fgsm for name, measures in entries.items()}
    accuracy = os.path.join(results_dir, f"{stem}_accuracy.png")
    drop = os.path.join(results_dir, f"{stem}_drop.png")
    plotting.plot_accuracy_vs_epsilon(sweeps, path=accuracy, title=f"{title}: FGSM accuracy")
    plotting.plot_drop_vs_epsilon(sweeps, path=drop, title=f"{title}: drop(ε) = acc(0) - acc(ε)")
    return [accuracy, drop]


@dataclasses.dataclass
class CurveStudy:
    """What ``curve_study`` measured: per model, its variants' measures and verdicts, and the figures.

    Attributes:
        entries: model -> variant label -> ``CurveMeasures``.
        verdicts: model -> variant label -> ``curve_directions`` against the model's baseline variant.
        figures: paths of the PNG figures written.
    """

    entries: Dict[str, Dict[str, CurveMeasures]]
    verdicts: Dict[str, Dict[str, Dict[str, str]]]
    figures: List[str]


def curve_study(run: RunStore, models: Sequence[str], variants: Sequence[Any], *,
                key: Callable[[str, Any], str], label: Callable[[Any], str],
                measure: Callable[[str, Any], CurveMeasures], baseline: Any, what: str) -> CurveStudy:
    """Measures every (model, variant) not recorded yet, judges each variant against ``baseline``, plots.

    Args:
        run: the study's run store (finished entries are reused).
        models: model names.
        variants: the variants of each model (sparsities, conv choices, ...), in table order.
        key: ``key(model, variant)``, the entry's name in ``results.json``.
        label: the variant's name in tables and figures.
        measure: trains (or reloads) and measures one (model, variant).
        baseline: the variant the others are judged against (no verdicts when it is not among ``variants``).
        what: the studied change, for figure titles (e.g. "magnitude pruning").
    """
    entries, verdicts, figures = {}, {}, []
    for model in models:
        measured: Dict[str, CurveMeasures] = {}
        for variant in variants:
            measured[label(variant)] = run.cached(key(model, variant), lambda v=variant: measure(model, v),
                                                  load=CurveMeasures.from_dict)
        entries[model] = measured
        if baseline in variants:
            base = measured[label(baseline)]
            verdicts[model] = {name: curve_directions(base, m) for name, m in measured.items()
                               if name != label(baseline)}
        else:
            verdicts[model] = {}
        figures += plot_curves(measured, run.results_dir, model, f"{model}, {what}")
    return CurveStudy(entries, verdicts, figures)


def curve_sections(report, study: CurveStudy, epsilons: Sequence[float], *, label: str,
                   columns: Callable[[CurveMeasures], Dict[str, Any]], verdict_column: str,
                   findings: Callable[[str], Sequence[Any]], intro: str) -> None:
    """Adds one section per model to a ``StudyReport``: the curves table, its figures and the seed's findings.

    Args:
        report: the ``tfrobust.studies.report.StudyReport``.
        study: what ``curve_study`` measured.
        epsilons: the ε grid (its ε > 0 become columns).
        label: header of the variant column.
        columns: the study's own columns of one variant (e.g. measured sparsity), put after ``label``.
        verdict_column: header of the column with each variant's verdict against the baseline.
        findings: the seed's findings about a model.
        intro: the sentence introducing the findings.
    """
    for model, entries in study.entries.items():
        verdicts = study.verdicts.get(model, {})
        rows = curves_rows(entries, epsilons, label=label)
        for row, measures in zip(rows, entries.values()):
            row.update(columns(measures))
            verdict = verdicts.get(row[label])
            row[verdict_column] = f"{verdict['robustness']}, {verdict['clean']}" if verdict else "baseline"
        first = [label] + list(columns(next(iter(entries.values()))))
        report.section(model).table(rows, first + [c for c in rows[0] if c not in first])
        report.paragraph(f"Figures: `{model}_accuracy.png`, `{model}_drop.png`.")
        report.findings(findings(model), intro=intro)
