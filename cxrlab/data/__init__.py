"""Data sets as in-memory tensors: the real data when fetched, a named stand-in when not.

Loaders read only from the data folder (``$CXRLAB_DATA``, default ``~/.cache/cxrlab/data``)
and from files that ship inside installed packages; they never use the network. Fetch the
real sets with ``python data_scripts/fetch.py``.
"""

from .bundle import DataBundle, images_to_tensor, stratified_split, subsample
from .chest import ChestBundle, chest_source, load_chest, patient_split
from .cifar import CIFAR10_CLASSES, FASHION_CLASSES, cifar10_source, load_cifar10, synthetic_shapes
from .digits import DIGIT_CLASSES, load_mnist, mnist_source
from .idx import read_idx, write_idx
from .nih_table import nih_source
from .paths import DATA_ENV, data_dir, dataset_dir

_SOURCES = {"mnist": mnist_source, "cifar10": cifar10_source, "chest": chest_source, "nih14": nih_source}


def register_source(name: str, describe) -> None:
    """Let another module (e.g. the chest X-ray loaders) report its source in the banner."""
    _SOURCES[name] = describe


def describe_source(name: str) -> str:
    """Short text saying where data set ``name`` would come from (a disk look-up only).

    Returns:
        One line naming where the data would come from.

    Raises:
        ValueError: for an unknown data set name, listing the known ones.
    """
    try:
        return _SOURCES[name]()
    except KeyError:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(sorted(_SOURCES))}") from None


__all__ = [
    "DataBundle", "images_to_tensor", "stratified_split", "subsample",
    "CIFAR10_CLASSES", "FASHION_CLASSES", "DIGIT_CLASSES", "cifar10_source", "load_cifar10",
    "synthetic_shapes", "load_mnist", "mnist_source", "read_idx", "write_idx", "DATA_ENV",
    "data_dir", "dataset_dir", "describe_source", "register_source",
    "ChestBundle", "chest_source", "load_chest", "patient_split",
]
