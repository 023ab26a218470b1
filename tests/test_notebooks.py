"""Every chapter notebook: stored without outputs, and runs top to bottom in smoke mode.

No test asserts a time: on a shared machine a chapter can run slow for reasons unrelated to
its code (coverage tracing alone once took chapter 5 past a minute). Time budgets live in the
build summary instead (``python -m benchmarks.book``, printed by ``scripts/build-book.sh``),
which flags every chapter over its mode's budget.

When the session also runs the book tests (``-m book``, as the full suite does), the smoke
build of the book has executed every chapter already, in smoke mode with the same settings;
the checks then read its executed notebooks (``_build/jupyter_execute``) instead of running
each chapter a second time. Run alone (``pytest tests/test_notebooks.py -k 02``), a chapter
is executed here.
"""

import json
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

BOOK = Path(__file__).resolve().parent.parent / "book"
NOTEBOOKS = sorted(BOOK.glob("*.ipynb"))
CELL_TIMEOUT_S = 600  # a hang guard only (as the book build's), never a performance assertion


def test_there_are_chapter_notebooks():
    assert len(NOTEBOOKS) >= 2, f"expected chapter notebooks in {BOOK}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    notebook = json.loads(path.read_text())
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name} cell {index} has stored outputs"
            assert cell.get("execution_count") is None, f"{path.name} cell {index} has an execution count"


def _executed_by_the_book_build(request, path: Path):
    """This chapter as the session's smoke build of the book executed it, or None when this
    session does not build the book (then the test executes the chapter itself)."""
    if os.environ.get("CXRLAB_BOOK_HTML"):  # a book built elsewhere, perhaps in another mode
        return None
    if not any(item.get_closest_marker("book") for item in request.session.items):
        return None
    build, failure = request.getfixturevalue("smoke_book_attempt")  # tests/conftest.py
    executed = build / "jupyter_execute" / "book" / path.name
    assert executed.is_file(), f"{path.name}: the smoke build of the book wrote no executed copy " \
        f"({executed})" + (f"; {failure}" if failure else "")
    return nbformat.read(executed, as_version=4)


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_smoke_mode(path, monkeypatch, request):
    notebook = _executed_by_the_book_build(request, path)
    if notebook is None:
        monkeypatch.setenv("CXRLAB_MODE", "smoke")
        monkeypatch.setenv("CXRLAB_PROGRESS", "0")
        # Streamlit (tests/test_app.py) sets MPLBACKEND=Agg for the whole process; the kernel must
        # keep the inline backend, so that figure cells are checked as the book shows them
        monkeypatch.delenv("MPLBACKEND", raising=False)
        notebook = nbformat.read(path, as_version=4)
        client = NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                resources={"metadata": {"path": str(BOOK)}})
        client.execute()
    code_cells = [c for c in notebook.cells if c.cell_type == "code" and c.source.strip()]
    errors = [o for c in code_cells for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name}: " + "; ".join(f"{e.ename}: {e.evalue}" for e in errors)
    assert all(c.get("execution_count") is not None for c in code_cells), \
        f"{path.name}: a code cell did not run"
    # a numbered figure's cell shows that one figure: a table after it would be wrapped in the
    # same figure (the book build fails on the duplicate target name). A figure drawn only
    # when there is something to draw (no mistakes, no figure) may leave its cell empty.
    for index, cell in enumerate(code_cells):
        if "figure" in cell.metadata.get("mystnb", {}):
            shown = [o for o in cell.outputs if o.output_type in ("display_data", "execute_result")
                     and not all(k.startswith("application/papermill.record") for k in o.get("data", {}))]
            assert len(shown) <= 1 and all("image/png" in o.get("data", {}) for o in shown), \
                f"{path.name}: code cell {index} ({cell.metadata.mystnb['figure'].get('name')}) shows " \
                f"{[list(o.get('data', {})) for o in shown]}; a figure cell shows its figure only " \
                "(move the rest to the next cell)"
    stored = nbformat.read(path, as_version=4)  # what ran is the notebook as stored now
    assert [c.source for c in notebook.cells] == [c.source for c in stored.cells], \
        f"{path.name}: the executed copy has other cells than the stored notebook"
