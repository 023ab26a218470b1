"""Code hygiene the book depends on: ruff-clean package, tests, scripts and notebook cells."""

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
#: The longest code line the page shows without wrapping: 640 px of 12 px monospace on a wide screen.
MAX_LINE_CHARS = 88


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists() and not shutil.which(name):
        pytest.skip(f"{name} is not installed (pip install -r requirements.txt)")
    return str(path) if path.exists() else shutil.which(name)


def test_python_sources_are_ruff_clean():
    result = subprocess.run([_tool("ruff"), "check", "--output-format", "concise", "cxrlab", "tests", "benchmarks",
                             "data_scripts", "scripts", "book/_ext", "tools", "app"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:]


def test_notebook_code_cells_are_ruff_clean():
    notebooks = sorted(str(p.relative_to(REPO)) for p in (REPO / "book").glob("*.ipynb"))
    # E501 is off: test_code_lines_fit_the_page checks the visible cells' lines (hidden ones may be
    # longer); the page's 88 characters still set how isort wraps a long import
    result = subprocess.run([_tool("nbqa"), "ruff", *notebooks, "--output-format", "concise", "--ignore", "E501",
                             "--line-length", str(MAX_LINE_CHARS)], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_notebooks_use_a_format_jupyterlab_opens():
    import nbformat

    for path in (REPO / "book").glob("*.ipynb"):
        raw = json.loads(path.read_text())
        assert raw["nbformat"] == 4 and raw["nbformat_minor"] >= 4, path.name
        nbformat.validate(nbformat.reads(path.read_text(), as_version=4))
        # the course kernel (scripts/insert_colab_cell.py sets it; setup-env.sh registers it)
        assert raw["metadata"]["kernelspec"]["name"] in ("cxrlab", "python3"), path.name


#: A code cell longer than this is plumbing that belongs in the package (CONTRIBUTING, "Rooms").
MAX_CELL_LINES = 30
#: The tag that marks a cell as deliberate from-scratch teaching code, allowed to be longer.
FROM_SCRATCH_TAG = "from-scratch"
#: The hidden first cell that sets a chapter up on Colab (scripts/insert_colab_cell.py); not teaching code.
COLAB_SETUP_TAG = "colab-setup"


def code_cells(path: Path, *, skip_tags: set[str]) -> Iterator[tuple[int, str]]:
    """(index, source) of each code cell of the notebook ``path`` that has none of ``skip_tags``."""
    for index, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell["cell_type"] == "code" and not skip_tags & set(cell.get("metadata", {}).get("tags", [])):
            yield index, "".join(cell["source"])


def long_code_cells(path: Path) -> list[str]:
    """The code cells of ``path`` over MAX_CELL_LINES lines and not tagged FROM_SCRATCH_TAG."""
    found = []
    for index, source in code_cells(path, skip_tags={FROM_SCRATCH_TAG, COLAB_SETUP_TAG}):
        lines = len(source.strip("\n").splitlines())
        if lines > MAX_CELL_LINES:
            first = source.strip().splitlines()[0][:60]
            found.append(f"cell {index} ({lines} lines, starts {first!r})")
    return found


@pytest.mark.parametrize("path", sorted((REPO / "book").glob("*.ipynb")), ids=lambda p: p.stem)
def test_code_cells_are_short_unless_from_scratch(path):
    offenders = long_code_cells(path)
    message = (f"{path.name}: code cells over {MAX_CELL_LINES} lines: {'; '.join(offenders)}. Move the plumbing "
               f"into a tested package function, split the cell, or tag it '{FROM_SCRATCH_TAG}' if it is "
               "deliberate from-scratch teaching code")
    assert not offenders, message


def test_long_cell_check_flags_untagged_cells_only(tmp_path):
    long_source = "\n".join(f"x{i} = {i}" for i in range(MAX_CELL_LINES + 1))
    cells = [{"cell_type": "code", "metadata": {}, "source": long_source},
             {"cell_type": "code", "metadata": {"tags": [FROM_SCRATCH_TAG]}, "source": long_source},
             {"cell_type": "markdown", "metadata": {}, "source": long_source},
             {"cell_type": "code", "metadata": {}, "source": "\n".join(long_source.splitlines()[:MAX_CELL_LINES])}]
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": cells}))
    assert long_code_cells(path) == [f"cell 0 ({MAX_CELL_LINES + 1} lines, starts 'x0 = 0')"]


def test_only_settings_reads_cxrlab_variables():
    import re

    readers = sorted(str(path.relative_to(REPO)) for path in (REPO / "cxrlab").rglob("*.py")
                     if path.name != "settings.py"
                     and re.search(r"(os\.environ|getenv)[^\n]*CXRLAB_", path.read_text()))
    message = f"only cxrlab/settings.py may read CXRLAB_* variables; also read in: {', '.join(readers)}"
    assert not readers, message


#: Cells the built book does not show: their lines never reach a reader.
HIDDEN_TAGS = {"remove-cell", COLAB_SETUP_TAG}


def long_code_lines(path: Path) -> list[str]:
    """The lines of ``path``'s visible code cells over MAX_LINE_CHARS characters."""
    found = []
    for index, source in code_cells(path, skip_tags=HIDDEN_TAGS):
        for number, line in enumerate(source.splitlines(), start=1):
            if len(line) > MAX_LINE_CHARS:
                found.append(f"cell {index} line {number} ({len(line)} chars): {line.strip()[:60]!r}")
    return found


@pytest.mark.parametrize("path", sorted((REPO / "book").glob("*.ipynb")), ids=lambda p: p.stem)
def test_code_lines_fit_the_page(path):
    offenders = long_code_lines(path)
    message = (f"{path.name}: code lines over {MAX_LINE_CHARS} characters wrap mid-expression on the page: "
               f"{'; '.join(offenders)}. Break the call after an argument, name an intermediate value, or "
               "move a long comment to its own line above")
    assert not offenders, message


def test_long_line_check_skips_hidden_cells_and_markdown(tmp_path):
    long_line = "x = " + "1 + " * 30 + "1"
    cells = [{"cell_type": "code", "metadata": {}, "source": ["y = 1\n", long_line]},
             {"cell_type": "code", "metadata": {"tags": ["remove-cell"]}, "source": long_line},
             {"cell_type": "code", "metadata": {"tags": [COLAB_SETUP_TAG]}, "source": long_line},
             {"cell_type": "markdown", "metadata": {}, "source": long_line},
             {"cell_type": "code", "metadata": {}, "source": "x" * MAX_LINE_CHARS}]
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": cells}))
    assert long_code_lines(path) == [f"cell 0 line 2 ({len(long_line)} chars): {long_line[:60]!r}"]
