"""Heatmaps over images: one overlay, and a grid of images x explanation methods."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .._checks import require_finite


def _grey(image: torch.Tensor | np.ndarray) -> np.ndarray:
    array = image.detach().cpu().float().numpy() if isinstance(image, torch.Tensor) else np.asarray(image, float)
    require_finite(array, "image", per_item=False)
    if array.ndim == 3:
        array = array.mean(0) if array.shape[0] in (1, 3) else array.mean(-1)
    if array.ndim != 2:
        raise ValueError(f"image must be (H, W), (C, H, W) or (H, W, C), got shape {np.shape(image)}")
    low, high = array.min(), array.max()
    return (array - low) / (high - low) if high > low else np.zeros_like(array)


def overlay(image: torch.Tensor | np.ndarray, heatmap: torch.Tensor | np.ndarray, *, ax: plt.Axes | None = None,
            alpha: float = 0.45, cmap: str = "jet", mask: torch.Tensor | np.ndarray | None = None,
            title: str | None = None) -> plt.Axes:
    """Draw ``heatmap`` over a grey ``image``.

    Args:
        image: (H, W), (C, H, W) or (H, W, C), finite; shown min-max scaled in grey.
        heatmap: (H, W) values in [0, 1] (e.g. from ``to_heatmap``), finite.
        ax: Axes to draw on (a new 3 x 3 inch figure when None).
        alpha: the heatmap's opacity, in [0, 1].
        cmap: matplotlib colour map of the heatmap.
        mask: optional (H, W) boolean ground-truth lesion, outlined in white.
        title: optional Axes title.

    Returns:
        The Axes.

    Raises:
        ValueError: shapes that differ, NaN or infinity in the image or heatmap, alpha outside [0, 1].
    """
    grey = _grey(image)
    heat = heatmap.detach().cpu().float().numpy() if isinstance(heatmap, torch.Tensor) else np.asarray(heatmap, float)
    require_finite(heat, "heatmap", per_item=False)
    if heat.shape != grey.shape:
        raise ValueError(f"heatmap {heat.shape} and image {grey.shape} must have the same height and width")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if ax is None:
        _, ax = plt.subplots(figsize=(3, 3))
    ax.imshow(grey, cmap="gray", vmin=0, vmax=1)
    ax.imshow(heat, cmap=cmap, vmin=0, vmax=1, alpha=alpha)
    if mask is not None:
        m = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
        if m.any():
            ax.contour(m.astype(float), levels=[0.5], colors="white", linewidths=1.0)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def explanation_grid(images: torch.Tensor, maps: Mapping[str, torch.Tensor], *,
                     masks: torch.Tensor | np.ndarray | None = None, row_titles: Sequence[str] | None = None,
                     alpha: float = 0.45, size: float = 2.0, suptitle: str | None = None) -> plt.Figure:
    """A grid: one row per image, the image first and then one overlay per method.

    Args:
        images: (B, C, H, W) or (B, H, W).
        maps: {method name: heatmaps (B, H, W) in [0, 1]}.
        masks: optional (B, H, W) ground truth, outlined on every panel.
        row_titles: B labels of the first column (e.g. the true and predicted class).
        alpha: heatmap opacity in [0, 1].
        size: inches per panel.
        suptitle: optional figure title.

    Returns:
        The Figure (B rows, 1 + len(maps) columns).

    Raises:
        ValueError: no maps, a method with a different number of maps than images, or any
            error of ``overlay``.
    """
    if not maps:
        raise ValueError("maps is empty; pass {method name: (B, H, W) heatmaps}")
    batch = len(images)
    for name, m in maps.items():
        if len(m) != batch:
            raise ValueError(f"maps[{name!r}] has {len(m)} maps for {batch} images")
    ncols = 1 + len(maps)
    fig, axes = plt.subplots(batch, ncols, figsize=(size * ncols, size * batch + (0.4 if suptitle else 0)),
                             squeeze=False)
    for i in range(batch):
        mask = None if masks is None else masks[i]
        axes[i, 0].imshow(_grey(images[i]), cmap="gray", vmin=0, vmax=1)
        if mask is not None and np.asarray(mask).any():
            axes[i, 0].contour(np.asarray(mask, dtype=float), levels=[0.5], colors="red", linewidths=1.0)
        axes[i, 0].set_xticks([])
        axes[i, 0].set_yticks([])
        axes[i, 0].set_title(row_titles[i] if row_titles is not None else "image", fontsize=9)
        for j, (name, m) in enumerate(maps.items(), start=1):
            overlay(images[i], m[i], ax=axes[i, j], alpha=alpha, mask=mask, title=name if i == 0 else None)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
