"""Seed 004's robustness curves of one model, and the study loop the compression studies share.

Seed 004 (Section 3.3, Figures 8-13) measures a model by FGSM accuracy(ε) over a grid, by
drop(ε) = accuracy(0) - accuracy(ε), and by the per-example minimal FGSM ε on a fine grid. ``fgsm_curves``
measures all three into a ``CurveMeasures``; ``mean_drop`` is the area under the drop curve (its mean over
ε > 0), by which ``curve_directions`` judges a variant against its baseline; ``curves_rows`` gives the
markdown rows and ``plot_curves`` the seed's two panels.

``curve_study`` is the loop of the pruning and low-rank studies: for every model, measure each variant once per
training seed (resumable; keys end in ``_seed=<s>``), judge each against the baseline variant over the seeds
(``seed_curve_directions``: Welch's t-test, by mean drop and by robust / clean accuracy) and draw the curves
with ± std error bars (``plot_seed_curves``); ``seed_curves_rows`` gives mean ± std rows.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np

from tfrobust import plotting
from tfrobust.attacks import minimal_epsilon
from tfrobust.evaluation.epsilon_sweep import SweepResult, epsilon_sweep
from tfrobust.studies.config import SEED_004_PAPER_EPSILONS  # noqa: F401  (re-exported)
from tfrobust.studies.run_store import RunStore
from tfrobust.studies.verdicts import (SEED_TEST, clean_direction, format_mean_std, relative_robustness,
                                      robustness_direction, seed_clean_direction, seed_direction, welch_test)


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




def seed_key(key: str, seed: int) -> str:
    """The results.json key of one entry trained with ``seed`` (so a resumed run finds every seed's entry)."""
    return f"{key}_seed={seed}"


def seeded_entry(data, key: str, seed: int):
    """Starts the entry ``key`` trained with ``seed``: its results key, and the data shuffled with that seed.

    Also seeds Python, numpy and TensorFlow with ``seed`` (the run store re-seeds the weights per entry).
    """
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    return seed_key(key, seed), dataclasses.replace(data, seed=seed)


def mean_relative_robustness(measures: CurveMeasures) -> float:
    """Mean over the ε > 0 of the FGSM sweep of accuracy(ε) / accuracy(0): robustness at matched clean accuracy."""
    ratios = [relative_robustness(a, measures.clean_accuracy)
              for e, a in zip(measures.fgsm.epsilons, measures.fgsm.accuracy) if e > 0]
    return float(np.mean(ratios)) if ratios else 1.0


def _p(value: float) -> Optional[float]:
    return None if not np.isfinite(value) else float(value)


def seed_curve_directions(baselines: Sequence[CurveMeasures], variants: Sequence[CurveMeasures], *,
                          alpha: float = 0.05) -> Dict[str, Any]:
    """Our seed-004 verdicts for a variant against the baseline, each trained once per seed.

    Robustness is judged twice, by mean drop (seed 004's measure) and by mean robust / clean accuracy (at
    matched clean accuracy: a drop also shrinks when clean accuracy falls), each with ``seed_direction``
    (Welch's t-test over seeds); clean accuracy with ``seed_clean_direction``.

    Returns:
        ``{"robustness", "relative", "clean"}`` verdicts, the p-values ``p_drop``, ``p_relative``, ``p_clean``
        (None with one seed) and ``test`` (``verdicts.SEED_TEST``).
    """
    clean_b = [m.clean_accuracy for m in baselines]
    clean_v = [m.clean_accuracy for m in variants]
    drop_b, drop_v = [mean_drop(m) for m in baselines], [mean_drop(m) for m in variants]
    rel_b = [mean_relative_robustness(m) for m in baselines]
    rel_v = [mean_relative_robustness(m) for m in variants]
    clean = {"baseline_clean": clean_b, "variant_clean": clean_v, "alpha": alpha}
    return {"robustness": seed_direction(drop_b, drop_v, higher_is_robust=False, **clean),
            "relative": seed_direction(rel_b, rel_v, **clean),
            "clean": seed_clean_direction(clean_b, clean_v, alpha=alpha),
            "p_drop": _p(welch_test(drop_b, drop_v).p_value), "p_relative": _p(welch_test(rel_b, rel_v).p_value),
            "p_clean": _p(welch_test(clean_b, clean_v).p_value), "test": SEED_TEST}


def seed_curves_rows(entries: Mapping[str, Sequence[CurveMeasures]], epsilons: Sequence[float],
                     label: str = "variant") -> List[Dict[str, Any]]:
    """``curves_rows`` over seeds: every number is mean ± std over the entry's seeds, plus robust/clean."""
    rows = []
    for name, per_seed in entries.items():
        row: Dict[str, Any] = {label: name, "seeds": len(per_seed),
                               "clean": format_mean_std([m.clean_accuracy for m in per_seed])}
        for eps in epsilons:
            if eps > 0:
                row[f"acc ε={eps:.3g}"] = format_mean_std([m.fgsm.accuracy_at(eps) for m in per_seed])
        row["mean drop"] = format_mean_std([mean_drop(m) for m in per_seed])
        row["robust/clean"] = format_mean_std([mean_relative_robustness(m) for m in per_seed])
        minimal = [m.minimal_epsilon or {} for m in per_seed]
        if any(x.get("median_above_grid") for x in minimal):
            row["median min-ε"] = f"> {max(epsilons):.3g} (a seed)"
        elif any(x.get("median") is None for x in minimal):
            row["median min-ε"] = "—"
        else:
            row["median min-ε"] = format_mean_std([x["median"] for x in minimal])
        rows.append(row)
    return rows


def plot_sweeps_mean_std(sweeps: Mapping[str, Sequence[SweepResult]], path: str, *, metric: str = "accuracy",
                         ylabel: str = "accuracy", title: str = "", legend_title: Optional[str] = None) -> str:
    """One line per name: the mean over seeds of ``metric`` (accuracy or drop) against ε, ± std error bars."""
    fig = plotting.new_figure()
    ax = fig.add_subplot(1, 1, 1)
    for name, per_seed in sweeps.items():
        eps = np.asarray(per_seed[0].epsilons)
        values = np.asarray([getattr(sweep, metric) for sweep in per_seed], np.float64)
        std = values.std(axis=0, ddof=1) if len(per_seed) > 1 else np.zeros(eps.shape)
        order = np.argsort(eps, kind="stable")
        ax.errorbar(eps[order], values.mean(axis=0)[order], yerr=std[order], marker="o", capsize=3,
                    label=f"{name} (n={len(per_seed)})")
    ax.set_xlabel("eps (pixel units)")
    ax.set_ylabel(ylabel + " (mean ± std over seeds)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(title=legend_title)
    return plotting.save_figure(fig, path)


def plot_bars_mean_std(groups: Sequence[str], series: Mapping[str, Sequence[Sequence[float]]], path: str, *,
                       title: str = "", ylabel: str = "accuracy",
                       reference: Optional[Mapping[str, Sequence[Optional[float]]]] = None) -> str:
    """Grouped bars of the mean over seeds with ± std error bars; ``series[name][group]`` is one value per seed.

    ``reference`` (optional, e.g. the published numbers) is drawn as black ticks on the first series' bars.
    """
    fig = plotting.new_figure(width=max(6.0, 0.9 * len(groups) + 2), height=4.0)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / max(1, len(series))
    positions = np.arange(len(groups))
    for i, (name, per_group) in enumerate(series.items()):
        values = [np.asarray(list(v), np.float64) for v in per_group]
        means = [v.mean() for v in values]
        stds = [v.std(ddof=1) if v.size > 1 else 0.0 for v in values]
        offset = positions - 0.4 + width * (i + 0.5)
        n = max(v.size for v in values) if values else 0
        ax.bar(offset, means, width=width, yerr=stds, capsize=3, label=f"{name} (n={n})")
        if reference and i < len(reference):
            ref_name, ref_values = list(reference.items())[i]
            points = [(o, r) for o, r in zip(offset, ref_values) if r is not None]
            if points:
                ax.scatter(*zip(*points), marker="_", s=300, color="black", zorder=3, label=ref_name)
    ax.set_xticks(positions)
    ax.set_xticklabels(groups, rotation=30, ha="right")
    ax.set_ylabel(ylabel + " (mean ± std over seeds)")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return plotting.save_figure(fig, path)


def plot_seed_curves(entries: Mapping[str, Sequence[CurveMeasures]], results_dir: str, stem: str,
                     title: str, legend_title: Optional[str] = None) -> List[str]:
    """Seed 004's two panels with mean ± std error bars over seeds; writes ``<stem>_accuracy.png``, ``_drop.png``.

    The y labels and titles name the sweeps' attack by its registry label (``SweepResult.attack``, e.g. "fgsm").
    """
    sweeps = {name: [m.fgsm for m in per_seed] for name, per_seed in entries.items()}
    attack = next(iter(sweeps.values()))[0].attack
    return [plot_sweeps_mean_std(sweeps, os.path.join(results_dir, f"{stem}_{metric}.png"), metric=metric,
                                 ylabel=ylabel, title=f"{title}: {ylabel}", legend_title=legend_title)
            for metric, ylabel in (("accuracy", f"{attack} accuracy"),
                                   ("drop", f"{attack} drop(ε) = acc(0) - acc(ε)"))]


@dataclasses.dataclass
class CurveStudy:
    """What ``curve_study`` measured: per model, its variants' measures (one per seed) and verdicts, and figures.

    Attributes:
        entries: model -> variant label -> ``CurveMeasures`` of each seed, in ``seeds`` order.
        verdicts: model -> variant label -> ``seed_curve_directions`` against the model's baseline variant.
        figures: paths of the PNG figures written.
    """

    entries: Dict[str, Dict[str, List[CurveMeasures]]]
    verdicts: Dict[str, Dict[str, Dict[str, Any]]]
    figures: List[str]


def curve_study(run: RunStore, models: Sequence[str], variants: Sequence[Any], *,
                key: Callable[[str, Any], str], label: Callable[[Any], str],
                measure: Callable[[str, Any, int], CurveMeasures], baseline: Any, what: str,
                seeds: Sequence[int] = (0,), legend_title: Optional[str] = None) -> CurveStudy:
    """Measures every (model, variant, seed) not recorded yet, judges each variant against ``baseline``, plots.

    Args:
        run: the study's run store (finished entries are reused).
        models: model names.
        variants: the variants of each model (sparsities, conv choices, ...), in table order.
        key: ``key(model, variant)``; the entry's name in ``results.json`` is ``seed_key(key, seed)``.
        label: the variant's name in tables and figures.
        measure: ``measure(model, variant, seed)`` trains (or reloads) and measures one entry.
        baseline: the variant the others are judged against (no verdicts when it is not among ``variants``).
        what: the studied change, for figure titles (e.g. "magnitude pruning").
        seeds: the training seeds; each entry is measured once per seed.
        legend_title: heading of the figures' legend, what the variants are (e.g. "sparsity").
    """
    entries, verdicts, figures = {}, {}, []
    for model in models:
        measured: Dict[str, List[CurveMeasures]] = {}
        for variant in variants:
            measured[label(variant)] = [
                run.cached(seed_key(key(model, variant), seed), lambda v=variant, s=seed: measure(model, v, s),
                           load=CurveMeasures.from_dict) for seed in seeds]
        entries[model] = measured
        if baseline in variants:
            base = measured[label(baseline)]
            verdicts[model] = {name: seed_curve_directions(base, m) for name, m in measured.items()
                               if name != label(baseline)}
        else:
            verdicts[model] = {}
        figures += plot_seed_curves(measured, run.results_dir, model, f"{model} on {run.config.dataset}, {what}",
                                    legend_title=legend_title)
    return CurveStudy(entries, verdicts, figures)


def curve_sections(report, study: CurveStudy, epsilons: Sequence[float], *, label: str,
                   columns: Callable[[CurveMeasures], Dict[str, Any]], verdict_column: str,
                   findings: Callable[[str], Sequence[Any]], intro: str) -> None:
    """Adds one section per model to a ``StudyReport``: the curves table over seeds, figures, the seed's findings.

    Args:
        report: the ``tfrobust.studies.report.StudyReport``.
        study: what ``curve_study`` measured.
        epsilons: the ε grid (its ε > 0 become columns).
        label: header of the variant column.
        columns: the study's own columns of one variant (e.g. measured sparsity; from its first seed), put
            after ``label``.
        verdict_column: header of the column with each variant's verdicts against the baseline.
        findings: the seed's findings about a model.
        intro: the sentence introducing the findings.
    """
    for model, entries in study.entries.items():
        verdicts = study.verdicts.get(model, {})
        rows = seed_curves_rows(entries, epsilons, label=label)
        for row, per_seed in zip(rows, entries.values()):
            row.update(columns(per_seed[0]))
            v = verdicts.get(row[label])
            row[verdict_column] = (f"by drop: {v['robustness']}; by robust/clean: {v['relative']}; {v['clean']}"
                                   if v else "baseline")
        first = [label] + list(columns(next(iter(entries.values()))[0]))
        report.section(model).table(rows, first + [c for c in rows[0] if c not in first])
        report.paragraph(f"Numbers are mean ± sample std over the seeds; verdicts: {SEED_TEST} (\"no clear "
                         f"effect\" when the difference does not exceed the seed-to-seed spread). Figures: "
                         f"`{model}_accuracy.png`, `{model}_drop.png` (error bars: ± std over seeds).")
        report.findings(findings(model), intro=intro)
