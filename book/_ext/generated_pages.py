"""Sphinx extension: pages generated from the chapters at build time (never kept by hand).

``interview_prep.md`` collects every chapter's "Interview answer" box, so the page always
matches what the chapters say (and, through cross-document glue, what their code computed).

``execution_times.txt`` is the table of each chapter's execution time in each run mode, made
from ``book/execution_times.json``; that file holds the times of one build per mode, copied
from the build's own ``reports/execution.json`` by ``scripts/record_execution_times.py``, so
no time is ever typed by hand. The landing page and the instructor guide include the table.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

INTERVIEW = re.compile(r"(`{3,}|:{3,})\{admonition\} Interview answer\n(.*?)\n\1", re.S)
GLUE_ROLE = re.compile(r"\{glue:(text|)\}`([^`:]+?)(:[^`]*)?`")


def notebook_markdown(path: Path) -> tuple[str, list[str]]:
    """A notebook's title (its first "# " heading, else its file stem) and its Markdown cells."""
    cells = json.loads(path.read_text())["cells"]
    markdown = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    title = next((line[2:].strip() for text in markdown for line in text.splitlines()
                  if line.startswith("# ")), path.stem)
    return title, markdown


def chapter_interview_answers(book: Path) -> list[tuple[str, str, str]]:
    """(notebook name, chapter title, answer text) for each chapter that has an answer."""
    found = []
    for path in sorted(book.glob("[0-9][0-9]_*.ipynb")):
        title, markdown = notebook_markdown(path)
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


MODES = ("smoke", "quick", "full")
RECORD = "execution_times.json"


def chapter_titles(book: Path) -> dict[str, str]:
    """Doc name (book/01_cnn_basics) -> the chapter's first heading, for every notebook in book/."""
    return {f"book/{path.stem}": notebook_markdown(path)[0] for path in sorted(book.glob("*.ipynb"))}


def record_report(record: dict, report: dict) -> dict:
    """Return ``record`` with ``report`` (a build's reports/execution.json) stored under its mode.

    Only a build whose every notebook succeeded can be recorded; the entry keeps the
    build's date, device and core count next to the seconds per chapter.
    """
    mode = report.get("mode")
    if mode not in MODES:
        raise ValueError(f"the report's mode is {mode!r}; expected one of {', '.join(MODES)}")
    chapters = report.get("chapters") or {}
    failed = [doc for doc, entry in chapters.items() if not entry.get("succeeded")]
    if not chapters or failed:
        raise ValueError("only a build whose every notebook ran can be recorded; "
                         f"failed or missing: {', '.join(failed) or 'all'}")
    updated = {"modes": dict(record.get("modes", {}))}
    updated["modes"][mode] = {
        "built": report["created"], "device": report["device"], "cpu_count": report.get("cpu_count"),
        "seconds": {doc: round(float(entry["seconds"]), 1) for doc, entry in sorted(chapters.items())},
    }
    return updated


def execution_table(record: dict, titles: dict[str, str]) -> str:
    """A MyST table: one row per executed notebook, one column per run mode (seconds)."""
    modes = [m for m in MODES if m in record.get("modes", {})]
    if not modes:
        return "No build has been recorded yet (`python scripts/record_execution_times.py`).\n"
    docs = sorted({doc for m in modes for doc in record["modes"][m]["seconds"]})
    header = "| chapter | " + " | ".join(f"{m} (s)" for m in modes) + " |"
    lines = [header, "|---|" + "---:|" * len(modes)]
    for doc in docs:
        cells = [record["modes"][m]["seconds"].get(doc) for m in modes]
        lines.append(f"| [{titles.get(doc, doc)}]({Path(doc).name}.ipynb) | "
                     + " | ".join("–" if c is None else f"{c:.0f}" for c in cells) + " |")
    totals = [sum(record["modes"][m]["seconds"].values()) / 60 for m in modes]
    lines.append("| **all chapters (min)** | " + " | ".join(f"**{t:.1f}**" for t in totals) + " |")
    notes = [f"{m}: built {record['modes'][m]['built'][:10]} on {record['modes'][m]['device']}"
             + (f" with {record['modes'][m]['cpu_count']} cores" if record["modes"][m].get("cpu_count") else "")
             for m in modes]
    missing = [m for m in MODES if m not in modes]
    if missing:
        notes.append(f"not recorded yet: {', '.join(missing)}")
    return "\n".join(lines) + "\n\n" + "; ".join(notes) + ".\n"


def write_execution_table(book: Path) -> Path:
    """Write book/execution_times.txt (included by the landing page and the instructor guide)."""
    path = book / RECORD
    record = json.loads(path.read_text()) if path.is_file() else {}
    page = book / "execution_times.txt"
    text = execution_table(record, chapter_titles(book))
    if not page.exists() or page.read_text() != text:
        page.write_text(text)
    return page


def _on_init(app) -> None:
    write_interview_page(Path(app.srcdir) / "book")
    write_execution_table(Path(app.srcdir) / "book")


def setup(app):
    app.connect("builder-inited", _on_init)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
