"""python -m benchmarks [--only NAME ...] [--json PATH] [--tiny] [--repeats N]"""

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
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.tiny else 3)
    rows, failures = run_benchmarks(args.only or BENCHMARKS, tiny=args.tiny, repeats=repeats)
    print(format_table(rows))
    for name, error in failures.items():
        print(f"{name}: FAILED ({error})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": machine(), "tiny": args.tiny, "repeats": repeats,
                                         "rows": [r.as_dict() for r in rows], "failures": failures},
                                        indent=2))
        print(f"wrote {args.json}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
