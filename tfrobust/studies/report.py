"""``StudyReport``: the builder of a study's ``results.md``.

Every study writes the same kinds of blocks: a header (title, what the seed did and what we ran), per-model
sections with a table of our numbers beside the seed's, the seed's findings, a direction table (the seed's
verdict next to ours) and a footer naming the figures, the TensorBoard directory and the wall time. A study
chains them and calls ``markdown()``::

    report = StudyReport("Magnitude pruning and FGSM robustness", run)
    report.paragraph("Reproduces seed 004 ...")
    report.section("fc5").table(rows, columns).findings(findings, intro="Published ...:")
    report.directions("Direction of the effect", rows, ["model", "seed 004", "ours"])
    text = report.footer(figures=["fc5_accuracy.png"]).markdown()

Metric columns are data: ``metric_rows(entries, columns)`` takes ``(header, key)`` pairs, so adding a measure
to a study's table (e.g. an AutoAttack accuracy recorded under ``"autoattack"``) is one more pair.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from tfrobust.io import markdown_table

#: A metric column: its header and either the entry's key or a function of the entry.
Column = Tuple[str, Union[str, Callable[[Any], Any]]]


def format_percent(value: Optional[float], digits: int = 1) -> str:
    """Formats a fraction as a percentage string, ``"—"`` when missing."""
    if value is None:
        return "—"
    return f"{100.0 * value:.{digits}f}"


def training_summary(config, optimizer: str = "Adam") -> str:
    """``"<dataset> (<n> training examples, <epochs> epochs, batch <b>, <optimizer> <lr>)"`` of a study's config."""
    return (f"{config.dataset} ({config.train_size or 'all'} training examples, {config.epochs} epochs, batch "
            f"{config.batch_size}, {optimizer} {config.learning_rate:g})")


def findings_markdown(findings: Iterable[Any]) -> str:
    """A markdown bullet list of published findings: citation, setting, statement and direction."""
    return "\n".join(f"- **{f.citation}** ({f.setting}): {f.statement} Direction: *{f.direction}*."
                     for f in findings)


def masking_cell(masking: Mapping[str, Any]) -> str:
    """A table cell for a masking report's dict: ``"clean"`` or ``"SUSPICIOUS: <checks that fired>"``."""
    return ("SUSPICIOUS: " + ", ".join(masking["fired"])) if masking["suspicious"] else "clean"


def metric_rows(entries: Mapping[str, Any], columns: Sequence[Column], label: str) -> List[Dict[str, Any]]:
    """One row per entry: ``label`` -> the entry's name, then each metric column.

    Args:
        entries: row name -> entry (a mapping, or an object read by the column functions).
        columns: ``(header, key or function of the entry)`` pairs, in table order.
        label: header of the first column.
    """
    rows = []
    for name, entry in entries.items():
        row: Dict[str, Any] = {label: name}
        for header, source in columns:
            row[header] = source(entry) if callable(source) else entry[source]
        rows.append(row)
    return rows


def mean_std_rows(groups: Mapping[str, Sequence[Any]], columns: Sequence[Column], label: str) -> List[Dict[str, Any]]:
    """``metric_rows`` over seeds: one row per group of entries (one entry per seed), each number mean ± std.

    A column whose values are not numbers (a masking cell, an AutoAttack label) shows its distinct values.
    """
    from tfrobust.studies.verdicts import format_mean_std

    rows = []
    for name, entries in groups.items():
        row: Dict[str, Any] = {label: name, "seeds": len(entries)}
        for header, source in columns:
            values = [source(e) if callable(source) else e[source] for e in entries]
            if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in values):
                row[header] = format_mean_std(values)
            else:
                row[header] = "; ".join(dict.fromkeys(str(x) for x in values))
        rows.append(row)
    return rows


class StudyReport:
    """Builds a study's ``results.md`` block by block (each method returns the report, for chaining).

    Args:
        title: the report's title; the run's name is appended.
        run: the study's ``RunStore`` (its name, TensorBoard directory and wall time go into the report).
    """

    def __init__(self, title: str, run):
        self.run = run
        self.lines: List[str] = [f"# {title} ({run.name})", ""]

    def paragraph(self, text: str) -> "StudyReport":
        """A paragraph of prose (the setting, what the columns mean)."""
        self.lines += [text, ""]
        return self

    def section(self, heading: str) -> "StudyReport":
        """A ``##`` heading (one per model, or per part of the study)."""
        self.lines += [f"## {heading}", ""]
        return self

    def table(self, rows: Sequence[Any], columns: Optional[Sequence[str]] = None,
              float_format: str = ".3f") -> "StudyReport":
        """A markdown table (``tfrobust.io.markdown_table``); columns default to the first row's keys."""
        if rows:
            self.lines += [markdown_table(rows, list(columns or rows[0]), float_format=float_format), ""]
        return self

    def findings(self, findings: Sequence[Any], intro: Optional[str] = None,
                 missing: str = "- (no finding for this model in the seed)") -> "StudyReport":
        """The seed's findings as a bullet list (``tfrobust.studies.published.PublishedFinding``)."""
        if intro:
            self.lines += [intro, ""]
        self.lines += [findings_markdown(findings) if findings else missing, ""]
        return self

    def directions(self, heading: str, rows: Sequence[Sequence[Any]],
                   columns: Sequence[str] = ("effect", "seed", "ours")) -> "StudyReport":
        """A section comparing the seed's direction of each effect with ours (skipped when there are no rows)."""
        if rows:
            self.section(heading).table(rows, columns)
        return self

    def bullets(self, items: Sequence[str]) -> "StudyReport":
        """A bullet list."""
        if items:
            self.lines += [f"- {item}" for item in items] + [""]
        return self

    def footer(self, figures: Sequence[str] = (), note: str = "") -> "StudyReport":
        """Names the figures, the TensorBoard directory and the run's wall time."""
        parts = [f"Figures: {', '.join(f'`{f}`' for f in figures)}."] if figures else []
        if note:
            parts.append(note)
        parts.append(f"TensorBoard: `{self.run.logdir}`. Wall time: {self.run.wall_time_s:.0f} s.")
        self.lines += [" ".join(parts), ""]
        return self

    def markdown(self) -> str:
        """The report's text."""
        return "\n".join(self.lines)
