"""Write a student or instructor edition of the book's sources into a new folder.

    python -m tools.edition student  /tmp/cxrlab-student
    python -m tools.edition instructor /tmp/cxrlab-instructor
    python -m tools.edition student  /tmp/cxrlab-student --executed _build/jupyter_execute
    python -m tools.edition --version 2027.1 student /tmp/cxrlab-student-2027.1

(run from the repository root, or anywhere once the package is installed with ``pip install -e .``)

student: every "Solution" admonition is removed from the notebooks and pages (for graded
courses); the exercise checks stay, since they do not reveal answers.
instructor: solutions are shown open instead of collapsed.
The default edition (the repository itself) has the solutions collapsed. Build an edition
with `jupyter-book build <folder>`. Editions are generated, never edited by hand.

--executed FOLDER takes the notebooks *with their outputs* from a build of the default edition
(its ``_build/jupyter_execute``) and turns execution off in the edition's ``_config.yml``:
the edition then shows exactly the numbers of that build and builds in seconds. Solutions
are Markdown, so removing them cannot change what the code computed.

--version NAME stamps the edition: its title shows the version, and ``EDITION.json`` in the
edition records the version, the git commit and whether the tree was clean, so a course can
say which edition its numbers come from (see the instructor guide, "Versioned editions").

Solutions are found by :mod:`tools.notebooks`, the parser the tests use to run each
solution's self-check, so an edition can never drop a solution the tests do not see.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tools.notebooks import admonitions, remove, set_classes

ROOT = Path(__file__).resolve().parent.parent
EDITIONS = ("student", "instructor")


def solutions(text: str):
    """The Solution admonitions of a Markdown text (any fence: backticks or colons)."""
    return admonitions(text, "Solution")


def transform(text: str, edition: str) -> str:
    """The Markdown ``text`` as it appears in ``edition``.

    Args:
        text: MyST Markdown (a notebook cell or a page).
        edition: ``"student"`` removes every Solution admonition; ``"instructor"`` shows them
            open (the ``dropdown`` class removed).

    Returns:
        The transformed text; text outside solutions is unchanged.

    Raises:
        ValueError: for any other edition name.
    """
    if edition == "student":
        return remove(text, solutions(text))
    if edition == "instructor":
        return _open(text, solutions(text))
    raise ValueError(f"edition must be 'student' or 'instructor', got {edition!r}")


def _open(text: str, found) -> str:
    for solution in sorted(found, key=lambda d: d.start, reverse=True):
        text = set_classes(text, [solution], [c for c in solution.classes if c != "dropdown"])
    return text


def git_state(root: Path = ROOT) -> dict:
    """The commit of ``root`` and whether its tree is clean (None when git is unavailable)."""
    def git(*args):
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else None
    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain")
    return {"commit": commit, "clean": None if status is None else status == ""}


def restore_glue(notebook: dict, glued: dict) -> int:
    """Put back the glued values that myst-nb took out of an executed notebook; return how many.

    When it executes a notebook, myst-nb moves every ``glue(..., display=False)`` output
    into ``<name>.glue.json``, so the saved notebook alone cannot fill ``{glue:text}`` roles.
    The outputs are appended, with their papermill prefix, to the last code cell (they are
    never displayed, so where they sit does not matter).
    """
    present = {o.get("metadata", {}).get("scrapbook", {}).get("name")
               for cell in notebook["cells"] if cell["cell_type"] == "code" for o in cell.get("outputs", [])}
    code_cells = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    restored = 0
    for name, output in glued.items():
        prefix = output.get("metadata", {}).get("scrapbook", {}).get("mime_prefix", "")
        if name in present or not prefix or not code_cells:
            continue
        code_cells[-1].setdefault("outputs", []).append(
            {**output, "data": {prefix + mime: value for mime, value in output["data"].items()}})
        restored += 1
    return restored


def make_edition(edition: str, out: Path, executed: Path | None = None, version: str | None = None) -> int:
    """Copy the book's sources to ``out`` and transform them; return the solutions touched.

    Args:
        edition: ``"student"`` or ``"instructor"``.
        out: a folder that does not exist yet.
        executed: a default build's ``_build/jupyter_execute`` folder; its executed notebooks
            replace the (output-free) sources and the edition is built without executing them.
        version: a name for this edition (e.g. ``"2027.1"``), shown in its title and recorded
            with the git commit in ``out/EDITION.json``.

    Returns:
        How many Solution admonitions were removed (student) or opened (instructor).

    Raises:
        ValueError: an unknown edition, or a ``_config.yml`` whose execution cannot be turned off.
        FileExistsError: ``out`` exists.
        FileNotFoundError: ``executed`` lacks one of the book's notebooks.
    """
    if edition not in EDITIONS:
        raise ValueError(f"edition must be 'student' or 'instructor', got {edition!r}")
    if out.exists():
        raise FileExistsError(f"{out} exists; remove it or choose another folder")
    shutil.copytree(ROOT / "book", out / "book", ignore=shutil.ignore_patterns("_build", "*.ipynb_checkpoints"))
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, out / name)
    label = f"{edition} edition" + (f" {version}" if version else "")
    config = (out / "_config.yml").read_text().replace("title: \"", f"title: \"[{label}] ", 1)
    if executed is not None:
        missing = [p.name for p in sorted((out / "book").glob("*.ipynb")) if not (executed / "book" / p.name).is_file()]
        if missing:
            raise FileNotFoundError(f"{executed} lacks the executed {', '.join(missing)}; build the default "
                                    "edition first (bash scripts/build-book.sh) and pass its _build/jupyter_execute")
        config, switched = re.subn(r"execute_notebooks: \S+", "execute_notebooks: \"off\"", config, count=1)
        if not switched:
            raise ValueError("expected an 'execute_notebooks:' line in _config.yml, to switch it off")
    (out / "_config.yml").write_text(config)
    (out / "benchmarks").symlink_to(ROOT / "benchmarks")  # the Performance appendix reads results
    if (ROOT / "_mathjax").is_dir():  # offline MathJax (scripts/vendor_mathjax.sh), served from the build
        (out / "_mathjax").symlink_to(ROOT / "_mathjax")
    touched = 0
    for path in sorted((out / "book").rglob("*.ipynb")):
        if executed is None:
            notebook = json.loads(path.read_text())
        else:  # the executed notebook, with the glued values myst-nb moved out of it
            notebook = json.loads((executed / "book" / path.name).read_text())
            glue = executed / "book" / f"{path.stem}.glue.json"
            if glue.is_file():
                restore_glue(notebook, json.loads(glue.read_text()))
        for cell in notebook["cells"]:
            if cell["cell_type"] == "markdown":
                text = "".join(cell["source"])
                touched += len(solutions(text))
                cell["source"] = transform(text, edition)
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    for path in sorted((out / "book").rglob("*.md")):
        text = path.read_text()
        touched += len(solutions(text))
        path.write_text(transform(text, edition))
    (out / "EDITION.json").write_text(json.dumps(
        {"edition": edition, "version": version, **git_state(), "executed_from": str(executed) if executed else None,
         "solutions": touched}, indent=2) + "\n")
    return touched


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("edition", choices=["student", "instructor"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--executed", type=Path, help="a default build's _build/jupyter_execute (reuse its outputs)")
    parser.add_argument("--version", help="name of this edition (e.g. 2027.1), shown in its title and EDITION.json")
    args = parser.parse_args(argv)
    touched = make_edition(args.edition, args.out, args.executed, args.version)
    print(f"{args.edition} edition in {args.out}: {touched} solutions "
          + ("removed" if args.edition == "student" else "opened"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
