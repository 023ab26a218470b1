"""How the book's figures look: sized for the page, sharp, readable on a phone, honest colours.

``cxrlab.setup()`` calls :func:`use_book_style` once, so every chapter's figures share these rules:

- **Size for the column.** No figure is wider than :data:`PAGE_WIDTH` inches, and no text is
  smaller than :data:`MIN_FONT_PT` points. On a 390-px phone the book shows figures 367 px
  wide (the page's CSS lets them run to 4 px from the screen's edges), so a full-width figure
  is shown at 367 / (100 * 5.4) = 0.68 of its size and 10-pt text stays at
  10 / 72 * 100 * 0.68 = 9.4 px. Use :func:`figure_size` for the figure size and at most two
  panels per row where a panel holds a plot with axes.
- **Twice the resolution.** The inline backend writes PNGs at 2 x ``figure.dpi`` ("retina") with
  the display size in the output's metadata, so they stay sharp on high-density screens.
- **Colours.** A series keeps its colour within a chapter (:func:`series_color`), from the
  Okabe-Ito palette that readers with colour-vision deficiency can tell apart; radiographs are
  grey; heatmaps use a perceptually uniform map (:data:`HEATMAP_CMAP`) whose opacity follows the
  heat, with a colour bar (:func:`heatmap_overlay`).

:func:`text_problems` lists what breaks the first rule in a figure, for tests.
"""

from __future__ import annotations

from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

#: Widest figure, inches: at 100 dpi it is drawn 540 px wide, as wide as the book's column.
PAGE_WIDTH = 5.4
#: Smallest text in a figure, points (9.4 px as displayed on a 390-px phone at PAGE_WIDTH).
MIN_FONT_PT = 10.0
#: The Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design"); its yellow, hard to see
#: as a thin line on white, comes last.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
#: Colour map of every radiograph: grey, dark = low attenuation after windowing.
RADIOGRAPH_CMAP = "gray"
#: Colour map of every heatmap: perceptually uniform, lightness rising with the value.
HEATMAP_CMAP = "inferno"

BOOK_STYLE: dict[str, Any] = {
    "figure.figsize": (PAGE_WIDTH, 3.4),
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "font.size": MIN_FONT_PT,
    "axes.titlesize": MIN_FONT_PT + 1,
    "axes.labelsize": MIN_FONT_PT,
    "xtick.labelsize": MIN_FONT_PT,
    "ytick.labelsize": MIN_FONT_PT,
    "legend.fontsize": MIN_FONT_PT,
    "legend.title_fontsize": MIN_FONT_PT,
    "figure.titlesize": MIN_FONT_PT + 2,
    "axes.prop_cycle": mpl.cycler(color=list(PALETTE)),
    "axes.grid": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.cmap": RADIOGRAPH_CMAP,
    "figure.constrained_layout.use": False,
}

_series: dict[str, str] = {}


def use_book_style() -> None:
    """Apply :data:`BOOK_STYLE` to matplotlib and, inside Jupyter, draw inline figures at 2x.

    Idempotent; called by ``cxrlab.setup()``. Outside IPython only the rcParams change.
    """
    mpl.rcParams.update(BOOK_STYLE)
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        return
    if get_ipython() is None:
        return
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # pragma: no cover
        return
    set_matplotlib_formats("retina")


def figure_size(ncols: int = 1, nrows: int = 1, *, panel_aspect: float = 0.75,
                width: float = PAGE_WIDTH) -> tuple[float, float]:
    """The (width, height) in inches of a figure of ``nrows`` x ``ncols`` panels for the page.

    Args:
        ncols: panels per row, >= 1 (at most 2 for plots with axes and tick labels; image
            panels without text can take more).
        nrows: rows of panels, >= 1.
        panel_aspect: height / width of one panel, > 0.
        width: the figure's width in inches, in (0, PAGE_WIDTH].

    Returns:
        ``(width, height)``, height = width / ncols * panel_aspect * nrows (plus 0.3 in per row
        for titles).

    Raises:
        ValueError: for a count below 1, a non-positive aspect, or a width above PAGE_WIDTH
            (the figure would be shrunk on a phone until its text is unreadable).
    """
    from ._checks import positive_int

    ncols, nrows = positive_int(ncols, "ncols"), positive_int(nrows, "nrows")
    if not (np.isfinite(panel_aspect) and panel_aspect > 0):
        raise ValueError(f"panel_aspect must be a positive number, got {panel_aspect!r}")
    if not (np.isfinite(width) and 0 < width <= PAGE_WIDTH + 1e-9):
        raise ValueError(f"width must lie in (0, {PAGE_WIDTH}] inches (the page column), got {width!r}; "
                         "split the figure into two rows instead")
    return width, nrows * (width / ncols * panel_aspect + 0.3)


def series_color(label: str) -> str:
    """The colour of the series called ``label``: the same colour every time it is drawn.

    Colours are handed out from :data:`PALETTE` in the order labels are first seen in this
    Python process (one chapter's kernel), so "plain" and "residual" keep their colours across
    every figure of a chapter. After eight labels the palette repeats.

    Raises:
        TypeError: when ``label`` is not a string.
    """
    if not isinstance(label, str):
        raise TypeError(f"label must be a string, got {type(label).__name__}")
    if label not in _series:
        _series[label] = PALETTE[len(_series) % len(PALETTE)]
    return _series[label]


def radiograph(ax: plt.Axes, image: Any, *, title: str | None = None) -> mpl.image.AxesImage:
    """Draw a radiograph (or any single-channel image) in grey, min-max scaled, without ticks.

    Args:
        ax: the Axes.
        image: (H, W), (1, H, W) or (H, W, 1) array or tensor, finite.
        title: optional Axes title.

    Returns:
        The AxesImage.

    Raises:
        ValueError: for another shape or non-finite values.
    """
    array = _image2d(image, "image")
    low, high = float(array.min()), float(array.max())
    shown = ax.imshow(array, cmap=RADIOGRAPH_CMAP, vmin=low, vmax=high if high > low else low + 1)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():  # no frame line along the film's edges
        spine.set_visible(False)
    if title:
        ax.set_title(title)
    return shown


def heatmap_overlay(ax: plt.Axes, image: Any, heat: Any, *, max_alpha: float = 0.75,
                    colorbar: bool = True, label: str = "relevance (0 = none, 1 = most)") -> mpl.image.AxesImage:
    """A heatmap over a grey image, its opacity following the heat, with a colour bar.

    Cold pixels stay transparent, so the anatomy under them is seen; the hottest are drawn at
    ``max_alpha``. The colour map is :data:`HEATMAP_CMAP` (perceptually uniform, unlike jet,
    whose bright yellow band reads as a peak that is not there).

    Args:
        ax: the Axes.
        image: (H, W) (or single-channel) image, finite; drawn in grey.
        heat: (H, W) heatmap in [0, 1], finite, the image's height and width.
        max_alpha: opacity of a heat of 1, in (0, 1].
        colorbar: add a colour bar beside the Axes.
        label: the colour bar's label.

    Returns:
        The heatmap's AxesImage (pass it to ``fig.colorbar`` to share one bar between panels).

    Raises:
        ValueError: shapes that differ, values outside [0, 1] or non-finite, a bad max_alpha.
    """
    grey = _image2d(image, "image")
    heat2d = _image2d(heat, "heat")
    if heat2d.shape != grey.shape:
        raise ValueError(f"heat {heat2d.shape} and image {grey.shape} must have the same height and width")
    if heat2d.min() < -1e-6 or heat2d.max() > 1 + 1e-6:
        raise ValueError(f"heat must lie in [0, 1] (got {heat2d.min():.3g}..{heat2d.max():.3g}); "
                         "scale it first, e.g. with cxrlab.explain.to_heatmap")
    if not 0 < max_alpha <= 1:
        raise ValueError(f"max_alpha must lie in (0, 1], got {max_alpha!r}")
    radiograph(ax, grey)  # drawn only once both inputs are known to be valid
    heat2d = np.clip(heat2d, 0, 1)
    cmap = plt.get_cmap(HEATMAP_CMAP)
    rgba = cmap(heat2d)
    rgba[..., 3] = max_alpha * heat2d
    ax.imshow(rgba)
    mappable = mpl.cm.ScalarMappable(norm=mpl.colors.Normalize(0, 1), cmap=cmap)
    if colorbar:
        bar = ax.figure.colorbar(mappable, ax=ax, fraction=0.046, pad=0.04)
        bar.set_label(label)
    return mappable


def text_problems(fig: plt.Figure) -> list[str]:
    """What in ``fig`` breaks the book's figure rules: too wide, or text below MIN_FONT_PT.

    Returns:
        One sentence per problem (empty when the figure follows the rules).
    """
    problems = []
    width = fig.get_figwidth()
    if width > PAGE_WIDTH + 1e-6:
        problems.append(f"the figure is {width:.2f} in wide, over the page's {PAGE_WIDTH} in")
    for text in fig.findobj(mpl.text.Text):
        if text.get_text().strip() and text.get_visible() and text.get_fontsize() < MIN_FONT_PT - 1e-6:
            problems.append(f"text {text.get_text()[:30]!r} is {text.get_fontsize():.1f} pt, under {MIN_FONT_PT:g} pt")
    return problems


def _image2d(image: Any, name: str) -> np.ndarray:
    from ._checks import require_finite, to_numpy

    array = np.asarray(to_numpy(image, name), dtype=float)
    if array.ndim == 3 and 1 in (array.shape[0], array.shape[-1]):
        array = array.reshape(array.shape[1:] if array.shape[0] == 1 else array.shape[:-1])
    if array.ndim != 2:
        raise ValueError(f"{name} must be (H, W), (1, H, W) or (H, W, 1), got shape {array.shape}")
    require_finite(array, name, per_item=False)
    return array
