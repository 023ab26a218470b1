"""Sphinx extension: pages generated from the chapters at build time (never kept by hand).

``interview_prep.md`` collects every chapter's "Interview answer" box, so the page always
matches what the chapters say (and, through cross-document glue, what their code computed).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

INTERVIEW = re.compile(r"(`{3,}|:{3,})\{admonition\} Interview answer\n(.*?)\n\1", re.S)
GLUE_ROLE = re.compile(r"\{glue:(text|)\}`([^`:]+?)(:[^`]*)?`")


def chapter_interview_answers(book: Path) -> list[tuple[str, str, str]]:
    """(notebook name, chapter title, answer text) for each chapter that has an answer."""
    found = []
    for path in sorted(book.glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        markdown = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
        title = next((line[2:].strip() for text in markdown for line in text.splitlines()
                      if line.startswith("# ")), path.stem)
        for text in markdown:
            for match in INTERVIEW.finditer(text):
                body = "\n".join(line for line in match.group(2).splitlines() if not line.startswith(":class:"))
                # cross-document glue: path::key, with the format spec written out (myst-nb
                # splits the last ':' off as the format, so "path::key" alone would misparse)
                body = GLUE_ROLE.sub(lambda m: f"{{glue:text}}`{path.name}::{m.group(2)}{m.group(3) or ':s'}`", body)
                found.append((path.name, title, body.strip()))
    return found


def write_interview_page(book: Path) -> Path:
    """Write book/interview_prep.md from the chapters; return its path."""
    lines = ["# Interview prep", "",
             "Each chapter ends with the answer it would give in an interview. They are collected",
             "here, generated from the chapters at build time, with the numbers their code computed.", ""]
    for name, title, body in chapter_interview_answers(book):
        lines += [f"## {title}", "", body, "", f"From [{title}]({name}).", ""]
    page = book / "interview_prep.md"
    text = "\n".join(lines)
    if not page.exists() or page.read_text() != text:
        page.write_text(text)
    return page


def _on_init(app) -> None:
    write_interview_page(Path(app.srcdir) / "book")


def setup(app):
    app.connect("builder-inited", _on_init)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
