"""Shared test set-up: smoke mode, no progress bars, and a private data folder when asked.

MPLBACKEND is deliberately left alone: notebooks run by the tests must keep the inline
backend so their figures appear (matplotlib picks Agg by itself where there is no display).
"""

import os
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
