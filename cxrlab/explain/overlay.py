"""Heatmaps over images: one overlay, and a grid of images x explanation methods.

Both draw in the book's figure style (``cxrlab.figures``): the radiograph in grey, the heatmap
in the perceptual :data:`cxrlab.figures.HEATMAP_CMAP` with an opacity that follows the heat (cold
pixels leave the anatomy visible), a colour bar, and each ground-truth lesion outlined in
:data:`MASK_COLOR` ("cyan": it stands out against both grey and the heatmap's black-red-yellow).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import torch

from .._checks import require_finite
from ..figures import HEATMAP_CMAP, MIN_FONT_PT, PAGE_WIDTH, heatmap_overlay, radiograph

#: The colour of every ground-truth mask outline (chapter 8's captions name it).
MASK_COLOR = "cyan"
#: The colour bar's label.
HEAT_LABEL = "relevance (0 none, 1 most)"


def _grey(image: torch.Tensor | np.ndarray) -> np.ndarray:
    array = image.detach().cpu().float().numpy() if isinstance(image, torch.Tensor) else np.asarray(image, float)
    require_finite(array, "image", per_item=False)
    if array.ndim == 3:
        array = array.mean(0) if array.shape[0] in (1, 3) else array.mean(-1)
    if array.ndim != 2:
        raise ValueError(f"image must be (H, W), (C, H, W) or (H, W, C), got shape {np.shape(image)}")
    low, high = array.min(), array.max()
    return (array - low) / (high - low) if high > low else np.zeros_like(array)


def _outline(ax: plt.Axes, mask: torch.Tensor | np.ndarray | None) -> None:
    if mask is None:
        return
    m = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    if m.any():
        ax.contour(m.astype(float), levels=[0.5], colors=MASK_COLOR, linewidths=1.2)


def overlay(image: torch.Tensor | np.ndarray, heatmap: torch.Tensor | np.ndarray, *, ax: plt.Axes | None = None,
            alpha: float = 0.75, mask: torch.Tensor | np.ndarray | None = None, title: str | None = None,
            colorbar: bool = True) -> plt.Axes:
    """Draw ``heatmap`` over a grey ``image``, its opacity following the heat.

    Args:
        image: (H, W), (C, H, W) or (H, W, C), finite; shown min-max scaled in grey.
        heatmap: (H, W) values in [0, 1] (e.g. from ``to_heatmap``), finite.
        ax: Axes to draw on (a new 2.7 x 2.7 inch figure when None).
        alpha: the opacity of the hottest pixels, in (0, 1]; a heat of h is drawn at ``alpha * h``.
        mask: optional (H, W) boolean ground-truth lesion, outlined in :data:`MASK_COLOR`.
        title: optional Axes title.
        colorbar: draw a colour bar beside the Axes (pass False in a grid and add one shared bar).

    Returns:
        The Axes.

    Raises:
        ValueError: shapes that differ, NaN or infinity in the image or heatmap, a heatmap
            outside [0, 1], alpha outside (0, 1].
    """
    grey = _grey(image)
    heat = heatmap.detach().cpu().float().numpy() if isinstance(heatmap, torch.Tensor) else np.asarray(heatmap, float)
    require_finite(heat, "heatmap", per_item=False)
    if heat.shape != grey.shape:
        raise ValueError(f"heatmap {heat.shape} and image {grey.shape} must have the same height and width")
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must lie in (0, 1], got {alpha}")
    if ax is None:
        _, ax = plt.subplots(figsize=(2.7, 2.7))
    heatmap_overlay(ax, grey, heat, max_alpha=alpha, colorbar=colorbar, label=HEAT_LABEL)
    _outline(ax, mask)
    if title:
        ax.set_title(title, fontsize=MIN_FONT_PT)
    return ax


def explanation_grid(images: torch.Tensor, maps: Mapping[str, torch.Tensor], *,
                     masks: torch.Tensor | np.ndarray | None = None, row_titles: Sequence[str] | None = None,
                     alpha: float = 0.75, size: float = 2.0, suptitle: str | None = None) -> plt.Figure:
    """A grid for the page: one row per image, the image first and then one overlay per method.

    The figure is at most ``cxrlab.figures.PAGE_WIDTH`` wide (panels shrink below ``size`` to
    fit), with one shared colour bar on the right and text of at least ``MIN_FONT_PT`` points.

    Args:
        images: (B, C, H, W) or (B, H, W).
        maps: {method name: heatmaps (B, H, W) in [0, 1]}.
        masks: optional (B, H, W) ground truth, outlined in :data:`MASK_COLOR` on every panel.
        row_titles: B labels of the first column (e.g. the finding explained).
        alpha: opacity of the hottest pixels, in (0, 1].
        size: inches per panel at most.
        suptitle: optional figure title (a chapter usually gives a caption instead).

    Returns:
        The Figure (B rows, 1 + len(maps) image columns, then the colour bar).

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
    panel = min(size, (PAGE_WIDTH - 0.8) / ncols)
    wrap = max(8, int(panel * 72 / (0.55 * MIN_FONT_PT)))  # characters of 10-pt text per panel width
    height = (panel + 0.2 + 0.17 * _title_lines(row_titles, maps, wrap)) * batch + (0.35 if suptitle else 0)
    fig, axes = plt.subplots(batch, ncols, figsize=(panel * ncols + 0.8, height), squeeze=False, layout="constrained")
    for i in range(batch):
        mask = None if masks is None else masks[i]
        radiograph(axes[i, 0], _grey(images[i]))
        _outline(axes[i, 0], mask)
        axes[i, 0].set_title(_wrap(row_titles[i] if row_titles is not None else "image", wrap), fontsize=MIN_FONT_PT)
        for j, (name, m) in enumerate(maps.items(), start=1):
            overlay(images[i], m[i], ax=axes[i, j], alpha=alpha, mask=mask, colorbar=False,
                    title=_wrap(name, wrap) if i == 0 else None)
    if suptitle:
        fig.suptitle(suptitle)
    shared = mpl.cm.ScalarMappable(norm=mpl.colors.Normalize(0, 1), cmap=HEATMAP_CMAP)
    bar = fig.colorbar(shared, ax=axes, shrink=min(1.0, 2.2 / height), aspect=25)
    bar.set_label(HEAT_LABEL)
    return fig


def _wrap(text: str, width: int) -> str:  # each line of the text wrapped to ``width`` characters
    return "\n".join(textwrap.fill(line, width, break_long_words=False, break_on_hyphens=False)
                     for line in text.split("\n"))


def _title_lines(row_titles: Sequence[str] | None, maps: Mapping[str, torch.Tensor], width: int) -> int:
    texts = list(row_titles or ["image"]) + list(maps)
    return max(_wrap(t, width).count("\n") + 1 for t in texts)
