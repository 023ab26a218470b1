"""Per-chapter execution time of the last book build, against its run mode's budget.

Read from ``_build/html/reports/execution.json``, which the build writes (the
``execution_report`` extension in ``book/_ext``), so no time is retyped. The budgets are
DESIGN.md's: at most 3 minutes per chapter in quick mode (2 CPU cores), 30 s in smoke mode;
full mode ("minutes per chapter on one GPU") has no number, so nothing is flagged there.

``python -m benchmarks.book [REPORT]`` prints the build summary (``scripts/build-book.sh``
prints it after every build): each chapter's time, whether it ran in this build or came from
the execution cache, and a flag on every chapter over its budget. Budgets are reported, never
asserted by a test: on a shared machine a slow chapter is a thing to look at, not a failure.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from .common import Row

REPORT = Path(__file__).resolve().parent.parent / "_build" / "html" / "reports" / "execution.json"
BUDGET_S = {"quick": 180.0, "smoke": 30.0}


@dataclass(frozen=True)
class ChapterTime:
    """One executed notebook of a build: its time (s), its mode's budget (s, or None) and the verdict."""

    docname: str
    seconds: float | None
    budget_s: float | None
    succeeded: bool

    @property
    def over_budget(self) -> bool:
        """True when the chapter ran longer than its mode's budget (never for a mode without one)."""
        return self.budget_s is not None and self.seconds is not None and self.seconds > self.budget_s


def read_report(path: Path = REPORT) -> dict:
    """The execution report of the last build; clear error when there has been none."""
    if not path.is_file():
        raise FileNotFoundError(f"no execution report at {path}: build the book first "
                                "(bash scripts/build-book.sh)")
    return json.loads(path.read_text())


def budget_for(mode: str) -> float | None:
    """Seconds one chapter may take in ``mode`` (None where DESIGN.md sets no number: full mode)."""
    return BUDGET_S.get(mode)


def chapter_times(report: dict) -> list[ChapterTime]:
    """Every notebook of the report, in its order, with its mode's budget attached.

    Raises:
        ValueError: if the report has no ``mode`` or no ``chapters`` (not an execution report).
    """
    if "mode" not in report or not isinstance(report.get("chapters"), dict):
        raise ValueError("not an execution report: expected 'mode' and 'chapters' "
                         "(the file the book build writes to _build/html/reports/execution.json)")
    budget = budget_for(report["mode"])
    return [ChapterTime(doc, None if entry.get("seconds") is None else float(entry["seconds"]), budget,
                        bool(entry.get("succeeded")))
            for doc, entry in report["chapters"].items()]


def over_budget(report: dict) -> list[ChapterTime]:
    """The chapters of ``report`` that ran longer than their mode's budget."""
    return [chapter for chapter in chapter_times(report) if chapter.over_budget]


def summary(report: dict, executed: set[str] | None = None) -> str:
    """The build summary: one line per chapter (time, budget, executed or cached, flags), then a verdict.

    ``executed``: the docnames that ran in this build (the rest came from the execution
    cache); None when unknown.
    """
    chapters = chapter_times(report)
    mode = report["mode"]
    budget = budget_for(mode)
    lines = [f"[book] execution summary ({mode} mode, "
             + (f"budget {budget:.0f} s per chapter" if budget else "no time budget for this mode") + ")"]
    for chapter in chapters:
        seconds = "   n/a" if chapter.seconds is None else f"{chapter.seconds:6.1f}"
        how = "" if executed is None else ("  executed" if chapter.docname in executed else "  cached  ")
        flags = []
        if chapter.over_budget:
            flags.append(f"OVER BUDGET by {chapter.seconds - chapter.budget_s:.0f} s")
        if not chapter.succeeded:
            flags.append("FAILED")
        lines.append(f"  {Path(chapter.docname).name:32s} {seconds} s{how}  {'  '.join(flags)}".rstrip())
    late = [c for c in chapters if c.over_budget]
    if late:
        lines.append(f"[book] {len(late)} chapter(s) over the {mode}-mode budget of {budget:.0f} s: "
                     + ", ".join(Path(c.docname).name for c in late))
    elif budget:
        lines.append(f"[book] every chapter within the {mode}-mode budget of {budget:.0f} s")
    return "\n".join(lines)


def run(*, tiny: bool = False, repeats: int = 1, path: Path = REPORT) -> list[Row]:
    """One row per executed chapter: budget (baseline) vs measured seconds."""
    report = read_report(path)
    rows = []
    for chapter in chapter_times(report):
        if chapter.seconds is None:
            continue
        rows.append(Row("book", f"{Path(chapter.docname).name} ({report['mode']} mode)",
                        "budget" if chapter.budget_s else "no budget for this mode",
                        chapter.budget_s or chapter.seconds, chapter.seconds, "s", higher_is_better=False,
                        note=f"build of {report['created']}, device {report['device']}"
                             + ("" if chapter.succeeded else ", FAILED")
                             + (", OVER BUDGET" if chapter.over_budget else "")))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the build summary of a report; the exit status is 0 even when a chapter is over budget."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.book", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", nargs="?", type=Path, default=REPORT)
    parser.add_argument("--executed", type=Path,
                        help="a file listing, one per line, the docnames executed in this build")
    args = parser.parse_args(argv)
    try:
        report = read_report(args.report)
        executed = None
        if args.executed is not None and args.executed.is_file():
            executed = {line.strip() for line in args.executed.read_text().splitlines() if line.strip()}
        print(summary(report, executed))
    except (FileNotFoundError, ValueError) as error:
        print(f"[book] no execution summary: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
