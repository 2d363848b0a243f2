"""Writes docs/reproduction.md from the seed studies' results files (tfrobust.studies.reproduction).

Every seed table and figure with our numbers beside the published ones, the protocol differences, an agreement
measure and a paragraph wherever we disagree; studies without results are listed with the command that makes them.

Usage:
    python experiments/reproduction_report.py                      # results/ -> docs/reproduction.md
    python experiments/reproduction_report.py --results_root=/tmp/r --docs_dir=/tmp/docs
"""
from __future__ import annotations

import dataclasses

from tfrobust.studies.config import Settings
from tfrobust.studies.flags import run_script


@dataclasses.dataclass(frozen=True)
class ReproductionConfig(Settings):
    """Where the page reads from and writes to.

    Attributes:
        results_root: Root directory of the studies' results (results/<study>/<preset>/results.json).
        docs_dir: Directory of reproduction.md and its figures/.
    """

    results_root: str = "results"
    docs_dir: str = "docs"


def main(config: ReproductionConfig) -> None:
    from tfrobust.studies.reproduction import build_reproduction

    text = build_reproduction(config.results_root, config.docs_dir)
    print(f"Wrote {config.docs_dir}/reproduction.md ({len(text.splitlines())} lines).")


if __name__ == "__main__":
    run_script(main, ReproductionConfig)
