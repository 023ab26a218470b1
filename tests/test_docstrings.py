"""Every public docstring renders as reStructuredText without a warning (the API page builds under -W).

The book's API reference runs autodoc + napoleon over these docstrings with warnings as errors;
this test finds a malformed Args/Returns/Raises section in seconds instead of a full book build.
"""

import importlib
import importlib.util
import inspect
import io
from pathlib import Path

import docutils.core
from sphinx.ext.napoleon import Config
from sphinx.ext.napoleon.docstring import GoogleDocstring

REPO = Path(__file__).resolve().parent.parent
SPHINX_ONLY = ("Unknown interpreted text role", "Unknown directive type", "No role entry", "No directive entry")


def _generated_pages():
    spec = importlib.util.spec_from_file_location("generated_pages", REPO / "book" / "_ext" / "generated_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _documented(module):
    """(qualified name, docstring) of the module and of its own public functions, classes and methods."""
    yield module.__name__, inspect.getdoc(module)
    for name, member in vars(module).items():
        if name.startswith("_") or getattr(member, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(member) or inspect.isclass(member):
            yield f"{module.__name__}.{name}", inspect.getdoc(member)
        if inspect.isclass(member):
            for attr, value in vars(member).items():
                if not attr.startswith("_") and (inspect.isfunction(value) or isinstance(value, property)):
                    yield f"{module.__name__}.{name}.{attr}", inspect.getdoc(value)


def rst_warnings(doc: str) -> list[str]:
    """The docutils warnings of ``doc`` after the book's docstring hook and napoleon (Sphinx roles aside)."""
    pages = _generated_pages()
    lines = pages.plain_text_docstring(doc.splitlines())
    rst = str(GoogleDocstring("\n".join(lines), Config(napoleon_numpy_docstring=False)))
    stream = io.StringIO()
    docutils.core.publish_doctree(rst, settings_overrides={"warning_stream": stream, "report_level": 2,
                                                           "halt_level": 5})
    return [line for line in stream.getvalue().splitlines()
            if ("WARNING" in line or "ERROR" in line) and not any(s in line for s in SPHINX_ONLY)]


def test_a_malformed_args_section_is_caught():
    bad = "Summary.\n\nArgs:\n    a, b, c,\n    d: described together.\n\nReturns:\n    x.\n"
    assert rst_warnings(bad), "the check must see what the -W book build sees"
    assert not rst_warnings("Summary.\n\nArgs:\n    a: one.\n    b: two.\n\nReturns:\n    x.\n")


def test_every_public_docstring_renders_without_warnings():
    problems = []
    for name in _generated_pages().public_modules():
        module = importlib.import_module(name)
        for qualified, doc in _documented(module):
            if doc:
                problems += [f"{qualified}: {w}" for w in rst_warnings(doc)]
    assert not problems, "\n".join(problems[:40])


def test_no_public_docstring_says_what_a_reader_must_not_see():
    """The API page is scanned in the smoke build (issue 16 item 17); this finds a pin, a path or a
    word about how the book was made in seconds. Documented default folders are allowed, and
    warnings named in a Raises or Warns section (the page renders them as a list, not as output)."""
    from tools.html_scan import scan_text

    allowed = ("~/.cache", "/usr/share/")
    problems = []
    for name in _generated_pages().public_modules():
        module = importlib.import_module(name)
        for qualified, doc in _documented(module):
            problems += [f"{qualified}: {hit.kind} {hit.match!r}" for hit in scan_text(doc or "")
                         if hit.kind != "warning in output"
                         and not (hit.kind == "build-machine path" and hit.match.startswith(allowed))]
    assert not problems, "\n".join(problems[:40])
