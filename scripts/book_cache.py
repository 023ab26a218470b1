"""The book build's execution cache, keyed on everything a chapter's outputs depend on.

    python scripts/book_cache.py select _build [--fresh]
    python scripts/book_cache.py executed _build --out FILE

Jupyter Book runs with ``execute_notebooks: cache`` (``_config.yml``): jupyter-cache keeps
each executed notebook under a hash of its code cells, so a rebuild re-executes only the
chapters whose code changed. That hash cannot see what a chapter imports or reads, so
``scripts/build-book.sh`` keys the whole cache on the rest of what outputs depend on:

* the source of the ``cxrlab`` package the kernels import (every ``*.py`` under it);
* the run mode (smoke, quick or full, as ``cxrlab.runtime`` resolves it) and every other
  ``CXRLAB_*`` setting except the progress bar;
* the data each chapter would load (``data_scripts/fetch.py --list``: real set or stand-in);
* the benchmark result files the Performance appendix reads;
* the installed packages and their versions, and the Python version.

``select`` points ``_build/.jupyter_cache`` (where myst-nb looks) at
``_build/.jupyter_caches/<key>``; when the key differs from the previous build's it says so,
and the build script then re-reads every page (``--all``), so every chapter goes through the
new cache: a changed package re-executes all chapters, a return to an earlier key (smoke, then
quick again) finds its executed notebooks still there. ``--fresh`` empties the current key's
cache first, which forces a full execution. The four most recently used caches are kept.
``executed`` lists the chapters executed by the last build (the rest came from the cache),
for the build summary.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHES = ".jupyter_caches"      # inside the build folder: one sub-folder per key
LINK = ".jupyter_cache"         # the path myst-nb uses by default (<build>/.jupyter_cache)
STATE = ".jupyter_cache.json"   # the previous build's key and the cache records before this build
KEEP = 4
IGNORED_SETTINGS = {"CXRLAB_PROGRESS"}  # progress bars change no output the book keeps


def package_source_digest(package_dir: Path) -> str:
    """SHA-256 over the relative path and bytes of every ``*.py`` file under ``package_dir``.

    Raises:
        FileNotFoundError: if ``package_dir`` holds no Python file.
    """
    files = sorted(p for p in Path(package_dir).rglob("*.py") if "__pycache__" not in p.parts)
    if not files:
        raise FileNotFoundError(f"no Python source under {package_dir}")
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(package_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def key_inputs(*, package_dir: Path, mode: str, data_listing: str, environ: dict[str, str] | None = None,
               result_files: list[Path] = (), packages: dict[str, str] | None = None,
               python: str | None = None) -> dict:
    """The named inputs of the cache key (a dict that ``cache_key`` hashes)."""
    environ = os.environ if environ is None else environ
    return {
        "cxrlab": package_source_digest(package_dir),
        "mode": mode,
        "settings": {k: v for k, v in sorted(environ.items())
                     if k.startswith("CXRLAB_") and k not in IGNORED_SETTINGS and k != "CXRLAB_MODE"},
        "data": data_listing,
        "results": {Path(p).name: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in sorted(result_files)},
        "packages": dict(sorted((packages or {}).items())),
        "python": python or platform.python_version(),
    }


def cache_key(inputs: dict) -> str:
    """A 16-hex-digit key: the SHA-256 of the inputs written as sorted JSON."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def current_inputs(data_listing: str | None = None) -> dict:
    """The key inputs of this machine and checkout, for the interpreter that runs the kernels.

    ``data_listing``: the output of ``data_scripts/fetch.py --list`` if the caller has it
    already (the build script prints it anyway); otherwise it is run here.
    """
    import cxrlab
    from cxrlab.runtime import choose_mode, detect_device

    mode = choose_mode(None, detect_device())
    listing = data_listing if data_listing is not None else subprocess.run(
        [sys.executable, str(REPO / "data_scripts" / "fetch.py"), "--list"],
        capture_output=True, text=True, cwd=REPO).stdout
    packages = {d.metadata["Name"]: d.version for d in importlib.metadata.distributions() if d.metadata["Name"]}
    return key_inputs(package_dir=Path(cxrlab.__file__).parent, mode=mode, data_listing=listing,
                      result_files=sorted((REPO / "benchmarks" / "results").glob("*.json")), packages=packages)


def _records(cache_dir: Path) -> dict[int, str]:
    """{primary key: notebook path} of the executed notebooks in a jupyter-cache folder."""
    if not (cache_dir / "global.db").is_file():
        return {}
    from jupyter_cache import get_cache

    return {record.pk: record.uri for record in get_cache(str(cache_dir)).list_cache_records()}


def select(build: Path, key: str, *, fresh: bool = False, keep: int = KEEP) -> bool:
    """Point ``build/.jupyter_cache`` at the cache of ``key``; True when every page must be re-read.

    Re-reading is needed when the key differs from the previous build's, when ``fresh``
    empties the cache, or when there is no previous build to compare with.
    """
    build.mkdir(parents=True, exist_ok=True)
    caches = build / CACHES
    target = caches / key
    if fresh and target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True, exist_ok=True)
    os.utime(target)  # most recently used
    link = build / LINK
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.is_dir():  # a cache written by a plain `jupyter-book build`: its key is unknown
        shutil.rmtree(link)
    link.symlink_to(Path(CACHES) / key, target_is_directory=True)
    state_path = build / STATE
    previous = json.loads(state_path.read_text()) if state_path.is_file() else {}
    state_path.write_text(json.dumps({"key": key, "before": sorted(_records(target))}))
    for old in sorted((p for p in caches.iterdir() if p.is_dir() and p != target),
                      key=lambda p: p.stat().st_mtime, reverse=True)[max(keep - 1, 0):]:
        shutil.rmtree(old)
    return fresh or previous.get("key") != key


def executed(build: Path) -> list[str]:
    """Docnames (``book/02_lenet5_mnist``) of the notebooks the last build executed and cached."""
    state = json.loads((build / STATE).read_text())
    records = _records(build / CACHES / state["key"])
    before = set(state["before"])
    names = []
    for pk, uri in sorted(records.items()):
        if pk in before:
            continue
        path = Path(uri)
        try:
            names.append(path.resolve().relative_to(REPO).with_suffix("").as_posix())
        except ValueError:
            names.append(path.with_suffix("").as_posix())
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    chosen = sub.add_parser("select", help="point the build's cache at the current key")
    chosen.add_argument("build", type=Path)
    chosen.add_argument("--fresh", action="store_true", help="empty the current key's cache first")
    chosen.add_argument("--data-listing", type=Path, help="a file holding the output of fetch.py --list")
    done = sub.add_parser("executed", help="list the notebooks the last build executed")
    done.add_argument("build", type=Path)
    done.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "select":
        inputs = current_inputs(args.data_listing.read_text() if args.data_listing else None)
        key = cache_key(inputs)
        reread = select(args.build, key, fresh=args.fresh)
        print(f"[book] execution cache {key} ({inputs['mode']} mode)"
              + ("; fresh: every chapter executes" if args.fresh else "")
              + ("; key changed: every page is re-read" if reread and not args.fresh else ""), file=sys.stderr)
        print("reread" if reread else "incremental")
    else:
        args.out.write_text("".join(f"{name}\n" for name in executed(args.build)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
