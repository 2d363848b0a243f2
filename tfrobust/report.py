"""One call that evaluates a model the way a careful reviewer would, and writes it all down.

``evaluate_robustness`` runs accuracy-vs-eps sweeps for several attacks, the gradient-masking
report, and writes ``report.json`` and ``report.md`` (atomically), the accuracy/drop-vs-eps figures,
an image grid of clean and adversarial examples, and TensorBoard scalars and images. The quickstart
and ``experiments/evaluate_model.py`` both use it.

It sits above ``tfrobust.evaluation`` (the numbers), ``tfrobust.plotting`` (figures) and
``tfrobust.tensorboard`` (logs), and combines them; ``evaluation`` imports neither of the other two.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Sequence

import numpy as np

from tfrobust.attacks.spec import as_attack
from tfrobust.evaluation.epsilon_sweep import SweepResult, epsilon_sweep
from tfrobust.evaluation.masking import MaskingReport, masking_report
from tfrobust.evaluation.robust_accuracy import predict_labels
from tfrobust.io import markdown_table, write_json_atomic, write_text_atomic


@dataclass
class RobustnessReport:
    """Sweeps per attack, the masking report and the files written."""

    model_name: str
    clean_accuracy: float
    n: int
    sweeps: Dict[str, SweepResult]
    masking: MaskingReport | None
    files: Dict[str, str] = field(default_factory=dict)
    extra: Dict[str, Any] = field(default_factory=dict)

    def table(self) -> str:
        """Markdown table: one row per eps, accuracy and drop per attack."""
        epsilons = sorted({e for s in self.sweeps.values() for e in s.epsilons})
        columns = ["eps"]
        for name in self.sweeps:
            columns += [f"{name} acc", f"{name} drop"]
        rows = []
        for eps in epsilons:
            row = {"eps": eps}
            for name, sweep in self.sweeps.items():
                if eps in sweep.epsilons:
                    acc = sweep.accuracy_at(eps)
                    row[f"{name} acc"], row[f"{name} drop"] = acc, sweep.clean_accuracy - acc
            rows.append(row)
        return markdown_table(rows, columns)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "model_name": self.model_name, "clean_accuracy": self.clean_accuracy, "n": self.n,
            "sweeps": {k: v.to_dict() for k, v in self.sweeps.items()},
            "masking": None if self.masking is None else self.masking.to_dict(),
            "files": dict(self.files), **self.extra,
        }

    def markdown(self) -> str:
        lines = [f"# Robustness of {self.model_name}", "",
                 f"Clean accuracy {self.clean_accuracy:.4f} on {self.n} examples.", "", self.table(), ""]
        if self.masking is not None:
            verdict = "SUSPICIOUS (likely gradient masking)" if self.masking.suspicious else "no warning sign fired"
            lines += [f"## Gradient-masking checks: {verdict}", ""]
            lines += [f"- {finding}" for finding in self.masking.findings] or ["- (none)"]
        return "\n".join(lines) + "\n"


def evaluate_robustness(model: Callable, x, y, *, attacks: Mapping[str, Any], epsilons: Sequence[float],
                        masking_eps: float | None = None, out_dir: str | None = None, logdir: str | None = None,
                        model_name: str = "model", batch_size: int = 256, bounds=(0.0, 1.0),
                        extra: Mapping[str, Any] | None = None, progress=False,
                        substitute: Callable | None = None) -> RobustnessReport:
    """Sweeps every attack over ``epsilons``, runs the masking report, writes files and TensorBoard logs.

    Args:
        model: any callable images -> logits (or probabilities; see ``tfrobust.logits``).
        x, y: evaluation images in ``bounds`` and labels (sparse or one-hot).
        attacks: ``{display name: Attack | spec string | attack function}``.
        epsilons: eps grid in pixel units (0 is added if missing, for the clean point).
        masking_eps: eps of the gradient-masking report; ``None`` skips it.
        out_dir: where report.json, report.md and the PNG figures go (``None``: write nothing).
        logdir: TensorBoard log directory (``None``: no TensorBoard logs).
        model_name: display name.
        batch_size: examples per attack call.
        bounds: (low, high) of valid pixel values.
        extra: more JSON-ready entries for report.json (e.g. training settings).
        progress: progress bar of each attack's sweep (see ``tfrobust.evaluation.robust_accuracy``).
        substitute: a model to craft transfer examples on; the masking report then also checks "transfer from
            a substitute stronger than white-box" (``tfrobust.evaluation.transfer_check``).

    Returns:
        A ``RobustnessReport``.
    """
    from tfrobust import plotting, tensorboard  # matplotlib and tf.summary only when a report is made

    epsilons = sorted({0.0, *map(float, epsilons)})
    sweeps = {}
    for name, attack in attacks.items():
        sweeps[name] = epsilon_sweep(model, x, y, attack=attack, epsilons=epsilons, batch_size=batch_size,
                                     bounds=bounds, progress=progress)
        sweeps[name].model_name = model_name
    first = next(iter(sweeps.values()))
    masking = masking_report(model, x, y, eps=masking_eps, bounds=bounds, substitute=substitute) if masking_eps else None
    report = RobustnessReport(model_name, first.clean_accuracy, first.n, sweeps, masking, extra=dict(extra or {}))

    # Clean vs adversarial examples from the last attack at the largest eps, for a picture.
    last_attack = as_attack(list(attacks.values())[-1])
    n_show = min(16, len(x))
    x_show, y_show = np.asarray(x[:n_show], np.float32), np.asarray(y[:n_show])
    x_adv = np.asarray(last_attack(model, x_show, y_show, eps=epsilons[-1], bounds=bounds))

    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        figures = {
            "accuracy_vs_eps": plotting.plot_accuracy_vs_epsilon(sweeps, os.path.join(out_dir, "accuracy_vs_eps.png"),
                                                                 dataset=(extra or {}).get("dataset")),
            "drop_vs_eps": plotting.plot_drop_vs_epsilon(sweeps, os.path.join(out_dir, "drop_vs_eps.png"),
                                                         dataset=(extra or {}).get("dataset")),
            "adversarial_examples": plotting.plot_adversarial_grid(
                x_show, x_adv, y_show, predict_labels(model, x_show), predict_labels(model, x_adv),
                path=os.path.join(out_dir, "adversarial_examples.png")),
        }
        report.files.update({k: os.path.join(out_dir, f"{k}.png") for k in figures})
        report.files["json"] = os.path.join(out_dir, "report.json")
        report.files["markdown"] = os.path.join(out_dir, "report.md")
        write_json_atomic(report.files["json"], report.to_dict())
        write_text_atomic(report.files["markdown"], report.markdown())
        import matplotlib.pyplot as plt

        for fig in figures.values():
            plt.close(fig)
    if logdir:
        for name, sweep in sweeps.items():
            tensorboard.log_sweep(logdir, name, sweep)
        tensorboard.log_image_grid(logdir, f"{last_attack.label}_eps{epsilons[-1]:g}", x_show, x_adv)
        if masking is not None:
            tensorboard.log_scalars(logdir, {"masking/suspicious": float(masking.suspicious)}, step=0)
    return report
