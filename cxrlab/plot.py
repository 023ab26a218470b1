"""Figure helpers the chapters share: training curves, image grids, confusion matrices."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .train import History


def training_curves(history: History | dict[str, History], *, title: str | None = None,
                    axes: Sequence[plt.Axes] | None = None) -> plt.Figure:
    """Loss and accuracy per epoch, training (solid) and validation (dashed).

    Pass one History or a dict ``{label: History}`` to compare runs on the same axes.
    Accuracy is plotted in percent. Returns the figure.
    """
    runs = history if isinstance(history, dict) else {"": history}
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    else:
        fig = axes[0].figure
    for i, (label, h) in enumerate(runs.items()):
        colour = f"C{i}"
        epochs = np.arange(1, h.epochs + 1)
        prefix = f"{label} " if label else ""
        axes[0].plot(epochs, h.train_loss, "-o", ms=3, color=colour, label=f"{prefix}train")
        axes[1].plot(epochs, np.array(h.train_accuracy) * 100, "-o", ms=3, color=colour, label=f"{prefix}train")
        if h.val_loss:
            axes[0].plot(epochs, h.val_loss, "--s", ms=3, color=colour, label=f"{prefix}validation")
            axes[1].plot(epochs, np.array(h.val_accuracy) * 100, "--s", ms=3, color=colour,
                         label=f"{prefix}validation")
    axes[0].set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss")
    axes[1].set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def image_grid(images: torch.Tensor | np.ndarray, titles: Sequence[str] | None = None, *,
               ncols: int = 8, cmap: str = "gray", size: float = 1.4,
               suptitle: str | None = None) -> plt.Figure:
    """Show images (N, H, W), (N, 1, H, W) or (N, 3, H, W) in a grid, each scaled to its range.

    ``titles`` (one per image) are printed above each cell. Returns the figure.
    """
    array = images.detach().cpu().float().numpy() if isinstance(images, torch.Tensor) else np.asarray(images, dtype=float)
    if array.ndim == 4:
        array = array.transpose(0, 2, 3, 1)
        if array.shape[-1] == 1:
            array = array[..., 0]
    if array.ndim not in (3, 4) or len(array) == 0:
        raise ValueError(f"image_grid expects a non-empty batch of images, got shape {np.shape(images)}")
    n = len(array)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = array[i]
        lo, hi = float(img.min()), float(img.max())
        img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
        ax.imshow(img, cmap=cmap if img.ndim == 2 else None, vmin=0, vmax=1)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def confusion_matrix(labels: Sequence[int] | torch.Tensor, predictions: Sequence[int] | torch.Tensor,
                     class_names: Sequence[str], *, title: str | None = None,
                     ax: plt.Axes | None = None) -> plt.Figure:
    """Confusion matrix (counts; rows true class, columns predicted) via scikit-learn."""
    from sklearn.metrics import ConfusionMatrixDisplay

    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 5))
    else:
        fig = ax.figure
    ConfusionMatrixDisplay.from_predictions(
        np.asarray(labels), np.asarray(predictions), labels=list(range(len(class_names))),
        display_labels=list(class_names), ax=ax, colorbar=False, cmap="Blues",
    )
    ax.set(xlabel="predicted class", ylabel="true class")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
