"""Record a build's per-chapter execution times in book/execution_times.json, and render them.

    python -m tools.execution_times [_build/html/reports/execution.json]

The build writes reports/execution.json (book/_ext/execution_report.py); this copies its
times into the committed record under the build's run mode, replacing that mode's previous
entry. The landing page and the instructor guide show the record as a table (rendered at
build time by book/_ext/generated_pages.py with :func:`execution_table`), so the times a
reader sees per mode come from real builds, never from typing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tools.notebooks import notebook_markdown

REPO = Path(__file__).resolve().parent.parent
MODES = ("smoke", "quick", "full")
RECORD = "execution_times.json"


def chapter_titles(book: Path) -> dict[str, str]:
    """Doc name (book/01_cnn_basics) -> the chapter's first heading, for every notebook in book/."""
    return {f"book/{path.stem}": notebook_markdown(path)[0] for path in sorted(Path(book).glob("*.ipynb"))}


def record_report(record: dict, report: dict) -> dict:
    """Return ``record`` with ``report`` (a build's reports/execution.json) stored under its mode.

    Only a build whose every notebook succeeded can be recorded; the entry keeps the
    build's date, device and core count next to the seconds per chapter.

    Raises:
        ValueError: the report's mode is not one of MODES, or a notebook failed or none ran.
    """
    mode = report.get("mode")
    if mode not in MODES:
        raise ValueError(f"the report's mode is {mode!r}; expected one of {', '.join(MODES)}")
    chapters = report.get("chapters") or {}
    failed = [doc for doc, entry in chapters.items() if not entry.get("succeeded")]
    if not chapters or failed:
        raise ValueError("only a build whose every notebook ran can be recorded; "
                         f"failed or missing: {', '.join(failed) or 'all'}")
    updated = {"modes": dict(record.get("modes", {}))}
    updated["modes"][mode] = {
        "built": report["created"], "device": report["device"], "cpu_count": report.get("cpu_count"),
        "seconds": {doc: round(float(entry["seconds"]), 1) for doc, entry in sorted(chapters.items())},
    }
    return updated


def execution_table(record: dict, titles: dict[str, str], link_prefix: str = "") -> str:
    """A MyST table: one row per executed notebook, one column per run mode (seconds).

    ``link_prefix`` is put before each notebook's file name in its link (the table is included
    by pages in another folder than the chapters, e.g. ``"../book/"``).
    """
    modes = [m for m in MODES if m in record.get("modes", {})]
    if not modes:
        return "No build has been recorded yet (`python -m tools.execution_times`).\n"
    docs = sorted({doc for m in modes for doc in record["modes"][m]["seconds"]})
    header = "| chapter | " + " | ".join(f"{m} (s)" for m in modes) + " |"
    lines = [header, "|---|" + "---:|" * len(modes)]
    for doc in docs:
        cells = [record["modes"][m]["seconds"].get(doc) for m in modes]
        lines.append(f"| [{titles.get(doc, doc)}]({link_prefix}{Path(doc).name}.ipynb) | "
                     + " | ".join("–" if c is None else f"{c:.0f}" for c in cells) + " |")
    totals = [sum(record["modes"][m]["seconds"].values()) / 60 for m in modes]
    lines.append("| **all chapters (min)** | " + " | ".join(f"**{t:.1f}**" for t in totals) + " |")
    notes = [f"{m}: built {record['modes'][m]['built'][:10]} on {record['modes'][m]['device']}"
             + (f" with {record['modes'][m]['cpu_count']} cores" if record["modes"][m].get("cpu_count") else "")
             for m in modes]
    missing = [m for m in MODES if m not in modes]
    if missing:
        notes.append(f"not recorded yet: {', '.join(missing)}")
    return "\n".join(lines) + "\n\n" + "; ".join(notes) + ".\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", nargs="?", type=Path, default=REPO / "_build" / "html" / "reports" / "execution.json")
    parser.add_argument("--record", type=Path, default=REPO / "book" / RECORD)
    args = parser.parse_args(argv)
    if not args.report.is_file():
        parser.error(f"no report at {args.report}: build the book first (bash scripts/build-book.sh)")
    record = json.loads(args.record.read_text()) if args.record.is_file() else {}
    report = json.loads(args.report.read_text())
    try:
        updated = record_report(record, report)
    except ValueError as error:
        parser.error(str(error))
    args.record.write_text(json.dumps(updated, indent=2) + "\n")
    print(f"recorded the {report['mode']} build of {report['created']} ({args.report}) in {args.record}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
