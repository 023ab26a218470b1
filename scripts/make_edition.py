"""Write a student or instructor edition of the book's sources into a new folder.

    python scripts/make_edition.py student  /tmp/cxrlab-student
    python scripts/make_edition.py instructor /tmp/cxrlab-instructor
    python scripts/make_edition.py student  /tmp/cxrlab-student --executed _build/jupyter_execute

student: every "Solution" admonition is removed from the notebooks and pages (for graded
courses); the exercise checks stay, since they do not reveal answers.
instructor: solutions are shown open instead of collapsed.
The default edition (the repository itself) has the solutions collapsed. Build an edition
with `jupyter-book build <folder>`. Editions are generated, never edited by hand.

--executed FOLDER takes the notebooks *with their outputs* from a build of the default edition
(its ``_build/jupyter_execute``) and turns execution off in the edition's ``_config.yml``:
the edition then shows exactly the numbers of that build and builds in seconds. Solutions
are Markdown, so removing them cannot change what the code computed.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = re.compile(r"\n?(`{3,}|:{3,})\{admonition\} Solution\n.*?\n\1[ \t]*(?=\n|$)", re.S)
DROPDOWN = re.compile(r"(\{admonition\} Solution\n:class: )dropdown ?")


def transform(text: str, edition: str) -> str:
    """The Markdown ``text`` as it appears in ``edition``."""
    if edition == "student":
        return SOLUTION.sub("", text)
    if edition == "instructor":
        return DROPDOWN.sub(r"\1", text)
    raise ValueError(f"edition must be 'student' or 'instructor', got {edition!r}")


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


def make_edition(edition: str, out: Path, executed: Path | None = None) -> int:
    """Copy the book's sources to ``out`` and transform them; return the solutions touched.

    ``executed``: a default build's ``_build/jupyter_execute`` folder; its executed notebooks
    replace the (output-free) sources and the edition is built without executing them.
    """
    if out.exists():
        raise FileExistsError(f"{out} exists; remove it or choose another folder")
    shutil.copytree(ROOT / "book", out / "book", ignore=shutil.ignore_patterns("_build", "*.ipynb_checkpoints"))
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, out / name)
    config = (out / "_config.yml").read_text().replace("title: \"", f"title: \"[{edition} edition] ", 1)
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
    for path in (out / "book").glob("*.ipynb"):
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
                touched += len(SOLUTION.findall(text))
                cell["source"] = transform(text, edition)
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    for path in (out / "book").glob("*.md"):
        text = path.read_text()
        touched += len(SOLUTION.findall(text))
        path.write_text(transform(text, edition))
    return touched


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("edition", choices=["student", "instructor"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--executed", type=Path, help="a default build's _build/jupyter_execute (reuse its outputs)")
    args = parser.parse_args(argv)
    touched = make_edition(args.edition, args.out, args.executed)
    print(f"{args.edition} edition in {args.out}: {touched} solutions "
          + ("removed" if args.edition == "student" else "opened"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
