"""The one reader of chapter notebooks and of MyST admonitions.

MyST writes a directive as a fence: three or more backticks or colons, then ``{name} argument``,
then optional ``:key: value`` lines, then the body, then a closing fence of the *same*
character at least as long as the opening one. A four-backtick admonition may therefore hold a
three-backtick code block, and a colon fence may hold backtick code blocks of any length. A
regular expression that looks for "the next fence" gets these cases wrong (a colon-fenced
solution was once stripped from the student edition by one regex and never found by the test
of its self-check, another regex); this module scans lines instead, and every tool uses it:

- ``book/_ext/generated_pages.py`` (the interview page, the execution-time table);
- ``tools.edition`` (the student and instructor editions);
- ``tests/test_exercises.py`` (each solution's ``check(...)`` code is run).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

OPENING = re.compile(r"^(?P<indent>[ \t]{0,3})(?P<fence>`{3,}|:{3,}|~{3,})"
                     r"\{(?P<name>[A-Za-z][\w:-]*)\}[ \t]*(?P<argument>.*?)[ \t]*$")
CODE_OPENING = re.compile(r"^[ \t]{0,3}(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`]*?)[ \t]*$")
OPTION = re.compile(r"^[ \t]*:(?P<key>[\w-]+):[ \t]*(?P<value>.*?)[ \t]*$")


@dataclass(frozen=True)
class Directive:
    """One fenced MyST directive found in a Markdown text.

    Attributes:
        name: the directive's name (``admonition``, ``note``, ``code-cell``...).
        argument: the text after ``{name}`` on the opening line (an admonition's title).
        options: the ``:key: value`` lines that follow the opening line.
        body: the content between the options and the closing fence (no trailing newline).
        fence: the opening fence (e.g. ``"````"`` or ``":::"``).
        start: offset of the opening line's first character in the text.
        end: offset just after the closing fence (the text's length when it is unclosed).
        closed: False when the text ended before a closing fence.
    """

    name: str
    argument: str
    options: dict[str, str] = field(default_factory=dict)
    body: str = ""
    fence: str = "```"
    start: int = 0
    end: int = 0
    closed: bool = True

    @property
    def classes(self) -> list[str]:
        """The words of the ``:class:`` option."""
        return self.options.get("class", "").split()

    @property
    def title(self) -> str:
        """An admonition's title (its argument)."""
        return self.argument


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return (len(stripped) >= len(fence) and set(stripped) == {fence[0]}
            and len(line) - len(line.lstrip()) <= 3)


def _scan(lines: list[str], start: int, fence: str) -> int:
    """Index of the line that closes ``fence`` opened before ``lines[start]``, or len(lines).

    Inside the body, code blocks and directives of another fence are skipped whole, so a
    ``:::`` or a shorter backtick run inside them cannot close the outer fence.
    """
    i = start
    while i < len(lines):
        line = lines[i].rstrip("\n")
        if _closes(line, fence):
            return i
        inner = OPENING.match(line) or CODE_OPENING.match(line)
        if inner:
            inner_fence = inner.group("fence")
            # a fence of another character, or a shorter one, opens a block nested in this
            # body; a same-character fence at least as long is content (it cannot close
            # this fence while it carries an info string, and a bare one closed it above)
            if inner_fence[0] != fence[0] or len(inner_fence) < len(fence):
                i = _scan(lines, i + 1, inner_fence) + 1
                continue
        i += 1
    return len(lines)


def directives(text: str, name: str | None = None) -> list[Directive]:
    """Every top-level fenced directive in ``text`` (nested ones are inside their parent's body).

    Args:
        text: MyST Markdown (a notebook's Markdown cell or a page).
        name: keep only directives of this name (e.g. ``"admonition"``); all when None.

    Returns:
        The directives in order of appearance, with their spans in ``text``.
    """
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    found, i = [], 0
    while i < len(lines):
        line = lines[i].rstrip("\n")
        opening = OPENING.match(line)
        if not opening:
            code = CODE_OPENING.match(line)
            if code:  # a plain code block: nothing inside it is a directive
                i = _scan(lines, i + 1, code.group("fence")) + 1
            else:
                i += 1
            continue
        fence = opening.group("fence")
        close = _scan(lines, i + 1, fence)
        content = [lines[j].rstrip("\n") for j in range(i + 1, min(close, len(lines)))]
        options: dict[str, str] = {}
        while content and (option := OPTION.match(content[0])):
            options[option.group("key")] = option.group("value")
            content.pop(0)
        end = offsets[close] + len(lines[close].rstrip("\n")) if close < len(lines) else len(text)
        directive = Directive(opening.group("name"), opening.group("argument"), options,
                              "\n".join(content).strip("\n"), fence, offsets[i], end, close < len(lines))
        if name is None or directive.name == name:
            found.append(directive)
        i = close + 1
    return found


def admonitions(text: str, title: str | None = None) -> list[Directive]:
    """The ``{admonition}`` directives of ``text``; with ``title``, only those whose title is
    ``title`` or starts with ``title + " "`` (``"Exercise"`` finds ``Exercise 1.1``)."""
    found = directives(text, "admonition")
    if title is None:
        return found
    return [a for a in found if a.title == title or a.title.startswith(title + " ")]


def remove(text: str, found: list[Directive]) -> str:
    """``text`` without the directives ``found`` (each with the blank line before it)."""
    for directive in sorted(found, key=lambda d: d.start, reverse=True):
        start = directive.start
        if start > 0 and text[start - 1] == "\n":
            start -= 1
        text = text[:start] + text[directive.end:]
    return text


def set_classes(text: str, found: list[Directive], classes: list[str]) -> str:
    """``text`` with the ``:class:`` line of each directive in ``found`` replaced by ``classes``."""
    for directive in sorted(found, key=lambda d: d.start, reverse=True):
        block = text[directive.start:directive.end]
        new_line = f":class: {' '.join(classes)}"
        if "class" in directive.options:
            block = re.sub(r"(?m)^[ \t]*:class:.*$", new_line, block, count=1)
        else:
            first_newline = block.index("\n") if "\n" in block else len(block)
            block = block[:first_newline] + "\n" + new_line + block[first_newline:]
        text = text[:directive.start] + block + text[directive.end:]
    return text


def code_blocks(text: str, languages: tuple[str, ...] = ("python", "python3", "ipython", "ipython3")) -> list[str]:
    """The fenced code blocks of ``text`` in one of ``languages`` (nested ones included)."""
    lines = text.splitlines()
    found, i = [], 0
    while i < len(lines):
        code = CODE_OPENING.match(lines[i])
        opening = OPENING.match(lines[i])
        if opening:  # a directive: look inside it
            close = _scan(lines, i + 1, opening.group("fence"))
            found += code_blocks("\n".join(lines[i + 1:close]), languages)
            i = close + 1
        elif code:
            close = _scan(lines, i + 1, code.group("fence"))
            if code.group("info").split()[:1] and code.group("info").split()[0] in languages:
                found.append("\n".join(lines[i + 1:close]))
            i = close + 1
        else:
            i += 1
    return found


# Notebooks -----------------------------------------------------------------------------------

def read_notebook(path: Path) -> dict:
    """The notebook at ``path`` as a dict (nbformat 4 JSON)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def cell_source(cell: dict) -> str:
    """A cell's source as one string (nbformat stores a string or a list of lines)."""
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def markdown_cells(notebook: dict) -> list[str]:
    """The source of every Markdown cell, in order."""
    return [cell_source(c) for c in notebook["cells"] if c["cell_type"] == "markdown"]


def title_of(markdown: list[str], default: str) -> str:
    """The first ``# `` heading of the Markdown texts, else ``default``."""
    return next((line[2:].strip() for text in markdown for line in text.splitlines()
                 if line.startswith("# ")), default)


def notebook_markdown(path: Path) -> tuple[str, list[str]]:
    """A notebook's title (its first "# " heading, else its file stem) and its Markdown cells."""
    markdown = markdown_cells(read_notebook(path))
    return title_of(markdown, Path(path).stem), markdown


def page_markdown(path: Path) -> tuple[str, list[str]]:
    """Title and Markdown of a page, notebook (``.ipynb``) or Markdown file (one "cell")."""
    path = Path(path)
    if path.suffix == ".ipynb":
        return notebook_markdown(path)
    text = path.read_text(encoding="utf-8")
    return title_of([text], path.stem), [text]


def chapters(book: Path) -> list[Path]:
    """The numbered chapters of ``book`` (``NN_name.ipynb`` or ``NN_name.md``), in order."""
    return sorted([*Path(book).glob("[0-9][0-9]_*.ipynb"), *Path(book).glob("[0-9][0-9]_*.md")])


def solution_checks(book: Path) -> list[tuple[str, str]]:
    """(chapter stem, code) for every Python block inside a Solution that calls ``check(``."""
    found = []
    for path in chapters(book):
        for text in page_markdown(path)[1]:
            for solution in admonitions(text, "Solution"):
                found += [(path.stem, code) for code in code_blocks(solution.body) if "check(" in code]
    return found
