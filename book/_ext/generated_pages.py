"""Sphinx extension: pages generated from the chapters and the package at build time.

They are written into ``_generated/`` at the root of the sources (ignored by git, never kept
by hand), never into ``book/``:

- ``_generated/interview_prep.md`` collects every chapter's "Interview answer" box, each answer
  folded under its question, so the page always matches what the chapters say (and, through
  cross-document glue, what their code computed);
- ``_generated/execution_times.txt`` is the table of each chapter's execution time in each run
  mode, made from ``book/execution_times.json`` (recorded by ``python -m tools.execution_times``
  from a build's own ``reports/execution.json``, so no time is ever typed by hand); the landing
  page and the instructor guide include it;
- ``_generated/api.md`` is the API reference of ``cxrlab``: one section per public module, an
  autosummary table and the module's own members (autodoc + napoleon, Google-style sections),
  from the modules the package holds at build time, so a new or moved module needs no edit here.

Chapters are read with :mod:`tools.notebooks`, the parser the edition maker and the tests use.
"""

from __future__ import annotations

import json
import pkgutil
import re
from pathlib import Path

from tools.execution_times import RECORD, chapter_titles, execution_table
from tools.notebooks import admonitions, chapters, page_markdown

FOLDER = "_generated"
GLUE_ROLE = re.compile(r"\{glue:(text|)\}`([^`:]+?)(:[^`]*)?`")
QUESTION = re.compile(r"^\*(?P<question>[^*]+[?.])\*\s*(?P<answer>.*)$", re.S)


def _write(page: Path, text: str) -> Path:
    """Write ``text`` to ``page`` only when it changed (Sphinx then rereads only what changed)."""
    page.parent.mkdir(parents=True, exist_ok=True)
    if not page.exists() or page.read_text() != text:
        page.write_text(text)
    return page


def chapter_interview_answers(book: Path) -> list[tuple[str, str, str]]:
    """(chapter file name, chapter title, answer text) for each chapter that has an answer."""
    found = []
    for path in chapters(book):
        title, markdown = page_markdown(path)
        for text in markdown:
            for answer in admonitions(text, "Interview answer"):
                body = answer.body
                if path.suffix == ".ipynb":
                    # cross-document glue: path::key, with the format spec written out (myst-nb
                    # splits the last ':' off as the format, so "path::key" alone would misparse)
                    body = GLUE_ROLE.sub(
                        lambda m: f"{{glue:text}}`../book/{path.name}::{m.group(2)}{m.group(3) or ':s'}`", body)
                found.append((path.name, title, body.strip()))
    return found


def interview_page(book: Path) -> str:
    """The Markdown of the interview page: per chapter, its question and the folded answer."""
    lines = ["# Interview answers from the chapters", "",
             "Each chapter ends with the answer it would give in an interview. They are collected",
             "here at build time, question first: answer it aloud, then open the chapter's answer.",
             "Where an answer quotes a number, it is the number this build computed (labelled as",
             "this run's); the [interview question bank](../book/interview_bank.md) states the",
             "canonical facts with their sources.", ""]
    for name, title, body in chapter_interview_answers(book):
        match = QUESTION.match(body)
        question, answer = (match["question"], match["answer"].strip()) if match else ("Interview question", body)
        lines += [f"## {title}", "", f"**{question}**", "",
                  "````{admonition} The chapter's answer (numbers from this build)",
                  ":class: dropdown tip", answer, "````", "", f"From [{title}](../book/{name}).", ""]
    return "\n".join(lines)


def public_modules(package: str = "cxrlab") -> list[str]:
    """Every importable public module of ``package`` (none whose name starts with ``_``), sorted."""
    root = __import__(package)
    names = [package]
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        if not any(part.startswith("_") for part in info.name.split(".")[1:]):
            names.append(info.name)
    return sorted(names)


def api_page(modules: list[str]) -> str:
    """The Markdown of the API reference: per module an autosummary table and its members."""
    lines = ["# API reference", "",
             "Every public module of `cxrlab`, generated at build time from the docstrings",
             "(Google style: *Args*, *Returns*, *Raises*). Each section lists the module's own",
             "functions and classes; names a package re-exports are documented where they are defined.", ""]
    for module in modules:
        lines += [f"## `{module}`", "", "```{eval-rst}", f".. automodule:: {module}", "   :members:",
                  "   :ignore-module-all:", "   :show-inheritance:", "   :member-order: bysource", "",
                  "   .. rubric:: Contents", "",
                  "   .. autosummary::", "      :nosignatures:", ""]
        members = _own_members(module)
        if members:
            lines += [f"      {name}" for name in members]
        else:
            lines[-5:] = []  # nothing of its own (a package that only re-exports): no table
        lines += ["```", ""]
    return "\n".join(lines)


def _own_members(module: str) -> list[str]:
    """Public functions and classes defined in ``module`` itself (not imported into it)."""
    import importlib
    import inspect

    mod = importlib.import_module(module)
    names = getattr(mod, "__all__", None) or [n for n in vars(mod) if not n.startswith("_")]
    own = []
    for name in names:
        obj = getattr(mod, name, None)
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and getattr(obj, "__module__", None) == module:
            own.append(name)
    return own


PIPE = re.compile(r"(?<!\\)\|")
LIST_ITEM = re.compile(r"^([-*+]|\d+[.)])\s+\S")


def plain_text_docstring(lines: list[str]) -> list[str]:
    """Docstring lines with every ``|`` escaped: the package's docstrings are written for
    people (``|x|``, ``| a | b |`` tables), and reStructuredText would read them as
    substitutions or line blocks, which fail the build under -W."""
    out: list[str] = []
    for line in lines:
        stripped = line.lstrip()
        # a list straight after a paragraph line ("Scores:" then "- ...") needs a blank line
        # in reStructuredText; people (and Markdown) do without
        if LIST_ITEM.match(stripped) and out and out[-1].strip() and not LIST_ITEM.match(out[-1].lstrip()) \
                and len(line) - len(stripped) <= len(out[-1]) - len(out[-1].lstrip()):
            out.append("")
        out.append(PIPE.sub(r"\\|", line))
    return out


def _on_docstring(app, what, name, obj, options, lines) -> None:
    if name.startswith("cxrlab"):
        lines[:] = plain_text_docstring(lines)


def write_interview_page(src: Path) -> Path:
    """Write _generated/interview_prep.md from the chapters in src/book; return its path."""
    return _write(src / FOLDER / "interview_prep.md", interview_page(src / "book"))


def write_execution_table(src: Path) -> Path:
    """Write _generated/execution_times.txt (included by the landing page and the instructor guide)."""
    path = src / "book" / RECORD
    record = json.loads(path.read_text()) if path.is_file() else {}
    return _write(src / FOLDER / "execution_times.txt", execution_table(record, chapter_titles(src / "book")))


def write_api_page(src: Path) -> Path:
    """Write _generated/api.md, the API reference of every public module of cxrlab."""
    return _write(src / FOLDER / "api.md", api_page(public_modules()))


def _on_init(app) -> None:
    src = Path(app.srcdir)
    write_interview_page(src)
    write_execution_table(src)
    write_api_page(src)


def setup(app):
    app.connect("builder-inited", _on_init)
    app.connect("autodoc-process-docstring", _on_docstring)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
