"""Shared test set-up: smoke mode, no progress bars, and a private data folder when asked.

MPLBACKEND is deliberately left alone: notebooks run by the tests must keep the inline
backend so their figures appear (matplotlib picks Agg by itself where there is no display).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent

os.environ.setdefault("CXRLAB_MODE", "smoke")
os.environ.setdefault("CXRLAB_PROGRESS", "0")


@pytest.fixture
def empty_data_dir(tmp_path, monkeypatch):
    """Point CXRLAB_DATA at an empty folder, so loaders must use their stand-ins."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("CXRLAB_DATA", str(folder))
    return folder


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tests on one torch thread: small tensors gain nothing from more, and a
    shared CPU loses a lot (threads spin while they wait). The setting is restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def smoke_book_attempt(tmp_path_factory) -> tuple[Path, str | None]:
    """The book built once per test session in smoke mode, with warnings as errors: its
    ``_build`` folder and, when the build failed, what it said (else None). ``html/`` serves the
    browser tests, ``jupyter_execute/`` holds the executed notebooks, which tests/test_notebooks.py
    reads rather than running every chapter a second time; a chapter that failed keeps its error
    output there, and its later cells stay unexecuted."""
    subprocess.run(["bash", "scripts/vendor_mathjax.sh"], cwd=REPO, check=True)
    out = tmp_path_factory.mktemp("book")
    env = dict(os.environ, CXRLAB_MODE="smoke", CXRLAB_PROGRESS="0")
    env.pop("MPLBACKEND", None)  # Agg would stop the notebooks from showing their figures
    result = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter-book"), "build", ".", "--path-output", str(out),
         "-W", "--keep-going"], cwd=REPO, env=env, capture_output=True, text=True)
    log = REPO / "build-artifacts" / "smoke-build.log"
    log.parent.mkdir(exist_ok=True)
    log.write_text(result.stdout + result.stderr)
    build = out / "_build"
    report = build / "html" / "reports" / "execution.json"
    if report.is_file():  # kept for scripts/record_execution_times.py (the smoke column of the times table)
        shutil.copy(report, log.parent / "smoke-execution.json")
    if result.returncode == 0:
        return build, None
    problems = [line for line in (result.stdout + result.stderr).splitlines() if "WARNING" in line or "ERROR" in line]
    return build, f"the smoke build failed (warnings are errors); see {log}:\n" + "\n".join(problems)[-3000:]


@pytest.fixture(scope="session")
def smoke_book(smoke_book_attempt) -> Path:
    """The ``_build`` folder of the session's smoke build of the book; fails when the build did."""
    build, failure = smoke_book_attempt
    if failure:
        pytest.fail(failure)
    return build
