"""What a chapter needs to show its own code and glue its numbers into the prose.

``show(obj)`` displays the source of a class, function or method of the package as a
highlighted code block in the page, so the chapter shows the code it is named after and
the page cannot drift from the package. ``show(obj, start=..., end=...)`` shows only the
lines from one marker to another (the three lines of a formula, say). ``glue_all(prefix,
mapping)`` glues a whole table of numbers in one call.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping


@dataclass(frozen=True)
class Source:
    """A piece of package source: rendered as a Python code block in Jupyter and in the book.

    Attributes:
        code: the source text, dedented.
        path: the file, relative to the package's parent folder (``cxrlab/nets/lenet.py``).
        first_line: 1-based line number of the first line shown in that file.
        last_line: 1-based line number of the last line shown.
    """

    code: str
    path: str
    first_line: int
    last_line: int
    docstrings: bool = True

    @property
    def caption(self) -> str:
        """Where the code lives: file and line range."""
        omitted = "" if self.docstrings else " (docstrings left out)"
        return f"{self.path}, lines {self.first_line}-{self.last_line}{omitted}"

    def _repr_markdown_(self) -> str:
        return f"*{self.caption}*\n\n```python\n{self.code}\n```\n"

    def __str__(self) -> str:
        return self.code

    def __repr__(self) -> str:
        return f"# {self.caption}\n{self.code}"


def show(obj: Any, *, start: str | None = None, end: str | None = None, docstrings: bool = True) -> Source:
    """The source of ``obj`` (a class, function or method), ready to display in a notebook.

    Args:
        obj: a class, function, method or module of the package.
        start: show from the first line containing this text (default: the first line).
        end: show up to and including the first line at or after ``start`` containing this
            text (default: the last line).
        docstrings: keep the docstrings; ``False`` leaves out every docstring of the object
            and of the methods inside it, so the page shows only the code.

    Returns:
        A :class:`Source`; as the last expression of a cell it renders as a highlighted
        code block headed by its file and line range.

    Raises:
        TypeError: when ``obj`` has no retrievable source (a builtin, a lambda typed at
            the prompt).
        ValueError: when ``start`` or ``end`` is not found in the source, naming it.
    """
    try:
        lines, first = inspect.getsourcelines(obj)
        file = inspect.getsourcefile(obj)
    except (OSError, TypeError) as error:
        raise TypeError(f"no source to show for {obj!r}: pass a class, function or method defined in a file") from error
    first = max(first, 1)
    omitted = _docstring_lines(lines) if not docstrings else set()
    begin, stop = 0, len(lines)
    if start is not None:
        begin = next((i for i, line in enumerate(lines) if start in line), None)
        if begin is None:
            raise ValueError(f"start={start!r} does not occur in the source of {getattr(obj, '__qualname__', obj)}")
    if end is not None:
        last = next((i for i in range(begin, len(lines)) if end in lines[i]), None)
        if last is None:
            raise ValueError(f"end={end!r} does not occur in the source of {getattr(obj, '__qualname__', obj)} "
                             "at or after the start")
        stop = last + 1
    chosen = lines[begin:stop]
    while chosen and not chosen[-1].strip():
        chosen = chosen[:-1]
    last_line = first + begin + len(chosen) - 1
    chosen = [line for i, line in enumerate(chosen, start=begin) if i not in omitted]
    code = textwrap.dedent("".join(chosen)).rstrip("\n")
    return Source(code=code, path=_relative(file), first_line=first + begin, last_line=last_line,
                  docstrings=docstrings)


def _docstring_lines(lines: list[str]) -> set[int]:
    """0-based indices (into ``lines``) of every docstring in this piece of source."""
    tree = ast.parse(textwrap.dedent("".join(lines)))
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)) and node.body:
            head = node.body[0]
            if isinstance(head, ast.Expr) and isinstance(getattr(head, "value", None), ast.Constant) \
                    and isinstance(head.value.value, str):
                found.update(range(head.lineno - 1, head.end_lineno))
    return found


def _relative(file: str | None) -> str:
    if not file:
        return "?"
    path = Path(file).resolve()
    package = Path(__file__).resolve().parent
    try:
        return str(path.relative_to(package.parent))
    except ValueError:
        return path.name


def glue_all(prefix: str, mapping: Mapping[str, Any], *, display: bool = False) -> None:
    """Glue every value of ``mapping`` under the name ``f"{prefix}_{key}"`` (myst-nb's ``glue``).

    Args:
        prefix: the chapter's glue prefix, e.g. ``"ch05"``.
        mapping: ``{key: value}``; values are numbers or strings computed by the cell.
        display: also show each value in the cell's output (default: glue silently).

    Returns:
        None, so that a cell ending in ``glue_all(...)`` prints nothing in JupyterLab (it
        returned the mapping once, and such a cell showed the whole dict to the student).

    Raises:
        ValueError: for an empty ``prefix`` or a key that is not a non-empty identifier-like
            string; nothing is glued then.
    """
    from myst_nb import glue

    if not isinstance(prefix, str) or not prefix:
        raise ValueError(f"prefix must be a non-empty string such as 'ch05', got {prefix!r}")
    for key in mapping:
        if not isinstance(key, str) or not key or not key.replace("_", "").isalnum():
            raise ValueError(f"glue keys must be names made of letters, digits and '_', got {key!r}")
    for key, value in mapping.items():
        glue(f"{prefix}_{key}", value, display=display)


__all__ = ["Source", "glue_all", "show"]
