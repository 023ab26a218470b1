"""The in-memory data set a loader returns: train/val/test tensors and where they came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import train_test_split
from torch.utils.data import TensorDataset

from .._checks import positive_int


@dataclass
class DataBundle:
    """Train, validation and test splits as TensorDatasets of (images, labels).

    Images are float32 tensors of shape (N, C, H, W); labels are int64 class indices.
    ``source`` says where the data came from; ``is_standin`` is True when it is not the
    data set the chapter names (e.g. Fashion-MNIST standing in for CIFAR-10).
    """

    name: str
    source: str
    is_standin: bool
    classes: list[str]
    train: TensorDataset
    val: TensorDataset
    test: TensorDataset
    mean: tuple[float, ...] = field(default_factory=tuple)
    std: tuple[float, ...] = field(default_factory=tuple)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        return tuple(self.train.tensors[0].shape[1:])  # type: ignore[return-value]

    @property
    def sizes(self) -> dict[str, int]:
        """Number of examples in each split."""
        return {s: len(getattr(self, s)) for s in ("train", "val", "test")}

    def summary(self) -> str:
        """One line: name, source, split sizes and image shape."""
        sizes = ", ".join(f"{k} {v:,}" for k, v in self.sizes.items())
        kind = "STAND-IN" if self.is_standin else "real"
        return f"{self.name} [{kind}: {self.source}] {sizes}; images {self.image_shape}"

    def __repr__(self) -> str:
        return f"DataBundle({self.summary()})"


def stratified_split(labels: np.ndarray, test_size: int | float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (keep, held_out) with class proportions preserved; held_out has ``test_size``.

    Returns:
        Two sorted index arrays.

    Raises:
        ValueError: (from scikit-learn) when a class has too few examples to stratify.
    """
    indices = np.arange(len(labels))
    keep, held = train_test_split(indices, test_size=test_size, random_state=seed, stratify=labels)
    return np.sort(keep), np.sort(held)


def subsample(labels: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """Indices of a stratified subset of ``n`` examples (all indices when n is None or too big).

    Returns:
        Sorted indices.
    """
    if n is None or n >= len(labels):
        return np.arange(len(labels))
    keep, _ = stratified_split(labels, test_size=len(labels) - n, seed=seed)
    return keep


def images_to_tensor(images: np.ndarray, *, pad: int = 0, size: int | None = None,
                     channels: int | None = None) -> torch.Tensor:
    """Turn uint8 images (N, H, W) or (N, H, W, C) into float32 (N, C, H', W') in [0, 1].

    ``pad`` adds zero pixels on every side (LeNet-5's 28 -> 32); ``size`` resizes the
    whole batch at once (bilinear, antialiased); ``channels`` repeats a grey channel.
    Done once, in memory: no per-sample transform on the training hot path.
    """
    x = torch.from_numpy(np.ascontiguousarray(images))
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
    x = x.float().div_(255.0)
    if pad:
        x = F.pad(x, (pad, pad, pad, pad))
    if size is not None and x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        x.clamp_(0.0, 1.0)
    if channels is not None and x.shape[1] != channels:
        if x.shape[1] != 1:
            raise ValueError(f"can only repeat a single grey channel, images have {x.shape[1]}")
        x = x.repeat(1, channels, 1, 1)
    return x.contiguous()


def make_bundle(name: str, source: str, is_standin: bool, classes: list[str],
                train_images: np.ndarray, train_labels: np.ndarray,
                test_images: np.ndarray, test_labels: np.ndarray,
                *, val_size: int | float, standardize: bool, seed: int,
                n_train: int | None = None, **convert: Any) -> DataBundle:
    """Split a validation set off the training images (stratified) and build the bundle.

    Images come in as uint8 arrays; only the kept ones are converted, once, with
    ``images_to_tensor(..., **convert)``. ``n_train`` keeps a stratified subset of the
    remaining training images (None: all). With ``standardize`` every split is shifted and
    scaled by the per-channel mean and standard deviation of the training split (so the
    test set never leaks into them).

    Returns:
        The :class:`DataBundle`.

    Raises:
        ValueError: for a non-positive ``n_train`` or a split too small to stratify.
    """
    if n_train is not None:
        positive_int(n_train, "n_train")
    train_labels = np.asarray(train_labels, dtype=np.int64)
    test_labels = np.asarray(test_labels, dtype=np.int64)
    keep, val = stratified_split(train_labels, val_size, seed)
    keep = keep[subsample(train_labels[keep], n_train, seed)]
    tx = images_to_tensor(train_images[keep], **convert)
    vx = images_to_tensor(train_images[val], **convert)
    sx = images_to_tensor(test_images, **convert)
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    if standardize:
        m = tx.mean(dim=(0, 2, 3), keepdim=True)
        s = tx.std(dim=(0, 2, 3), keepdim=True)
        tx, vx, sx = (tx - m) / s, (vx - m) / s, (sx - m) / s
        mean, std = tuple(m.flatten().tolist()), tuple(s.flatten().tolist())

    def dataset(x: torch.Tensor, y: np.ndarray) -> TensorDataset:
        return TensorDataset(x.contiguous(), torch.from_numpy(y))

    return DataBundle(
        name=name, source=source, is_standin=is_standin, classes=classes,
        train=dataset(tx, train_labels[keep]), val=dataset(vx, train_labels[val]),
        test=dataset(sx, test_labels), mean=mean, std=std,
    )
