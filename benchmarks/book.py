"""Per-chapter execution time of the last book build, against the 3-minute quick-mode budget.

Read from ``_build/html/reports/execution.json``, which the build writes (the
``execution_report`` extension in ``book/_ext``), so no time is retyped.
"""

from __future__ import annotations

import json
from pathlib import Path

from .common import Row

REPORT = Path(__file__).resolve().parent.parent / "_build" / "html" / "reports" / "execution.json"
BUDGET_S = {"quick": 180.0, "smoke": 30.0}


def read_report(path: Path = REPORT) -> dict:
    """The execution report of the last build; clear error when there has been none."""
    if not path.is_file():
        raise FileNotFoundError(f"no execution report at {path}: build the book first "
                                "(bash scripts/build-book.sh)")
    return json.loads(path.read_text())


def run(*, tiny: bool = False, repeats: int = 1, path: Path = REPORT) -> list[Row]:
    """One row per executed chapter: budget (baseline) vs measured seconds."""
    report = read_report(path)
    budget = BUDGET_S.get(report["mode"])
    rows = []
    for docname, entry in report["chapters"].items():
        if entry.get("seconds") is None:
            continue
        rows.append(Row("book", f"{Path(docname).name} ({report['mode']} mode)",
                        "budget" if budget else "no budget for this mode",
                        budget or entry["seconds"], entry["seconds"], "s", higher_is_better=False,
                        note=f"build of {report['created']}, device {report['device']}"
                             + ("" if entry.get("succeeded") else ", FAILED")))
    return rows
