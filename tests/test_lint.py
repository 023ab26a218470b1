"""Code hygiene the book depends on: ruff-clean package, tests, scripts and notebook cells."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists() and not shutil.which(name):
        pytest.skip(f"{name} is not installed (pip install -r requirements.txt)")
    return str(path) if path.exists() else shutil.which(name)


def test_python_sources_are_ruff_clean():
    result = subprocess.run([_tool("ruff"), "check", "--output-format", "concise", "cxrlab", "tests", "benchmarks",
                             "data_scripts", "scripts", "book/_ext"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:]


def test_notebook_code_cells_are_ruff_clean():
    notebooks = sorted(str(p.relative_to(REPO)) for p in (REPO / "book").glob("*.ipynb"))
    # line length is not enforced in notebooks: teaching cells hold prose-like f-strings
    result = subprocess.run([_tool("nbqa"), "ruff", *notebooks, "--output-format", "concise", "--ignore", "E501"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_notebooks_use_a_format_jupyterlab_opens():
    import nbformat

    for path in (REPO / "book").glob("*.ipynb"):
        raw = json.loads(path.read_text())
        assert raw["nbformat"] == 4 and raw["nbformat_minor"] >= 4, path.name
        nbformat.validate(nbformat.reads(path.read_text(), as_version=4))
        # the course kernel (scripts/insert_colab_cell.py sets it; setup-env.sh registers it)
        assert raw["metadata"]["kernelspec"]["name"] in ("cxrlab", "python3"), path.name
