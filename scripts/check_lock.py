"""Compare requirements.lock with requirements.txt: which requirements the lock lacks or contradicts.

    python scripts/check_lock.py                      # report; exit 1 when the lock is stale
    python scripts/check_lock.py --constraints OUT    # also write the usable pins to OUT

``scripts/setup-env.sh`` installs ``-r requirements.txt -c <usable pins>``: a requirement the
lock lacks installs from its range, and a pin that contradicts requirements.txt (a raised
floor after a merge) is left out, so set-up never fails on a stale lock; it only warns.
``bash scripts/update-lock.sh --keep`` makes the lock whole again.
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import sys
from pathlib import Path

try:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # a new virtual environment has only pip, which carries its own copy
    from pip._vendor.packaging.requirements import InvalidRequirement, Requirement
    from pip._vendor.packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def read_requirements(path: Path) -> list[Requirement]:
    """The requirements of a requirements file (comments, options and blank lines skipped)."""
    out = []
    for raw in path.read_text().splitlines():
        line = raw.split(" #")[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            out.append(Requirement(line))
        except InvalidRequirement as error:
            raise SystemExit(f"{path.name}: cannot read requirement {line!r}: {error}") from None
    return out


def read_lock(path: Path) -> dict[str, str]:
    """name (canonical) -> pinned version of a lock file written by ``uv pip compile``."""
    pins = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def compare(requirements: list[Requirement], pins: dict[str, str]) -> tuple[list[str], list[str]]:
    """(requirements the lock lacks, requirements whose pinned version falls outside their range)."""
    missing, conflicting = [], []
    for req in requirements:
        if req.marker is not None and not req.marker.evaluate():
            continue
        version = pins.get(canonicalize_name(req.name))
        if version is None:
            missing.append(str(req))
        elif req.specifier and not req.specifier.contains(version, prereleases=True):
            conflicting.append(f"{req} (locked {version})")
    return missing, conflicting


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requirements", type=Path, default=REPO / "requirements.txt")
    parser.add_argument("--lock", type=Path, default=REPO / "requirements.lock")
    parser.add_argument("--constraints", type=Path, help="write the pins that agree with requirements.txt here")
    parser.add_argument("--exclude", nargs="*", default=[], metavar="PATTERN",
                        help="leave these packages' pins out of --constraints (e.g. torch 'nvidia-*': a host's own build)")
    args = parser.parse_args(argv)
    if not args.lock.is_file():
        print(f"[lock] {args.lock.name} is missing: installing from the ranges of {args.requirements.name}")
        if args.constraints:
            args.constraints.write_text("")
        return 1
    requirements, pins = read_requirements(args.requirements), read_lock(args.lock)
    missing, conflicting = compare(requirements, pins)
    if args.constraints:
        dropped = {canonicalize_name(Requirement(c.split(" (locked")[0]).name) for c in conflicting}
        patterns = [pattern.lower().replace("_", "-").replace(".", "-") for pattern in args.exclude]
        dropped |= {name for name in pins if any(fnmatch.fnmatch(name, pattern) for pattern in patterns)}
        args.constraints.write_text("".join(f"{name}=={version}\n" for name, version in sorted(pins.items())
                                            if name not in dropped))
    for what, items in (("lacks", missing), ("contradicts", conflicting)):
        if items:
            print(f"[lock] {args.lock.name} {what} {len(items)} requirement(s) of {args.requirements.name}: "
                  + ", ".join(items) + " -> installing those from their ranges; refresh the lock with "
                  "`bash scripts/update-lock.sh --keep`")
    return 1 if missing or conflicting else 0


if __name__ == "__main__":
    sys.exit(main())
