"""CIFAR-10 colour photographs, with Fashion-MNIST (real photos) as the offline stand-in."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Callable

import numpy as np

from .._checks import positive_int
from .bundle import DataBundle, make_bundle
from .idx import read_idx
from .paths import MNIST_FILES, cifar10_present, dataset_dir, fashion_mnist_folder, read_source_note

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]
FASHION_CLASSES = ["T-shirt/top", "trouser", "pullover", "dress", "coat",
                   "sandal", "shirt", "sneaker", "bag", "ankle boot"]
SHAPE_CLASSES = ["warm disc", "warm square", "warm triangle", "warm cross", "warm ring",
                 "cool disc", "cool square", "cool triangle", "cool cross", "cool ring"]
FETCH_HINT = "run `python data_scripts/fetch.py cifar10` to get the real set"


def _read_cifar_folder(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    def batch(name: str) -> tuple[np.ndarray, np.ndarray]:
        with open(folder / "cifar-10-batches-py" / name, "rb") as handle:
            entry = pickle.load(handle, encoding="bytes")
        images = entry[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return images, np.asarray(entry[b"labels"], dtype=np.int64)

    parts = [batch(f"data_batch_{i}") for i in range(1, 6)]
    test_x, test_y = batch("test_batch")
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            test_x, test_y)


def synthetic_shapes(n: int, size: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A generated 10-class colour set (5 shapes x warm/cool colours), uint8 (n, size, size, 3).

    The last-resort stand-in when neither CIFAR-10 nor Fashion-MNIST is on disk: it lets a
    chapter run, and says nothing about real photographs.

    Returns:
        ``(images, labels)``: uint8 (n, size, size, 3) and int64 (n,).
    """
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    images = np.empty((n, size, size, 3), dtype=np.float32)
    for i, label in enumerate(labels):
        shape, warm = label % 5, label < 5
        cx, cy = rng.uniform(0.35, 0.65, 2) * size
        r = rng.uniform(0.18, 0.3) * size
        dx, dy = xx - cx, yy - cy
        if shape == 0:
            mask = dx ** 2 + dy ** 2 < r ** 2
        elif shape == 1:
            mask = (abs(dx) < r * 0.8) & (abs(dy) < r * 0.8)
        elif shape == 2:
            mask = (dy < r * 0.7) & (dy > 2 * abs(dx) - r)
        elif shape == 3:
            mask = ((abs(dx) < r * 0.3) | (abs(dy) < r * 0.3)) & (abs(dx) < r) & (abs(dy) < r)
        else:
            d = np.sqrt(dx ** 2 + dy ** 2)
            mask = (d < r) & (d > r * 0.55)
        colour = rng.uniform([0.6, 0.1, 0.0], [1.0, 0.6, 0.3]) if warm else rng.uniform([0.0, 0.2, 0.5], [0.3, 0.7, 1.0])
        background = rng.uniform(0.0, 0.6, 3)
        images[i] = background
        images[i][mask] = colour
    images += rng.normal(0, 0.08, images.shape)
    return (np.clip(images, 0, 1) * 255).astype(np.uint8), labels.astype(np.int64)


def _sources(folder: Path, size: int = 32, seed: int = 0) -> list[tuple[bool, bool, str, Callable[[], tuple]]]:
    """CIFAR-10's sources, best first: (is real, on this machine, summary, read). Disk look-ups only.

    ``read()`` returns (train_x, train_y, test_x, test_y), the bundle's name, its classes and
    the description the bundle carries.
    """
    fashion = fashion_mnist_folder()

    def read_fashion() -> tuple:
        arrays = {key: read_idx(fashion / f) for key, f in MNIST_FILES.items()}
        return (arrays["train_images"], arrays["train_labels"].astype(np.int64), arrays["test_images"],
                arrays["test_labels"].astype(np.int64))

    return [
        (True, cifar10_present(folder), f"real CIFAR-10 60,000 ({read_source_note(folder) or 'the data folder'})",
         lambda: (_read_cifar_folder(folder), "CIFAR-10", CIFAR10_CLASSES,
                  f"CIFAR-10 from {read_source_note(folder) or 'the data folder'}")),
        (False, fashion is not None, "stand-in: Fashion-MNIST 70,000 real photos (grey, 32x32)",
         lambda: (read_fashion(), "Fashion-MNIST (stand-in for CIFAR-10)", FASHION_CLASSES,
                  f"Fashion-MNIST product photos (28x28 grey, repeated to 3 channels) found on this machine; {FETCH_HINT}")),
        (False, True, "stand-in: generated coloured shapes",
         lambda: ((*synthetic_shapes(6000, size, seed), *synthetic_shapes(1000, size, seed + 1)),
                  "Generated shapes (stand-in for CIFAR-10)", SHAPE_CLASSES,
                  f"generated coloured shapes (no real images on this machine); {FETCH_HINT}")),
    ]


def cifar10_source() -> str:
    """Where ``load_cifar10()`` would take its images from, without reading them.

    Returns:
        One line naming the source (real, or which stand-in).
    """
    return next(summary for _, found, summary, _ in _sources(dataset_dir("cifar10")) if found)


def load_cifar10(*, n_train: int | None = None, val_size: int | float = 0.1, size: int = 32,
                 standardize: bool = True, seed: int = 0, source: str = "auto",
                 n_test: int | None = None) -> DataBundle:
    """Load CIFAR-10 (or its offline stand-in) as in-memory (N, 3, size, size) tensors.

    ``source``: ``"auto"`` (real CIFAR-10 if fetched, else Fashion-MNIST from the data
    folder or Debian's ``dataset-fashion-mnist``, else generated shapes), ``"real"``
    (error if absent) or ``"standin"``. Grey stand-ins are resized to ``size`` and repeated
    to 3 channels so every model sees CIFAR-10's input shape. ``n_test`` keeps the first
    ``n_test`` test images (None: all). Never touches the network.

    Args:
        n_train: training images to keep (a stratified subset; None: all).
        val_size: validation images split off the training set (a count, or a fraction in (0, 1)).
        size: side of the images in pixels.
        standardize: standardise with the training split's per-channel mean and standard deviation.
        seed: seeds the splits.
        source: "auto", "real" or "standin".
        n_test: test images to keep (the first ones; None: all).

    Returns:
        A :class:`DataBundle` of (N, 3, size, size) float32 images.

    Raises:
        ValueError: for an unknown ``source`` or a non-positive ``n_train`` / ``n_test``.
        FileNotFoundError: with ``source="real"`` when CIFAR-10 has not been fetched, saying how.
    """
    if source not in ("auto", "real", "standin"):
        raise ValueError(f"source must be 'auto', 'real' or 'standin', got {source!r}")
    folder = dataset_dir("cifar10")
    usable = [(real, read) for real, found, _, read in _sources(folder, size, seed)
              if found and (source == "auto" or real == (source == "real"))]
    if not usable:
        raise FileNotFoundError(f"CIFAR-10 is not in {folder}; {FETCH_HINT} (or set CXRLAB_DATA)")
    real, read = usable[0]
    (train_x, train_y, test_x, test_y), name, classes, described = read()
    standin = not real
    if n_test is not None:
        positive_int(n_test, "n_test")
        test_x, test_y = test_x[:n_test], test_y[:n_test]
    return make_bundle(
        name, described, standin, classes,
        train_x, train_y, test_x, test_y,
        val_size=val_size, standardize=standardize, seed=seed, n_train=n_train,
        size=size, channels=3,
    )
