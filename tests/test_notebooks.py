"""Every chapter notebook: stored without outputs, and runs top to bottom in smoke mode."""

import json
import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

BOOK = Path(__file__).resolve().parent.parent / "book"
NOTEBOOKS = sorted(BOOK.glob("*.ipynb"))
SMOKE_BUDGET_S = 60  # DESIGN.md asks 30 s per chapter; kernel start-up and imports add a little


def test_there_are_chapter_notebooks():
    assert len(NOTEBOOKS) >= 2, f"expected chapter notebooks in {BOOK}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    notebook = json.loads(path.read_text())
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name} cell {index} has stored outputs"
            assert cell.get("execution_count") is None, f"{path.name} cell {index} has an execution count"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_smoke_mode(path, monkeypatch):
    monkeypatch.setenv("CXRLAB_MODE", "smoke")
    monkeypatch.setenv("CXRLAB_PROGRESS", "0")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=SMOKE_BUDGET_S * 2, kernel_name="python3",
                            resources={"metadata": {"path": str(BOOK)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert seconds < SMOKE_BUDGET_S, f"{path.name} took {seconds:.0f} s in smoke mode"
    assert os.environ["CXRLAB_MODE"] == "smoke"
