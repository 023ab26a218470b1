"""python -m benchmarks [--only NAME ...] [--json PATH [--merge]] [--tiny] [--repeats N]

With ``--merge`` the rows of the benchmarks run now replace those benchmarks' rows in an
existing result file and every other row is kept, so one file per machine can collect runs
of single benchmarks; every row records the date and machine load of its own run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import traceback
from pathlib import Path

from .common import Row, format_table, machine

BENCHMARKS = ["lenet", "gradcam", "dicom", "phantom", "book"]


def run_benchmarks(names: list[str], *, tiny: bool, repeats: int) -> tuple[list[Row], dict[str, str]]:
    """Run the named benchmarks; return their rows and, per failed benchmark, the error."""
    rows: list[Row] = []
    failures: dict[str, str] = {}
    for name in names:
        print(f"[benchmarks] {name} ...", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            rows.extend(module.run(tiny=tiny, repeats=repeats))
        except Exception as error:  # report and go on with the others
            failures[name] = f"{type(error).__name__}: {error}"
            traceback.print_exc()
    return rows, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these")
    parser.add_argument("--json", type=Path, help="write the results (with the machine) to this file")
    parser.add_argument("--tiny", action="store_true", help="a seconds-long configuration (for tests)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (default 3, tiny 1)")
    parser.add_argument("--merge", action="store_true",
                        help="keep the rows of the other benchmarks already in the --json file")
    args = parser.parse_args(argv)
    if args.merge and not args.json:
        parser.error("--merge needs --json PATH")
    repeats = args.repeats or (1 if args.tiny else 3)
    names = args.only or BENCHMARKS
    rows, failures = run_benchmarks(names, tiny=args.tiny, repeats=repeats)
    print(format_table(rows))
    for name, error in failures.items():
        print(f"{name}: FAILED ({error})")
    if args.json:
        here = machine()
        new_rows = [{**r.as_dict(), "measured": here["date"], "load_average": here["load_average"],
                     "repeats": repeats} for r in rows]
        kept: list[dict] = []
        if args.merge and args.json.is_file():
            old = json.loads(args.json.read_text())
            if bool(old.get("tiny")) != args.tiny:
                parser.error(f"{args.json} holds {'tiny' if old.get('tiny') else 'full'} results; "
                             "merge only runs of the same kind")
            kept = [row for row in old.get("rows", []) if row["benchmark"] not in names]
            failures = {**{k: v for k, v in old.get("failures", {}).items() if k not in names}, **failures}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": here, "tiny": args.tiny, "repeats": repeats,
                                         "rows": kept + new_rows, "failures": failures}, indent=2))
        print(f"wrote {args.json}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
