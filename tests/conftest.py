"""Shared test set-up: smoke mode, no progress bars, and a private data folder when asked."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

os.environ.setdefault("CXRLAB_MODE", "smoke")
os.environ.setdefault("CXRLAB_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def empty_data_dir(tmp_path, monkeypatch):
    """Point CXRLAB_DATA at an empty folder, so loaders must use their stand-ins."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("CXRLAB_DATA", str(folder))
    return folder
