"""Read the side-by-side benchmark results (``benchmarks/results/*.json``) for the Performance appendix."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def result_files(folder: Path) -> list[tuple[dict, str]]:
    """(result, file name) of every full-scale result file that can be read; the rest are skipped."""
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            result = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not result.get("tiny") and result.get("rows"):
            found.append((result, path.name))
    return found


def newest_rows(found: list[tuple[dict, str]]) -> pd.DataFrame:
    """For each benchmark, its rows from the newest run that has any; each row keeps its file and date."""
    chosen: dict[str, tuple[str, list[dict], dict, str]] = {}
    for result, name in found:
        for row in result["rows"]:
            when = row.get("measured") or result.get("machine", {}).get("date", "")
            key = row.get("benchmark", "?")
            if key not in chosen or when > chosen[key][0]:
                chosen[key] = (when, [], result.get("machine", {}), name)
            if chosen[key][0] == when:
                chosen[key][1].append(row)
    records = []
    for benchmark, (when, rows, machine, name) in chosen.items():
        for row in rows:
            records.append({**row, "measured": when[:10], "file": name, "machine": machine,
                            "reproduce": f"python -m benchmarks --only {benchmark} --json benchmarks/results/{name} --merge"})
    return pd.DataFrame(records)
