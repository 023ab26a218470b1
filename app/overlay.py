"""The app's pictures: a Grad-CAM map over a grey radiograph, with a colour bar.

The heat is drawn in a perceptually uniform colour map (``inferno``: its lightness rises
steadily, so it reads the same in grey and to colour-blind readers) whose opacity follows the
heat: where the map is cold the radiograph shows through untouched.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402

DISPLAY_SIDE = 640  #: longest side (px) of the images drawn on screen
HEATMAP_CMAP = "inferno"  #: perceptually uniform colour map of the heat
MAX_OPACITY = 0.7  #: opacity of the hottest pixel; cold pixels are transparent


def shrink(image: np.ndarray, side: int = DISPLAY_SIDE) -> np.ndarray:
    """Every k-th pixel so that the longest side is at most ``side`` (display only)."""
    step = max(1, int(np.ceil(max(image.shape[:2]) / side)))
    return image[::step, ::step]


def heat_rgba(heatmap: np.ndarray, cmap: str = HEATMAP_CMAP, max_opacity: float = MAX_OPACITY) -> np.ndarray:
    """Colours of a heatmap whose opacity follows the heat.

    Args:
        heatmap: float (H, W), values in [0, 1] (Grad-CAM's min-max normalised map).
        cmap: a matplotlib colour map name.
        max_opacity: alpha of a pixel of heat 1, in [0, 1].
    Returns:
        float (H, W, 4) RGBA: the colour map's colour, alpha = ``max_opacity * heat``.
    Raises:
        ValueError: a heatmap that is not 2-D, holds NaN or infinity, or an opacity outside [0, 1].
    """
    heat = np.asarray(heatmap, dtype=np.float64)
    if heat.ndim != 2 or not np.all(np.isfinite(heat)):
        raise ValueError(f"heatmap must be a finite (H, W) array, got shape {heat.shape}")
    if not 0 <= max_opacity <= 1:
        raise ValueError(f"max_opacity must lie in [0, 1], got {max_opacity}")
    heat = np.clip(heat, 0.0, 1.0)
    rgba = matplotlib.colormaps[cmap](heat)
    rgba[..., 3] = max_opacity * heat
    return rgba


def overlay_png(image: np.ndarray, heatmap: np.ndarray, title: str) -> bytes:
    """PNG bytes: the grey radiograph (0 black, 1 white), the heat over it, a labelled colour bar."""
    fig, ax = plt.subplots(figsize=(3.6, 3.4), dpi=110)
    ax.imshow(shrink(image), cmap="gray", vmin=0, vmax=1)
    ax.imshow(heat_rgba(shrink(heatmap)), interpolation="bilinear")
    ax.set_title(title, fontsize=10)
    ax.set_axis_off()
    bar = fig.colorbar(ScalarMappable(norm=Normalize(0, 1), cmap=HEATMAP_CMAP), ax=ax, fraction=0.046, pad=0.03)
    bar.set_label("Grad-CAM relevance", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()
