"""Figure helpers the chapters share: training curves, image grids, confusion matrices.

One convention for every plot helper of the package: it is named after what it draws (a
noun phrase: ``training_curves``, ``image_grid``, ``confusion_matrix``,
``cxrlab.features.filter_grid``), takes the data first and options by keyword, draws into
``ax``/``axes`` when given, and returns the matplotlib ``Figure`` (never shows it: the
chapter calls ``plt.show()``).
"""

from __future__ import annotations

import math
import textwrap
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import MaxNLocator

from .figures import MIN_FONT_PT, PAGE_WIDTH, PALETTE, figure_size, series_color
from .train import History

#: What ``training_curves`` can draw: History field -> (panel kind, split label).
CURVES = {"train_loss": ("loss", "train"), "val_loss": ("loss", "validation"),
          "train_accuracy": ("accuracy", "train"), "val_accuracy": ("accuracy", "validation")}
_STYLE = {"train": "-o", "validation": "--s"}
_LABELS = {"loss": ("cross-entropy loss", "Loss"), "accuracy": ("accuracy (%)", "Accuracy")}


def training_curves(history: History | dict[str, History], *, title: str | None = None,
                    axes: Sequence[plt.Axes] | None = None,
                    panels: Sequence[Sequence[str]] = (("train_loss", "val_loss"), ("train_accuracy", "val_accuracy")),
                    panel_titles: Sequence[str] | None = None,
                    legend: str | None = None) -> plt.Figure:
    """Loss and accuracy per epoch, training (solid) and validation (dashed), one colour per run.

    A run keeps its colour in every figure of the chapter (``cxrlab.figures.series_color``); the
    figure fits the page's column (``cxrlab.figures.figure_size``). The epoch axis has whole
    epochs only (a one-epoch run shows one tick, 1, not 0.95 ... 1.05): every epoch up to 8,
    at most about 6 ticks beyond.

    Args:
        history: one History, or ``{label: History}`` to compare runs on the same axes.
        title: the figure's title.
        axes: draw into these axes (one per panel, in order; a single Axes or a 2-D array
            from ``plt.subplots`` is fine) instead of a new figure.
        panels: which curves each panel shows, by History field (``train_loss``,
            ``val_loss``, ``train_accuracy``, ``val_accuracy``); one panel mixes losses or
            accuracies, not both. Default: loss, then accuracy, each train and validation.
        panel_titles: one title per panel (default "Loss" / "Accuracy").
        legend: ``"below"`` (default for a new figure): one legend for all panels, under them,
            off the curves; a run drawn with another line style in each panel (training loss
            beside validation accuracy) is named once, by its colour. ``"inside"`` (default
            when ``axes`` are given): a legend in each panel. ``"none"``: no legend.

    Returns:
        The matplotlib Figure. Accuracy is plotted in percent.

    Raises:
        ValueError: for a history without epochs, an unknown curve name, a panel that no run
            has a curve for (validation curves of a run fitted without ``val``), a panel mixing loss
            and accuracy, a number of ``axes`` or ``panel_titles`` that differs from the number
            of panels, an unknown ``legend``, or ``legend="below"`` with ``axes`` given (the
            figure is the caller's: use ``"inside"`` or draw ``fig.legend`` yourself).
        TypeError: when ``history`` is neither a History nor a dict of them.
    """
    runs = history if isinstance(history, dict) else {"": history}
    if not runs or not all(isinstance(h, History) for h in runs.values()):
        raise TypeError("history must be a History from fit, or a non-empty dict {label: History}")
    if all(h.epochs == 0 for h in runs.values()):
        raise ValueError("history has no epochs to draw (an empty History); pass the one fit returned")
    kinds = []
    for panel in panels:
        unknown = [c for c in panel if c not in CURVES]
        if unknown or not panel:
            raise ValueError(f"unknown curve(s) {unknown or panel!r}; choose from {', '.join(CURVES)}")
        panel_kinds = {CURVES[c][0] for c in panel}
        if len(panel_kinds) != 1:
            raise ValueError(f"panel {tuple(panel)} mixes loss and accuracy: give each its own panel")
        kinds.append(panel_kinds.pop())
        if not any(len(getattr(h, c)) for h in runs.values() for c in panel):
            raise ValueError(f"panel {tuple(panel)} would be empty: no run has these curves "
                             "(validation curves need fit(..., val=...))")
    if panel_titles is not None and len(panel_titles) != len(panels):
        raise ValueError(f"{len(panel_titles)} panel_titles for {len(panels)} panels")
    if legend is None:
        legend = "below" if axes is None else "inside"
    if legend not in ("below", "inside", "none"):
        raise ValueError(f"legend must be 'below', 'inside' or 'none', got {legend!r}")
    if legend == "below" and axes is not None:
        raise ValueError("legend='below' needs a figure of training_curves' own; with axes given, "
                         "use legend='inside' or 'none' and draw fig.legend yourself")
    if axes is None:
        # constrained layout makes room for the legend under the panels ("outside lower center")
        fig, axes = plt.subplots(1, len(panels), figsize=figure_size(len(panels), panel_aspect=0.85),
                                 squeeze=False, layout="constrained" if legend == "below" else None)
        axes = list(axes[0])
    else:
        axes = list(np.asarray(axes, dtype=object).ravel())  # one Axes, a list, or plt.subplots' 2-D array
        if len(axes) != len(panels):
            raise ValueError(f"{len(axes)} axes for {len(panels)} panels")
        fig = axes[0].figure
    most = max(h.epochs for h in runs.values())  # the epoch axis every panel shares
    for ax, panel, kind, index in zip(axes, panels, kinds, range(len(panels))):
        for i, (label, h) in enumerate(runs.items()):
            epochs = np.arange(1, h.epochs + 1)
            prefix = f"{label} " if label else ""
            for curve in panel:
                values = np.asarray(getattr(h, curve), dtype=float)
                if len(values) == 0:
                    continue  # no validation data in this run
                split = CURVES[curve][1]
                shown = f"{prefix}{split}" if len(panel) > 1 or not label else label
                ax.plot(epochs, values * (100 if kind == "accuracy" else 1), _STYLE[split], ms=3,
                        color=series_color(label) if label else PALETTE[0], label=shown)
        ylabel, default_title = _LABELS[kind]
        ax.set(xlabel="epoch", ylabel=ylabel, title=panel_titles[index] if panel_titles else default_title)
        ax.grid(alpha=0.3)
        if legend == "inside":
            ax.legend(frameon=False)
        if most <= 8:  # every epoch its tick; beyond 8, a half-width panel ran "10 11 12" together
            ax.set_xticks(range(1, most + 1))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
        ax.set_xlim(0.5, most + 0.5)
    if title:
        fig.suptitle(title)
    if legend == "below":
        handles, labels = _shared_legend(axes)
        if handles:
            _legend_below(fig, handles, labels)
    elif fig.get_layout_engine() is None:
        fig.tight_layout()
    return fig


def _legend_below(fig: plt.Figure, handles: list, labels: list[str]) -> None:
    """``fig.legend`` under the panels, as few rows as fit the figure's width (long labels
    wrapped), and the figure made taller by the legend's height so that the panels keep theirs
    (constrained layout would otherwise squeeze them, to nothing for eight runs or more)."""
    width = fig.get_figwidth() * fig.dpi
    n = len(labels)
    for wrap in (None, 40, 28, 20, 14):
        shown = labels if wrap is None else [textwrap.fill(label, wrap) for label in labels]
        fits = []
        for ncols in range(min(n, 4), 0, -1):
            box = fig.legend(handles, shown, loc="outside lower center", frameon=False, ncols=ncols)
            too_wide = box.get_window_extent().width > width
            box.remove()
            if not too_wide:
                fits.append(ncols)
        if fits:  # the fewest rows, then the fewest columns that give them (balanced rows)
            rows = min(math.ceil(n / c) for c in fits)
            ncols = min(c for c in fits if math.ceil(n / c) == rows)
            break
    else:
        ncols = 1
    box = fig.legend(handles, shown, loc="outside lower center", frameon=False, ncols=ncols)
    fig.set_figheight(fig.get_figheight() + box.get_window_extent().height / fig.dpi)


def _shared_legend(axes: Sequence[plt.Axes]) -> tuple[list, list[str]]:
    """One legend entry per label over all panels: the line itself where the label looks the
    same everywhere, else a plain line in its colour (the panels' titles say the rest)."""
    from matplotlib.lines import Line2D

    looks: dict[str, list] = {}
    for ax in axes:
        for line in ax.get_lines():
            label = line.get_label()
            if label and not label.startswith("_"):
                looks.setdefault(label, []).append(line)
    handles = []
    for lines in looks.values():
        styles = {(line.get_color(), line.get_linestyle(), line.get_marker()) for line in lines}
        handles.append(lines[0] if len(styles) == 1 else Line2D([], [], color=lines[0].get_color()))
    return handles, list(looks)


def image_grid(images: torch.Tensor | np.ndarray, titles: Sequence[str] | None = None, *,
               ncols: int = 8, cmap: str = "gray", size: float = 1.4,
               suptitle: str | None = None) -> plt.Figure:
    """Show images (N, H, W), (N, 1, H, W) or (N, 3, H, W) in a grid, each scaled to its range.

    Args:
        images: a tensor or array of images.
        titles: one title per image, printed above its cell.
        ncols: images per row.
        cmap: colour map of single-channel images (grey for radiographs).
        size: side of one cell in inches; shrunk so the grid fits the page's column
            (``cxrlab.figures.PAGE_WIDTH``). Titles are set at the book's smallest font, so
            give long titles fewer columns.
        suptitle: the figure's title.

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: for an empty batch, a shape other than those above, or a number of
            titles that differs from the number of images.
    """
    array = images.detach().cpu().float().numpy() if isinstance(images, torch.Tensor) else np.asarray(images, dtype=float)
    if array.ndim == 4:
        array = array.transpose(0, 2, 3, 1)
        if array.shape[-1] == 1:
            array = array[..., 0]
    if array.ndim not in (3, 4) or len(array) == 0:
        raise ValueError(f"image_grid expects a non-empty batch of images, got shape {np.shape(images)}")
    n = len(array)
    if titles is not None and len(titles) != n:
        raise ValueError(f"{len(titles)} titles for {n} images: give one title per image")
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    size = min(size, PAGE_WIDTH / ncols)
    title_lines = max((str(t).count("\n") + 1 for t in titles), default=0) if titles is not None else 0
    row_height = size + title_lines * MIN_FONT_PT * 1.35 / 72
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, row_height * nrows + (0.45 if suptitle else 0)),
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
            ax.set_title(titles[i], fontsize=MIN_FONT_PT)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def confusion_matrix(labels: Sequence[int] | torch.Tensor, predictions: Sequence[int] | torch.Tensor,
                     class_names: Sequence[str], *, title: str | None = None,
                     ax: plt.Axes | None = None) -> plt.Figure:
    """Confusion matrix (counts; rows true class, columns predicted) via scikit-learn.

    Args:
        labels: true class indices (N,).
        predictions: predicted class indices (N,).
        class_names: one name per class, in index order.
        title: the axes' title.
        ax: draw into this axes instead of a new figure.

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: when labels and predictions differ in length.
    """
    if len(labels) != len(predictions):
        raise ValueError(f"labels and predictions differ in length: {len(labels)} vs {len(predictions)}")
    from sklearn.metrics import ConfusionMatrixDisplay

    if ax is None:
        fig, ax = plt.subplots(figsize=(PAGE_WIDTH, PAGE_WIDTH * 0.9))
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
