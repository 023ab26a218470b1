"""Write a student or instructor edition of the book's sources into a new folder.

    python scripts/make_edition.py student  /tmp/cxrlab-student
    python scripts/make_edition.py instructor /tmp/cxrlab-instructor

student: every "Solution" admonition is removed from the notebooks and pages (for graded
courses); the exercise checks stay, since they do not reveal answers.
instructor: solutions are shown open instead of collapsed.
The default edition (the repository itself) has the solutions collapsed. Build an edition
with `jupyter-book build <folder>`. Editions are generated, never edited by hand.
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


def make_edition(edition: str, out: Path) -> int:
    """Copy the book's sources to ``out`` and transform them; return the solutions touched."""
    if out.exists():
        raise FileExistsError(f"{out} exists; remove it or choose another folder")
    shutil.copytree(ROOT / "book", out / "book", ignore=shutil.ignore_patterns("_build", "*.ipynb_checkpoints"))
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, out / name)
    config = (out / "_config.yml").read_text().replace("title: \"", f"title: \"[{edition} edition] ", 1)
    (out / "_config.yml").write_text(config)
    (out / "benchmarks").symlink_to(ROOT / "benchmarks")  # the Performance appendix reads results
    touched = 0
    for path in (out / "book").glob("*.ipynb"):
        notebook = json.loads(path.read_text())
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
    args = parser.parse_args(argv)
    touched = make_edition(args.edition, args.out)
    print(f"{args.edition} edition in {args.out}: {touched} solutions "
          + ("removed" if args.edition == "student" else "opened"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
