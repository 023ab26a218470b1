"""Record a build's per-chapter execution times in book/execution_times.json.

    python scripts/record_execution_times.py [_build/html/reports/execution.json]

The build writes reports/execution.json (book/_ext/execution_report.py); this copies its
times into the committed record under the build's run mode, replacing that mode's previous
entry. The landing page and the instructor guide show the record as a table, so the times a
reader sees per mode come from real builds, never from typing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "book" / "_ext"))

from generated_pages import RECORD, record_report  # noqa: E402


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
