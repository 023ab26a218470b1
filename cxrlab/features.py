"""Looking inside a network: its layer table, first-layer filters and feature maps.

``layer_table`` lists every layer's output shape and parameter count for one forward pass
(chapter 2); ``filter_grid`` draws a first convolution's filters as small RGB images and
``feature_map_grid`` its feature maps, both in the book's figure style (:mod:`cxrlab.figures`);
``filter_statistics`` measures how colourful and how spatially smooth (edge-like rather
than noisy) each one is; ``activations`` records the outputs of named layers for one
forward pass (chapter 3). Cached backbone features for transfer learning are in
:mod:`cxrlab.transfer`.
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from ._checks import positive_int
from ._torch import eval_mode, model_device


def sample_photo(name: str = "china.jpg", size: int | None = 224) -> torch.Tensor:
    """A real colour photograph shipped with scikit-learn, as a (1, 3, H, W) tensor in [0, 1].

    ``name``: ``"china.jpg"`` (a temple, 427x640) or ``"flower.jpg"``. ``size``: the length
    of the shorter side after an antialiased resize (None: keep 427). No network needed.

    Returns:
        A float32 tensor (1, 3, H, W) with values in [0, 1].

    Raises:
        ValueError: for an unknown ``name`` or a ``size`` below 8 pixels.
    """
    from sklearn.datasets import load_sample_images

    photos = load_sample_images()
    names = [os.path.basename(f) for f in photos.filenames]
    if name not in names:
        raise ValueError(f"unknown sample photo {name!r}; scikit-learn ships {', '.join(names)}")
    image = torch.from_numpy(np.array(photos.images[names.index(name)])).permute(2, 0, 1)[None].float() / 255.0
    if size is not None:
        positive_int(size, "size (pixels)", minimum=8)
        h, w = image.shape[-2:]
        scale = size / min(h, w)
        image = F.interpolate(image, size=(round(h * scale), round(w * scale)), mode="bilinear",
                              align_corners=False, antialias=True).clamp_(0, 1)
    return image.contiguous()


def _conv_weight(weight: torch.Tensor | nn.Module) -> torch.Tensor:
    if isinstance(weight, nn.Conv2d):
        weight = weight.weight
    if not isinstance(weight, torch.Tensor) or weight.ndim != 4:
        raise ValueError("expected a Conv2d layer or its weight of shape (out, in, kH, kW), got "
                         f"{getattr(weight, 'shape', type(weight).__name__)}")
    return weight.detach().float().cpu()


def filter_statistics(weight: torch.Tensor | nn.Module) -> dict[str, np.ndarray]:
    """Per-filter measures of a convolution weight (out, in, kH, kW), each an array of length out.

    ``colour``: share of the filter's energy that differs between input channels, in [0, 1]
    (0 = the same pattern in every channel, i.e. achromatic; independent random weights on
    3 channels give about 2/3). ``smoothness``: correlation of horizontally and vertically
    neighbouring weights after removing the filter's mean, in [-1, 1] (about 0 for noise,
    near 1 for smooth edge or blob detectors). ``norm``: Euclidean norm of the filter.

    Raises:
        ValueError: when ``weight`` is not a Conv2d or a 4-D tensor.
    """
    w = _conv_weight(weight)
    energy = w.pow(2).sum(dim=(1, 2, 3)).clamp_min(1e-12)
    colour = (w - w.mean(dim=1, keepdim=True)).pow(2).sum(dim=(1, 2, 3)) / energy
    centred = w - w.mean(dim=(2, 3), keepdim=True)
    lag = (centred[..., :, 1:] * centred[..., :, :-1]).sum(dim=(1, 2, 3)) + \
          (centred[..., 1:, :] * centred[..., :-1, :]).sum(dim=(1, 2, 3))
    pairs = (centred[..., :, 1:].pow(2).sum(dim=(1, 2, 3)) + centred[..., 1:, :].pow(2).sum(dim=(1, 2, 3)))
    smoothness = lag / pairs.clamp_min(1e-12)
    if w.shape[1] == 1:
        colour = torch.zeros_like(colour)
    return {"colour": colour.numpy(), "smoothness": smoothness.numpy(), "norm": energy.sqrt().numpy()}


def filter_grid(weight: torch.Tensor | nn.Module, *, ncols: int = 16, title: str | None = None,
                ax: plt.Axes | None = None, order: Sequence[int] | None = None,
                colorbar: bool = True) -> plt.Figure:
    """Draw conv filters (out, 3 or 1, kH, kW) as one mosaic of tiles, in the book's style.

    Each filter is scaled on its own symmetric range, so that 0 is the middle of the scale.
    Colour filters are drawn as RGB tiles (mid-grey = 0, bright = positive, dark = negative; a
    coloured tile weighs that colour more), as in Krizhevsky et al. 2012, Figure 3.
    Single-channel filters are signed weights, so they are drawn in the diverging map
    ``RdBu_r`` centred on 0, with a colour bar (``colorbar=True``).

    Args:
        weight: a Conv2d or its weight of shape (out, 1 or 3, kH, kW).
        ncols: tiles per row (at most ``out``).
        title: the Axes title (keep it short: the panel may be a third of the page wide).
        ax: draw into this Axes instead of a new figure of the page's width.
        order: the filters to show, in that order (default all).
        colorbar: add a colour bar beside a single-channel mosaic.

    Returns:
        The matplotlib Figure (the one holding ``ax`` when given).

    Raises:
        ValueError: for filters with other than 1 or 3 input channels.
    """
    from .figures import PAGE_WIDTH, figure_size

    w = _conv_weight(weight)
    if w.shape[1] not in (1, 3):
        raise ValueError(f"filter_grid draws 1- or 3-channel filters, these have {w.shape[1]}")
    if order is not None:
        w = w[list(order)]
    n, c, kh, kw = w.shape
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    scale = w.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
    tiles = (w / scale).permute(0, 2, 3, 1).numpy()        # each tile in [-1, 1]
    pad = 1
    mosaic = np.full((nrows * (kh + pad) - pad, ncols * (kw + pad) - pad, c), np.nan)
    for i, tile in enumerate(tiles):
        r, q = divmod(i, ncols)
        mosaic[r * (kh + pad):r * (kh + pad) + kh, q * (kw + pad):q * (kw + pad) + kw] = tile
    if ax is None:
        aspect = mosaic.shape[0] / mosaic.shape[1]
        fig, ax = plt.subplots(figsize=figure_size(1, panel_aspect=aspect, width=min(PAGE_WIDTH, 0.4 * ncols + 0.8)))
    else:
        fig = ax.figure
    if c == 3:
        rgb = np.nan_to_num(0.5 + 0.5 * mosaic, nan=1.0)   # white gaps between the tiles
        ax.imshow(rgb, vmin=0, vmax=1, interpolation="nearest")
    else:
        shown = ax.imshow(np.ma.masked_invalid(mosaic[..., 0]), cmap="RdBu_r", vmin=-1, vmax=1,
                          interpolation="nearest")
        if colorbar:
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label="weight / largest |weight|")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.spines[:].set_visible(False)
    if title:
        ax.set_title(title)
    return fig


def feature_map_grid(rows: Sequence[tuple[str, torch.Tensor]], *, image: torch.Tensor | None = None,
                     n_maps: int = 6) -> plt.Figure:
    """Feature maps (ReLU outputs), one row per model, in a perceptual colour map with a colour bar.

    Each map is divided by its own maximum, so every panel uses the whole scale (0 = no
    response, 1 = the map's strongest); the colour map is ``cxrlab.figures.HEATMAP_CMAP``
    (perceptually uniform, dark = 0) and one colour bar serves every panel. The row's label
    stands left of its first panel; with ``image``, the first column shows the input.

    Args:
        rows: ``(label, maps)`` pairs, maps of shape (K, H, W) with K >= ``n_maps``, finite.
        image: the input, (1, 3, H, W) or (3, H, W) in [0, 1], or (H, W) grey; optional.
        n_maps: maps per row (the first ``n_maps`` of each).

    Returns:
        The matplotlib Figure, at most ``PAGE_WIDTH`` wide.

    Raises:
        ValueError: for no rows, maps that are not (K, H, W) with K >= n_maps, or non-finite maps.
    """
    from .figures import HEATMAP_CMAP

    positive_int(n_maps, "n_maps")
    if not rows:
        raise ValueError("feature_map_grid needs at least one (label, maps) row")
    for label, maps in rows:
        if not isinstance(maps, torch.Tensor) or maps.ndim != 3 or len(maps) < n_maps:
            raise ValueError(f"row {label!r}: maps must be a (K, H, W) tensor with K >= {n_maps}, "
                             f"got {getattr(maps, 'shape', type(maps).__name__)}")
        if not torch.isfinite(maps).all():
            raise ValueError(f"row {label!r}: the maps contain NaN or infinity")
    ncols = n_maps + (image is not None)
    height, width = rows[0][1].shape[-2:]
    left, right, gap, margin = 0.17, 0.87, 0.04, 0.15                # margin: inches above and below
    panel = 5.0 * (right - left) / (ncols + gap * (ncols - 1))          # panel width, inches
    fig_height = len(rows) * panel * height / width * (1 + gap) + 2 * margin
    bottom, top = margin / fig_height, 1 - margin / fig_height
    fig, axes = plt.subplots(len(rows), ncols, squeeze=False, figsize=(5.0, fig_height))
    fig.subplots_adjust(left=left, right=right, bottom=bottom, top=top, wspace=gap, hspace=gap)
    for r, (label, maps) in enumerate(rows):
        column = 0
        if image is not None:
            picture = image.detach().float().cpu()
            picture = picture[0] if picture.ndim == 4 else picture
            axes[r, 0].imshow(picture.permute(1, 2, 0).numpy() if picture.ndim == 3 else picture,
                              cmap="gray" if picture.ndim == 2 else None, aspect="auto")
            column = 1
        for k in range(n_maps):
            scaled = maps[k].detach().float().cpu()
            scaled = scaled / scaled.max().clamp_min(1e-12)
            shown = axes[r, column + k].imshow(scaled.numpy(), cmap=HEATMAP_CMAP, vmin=0, vmax=1, aspect="auto")
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.spines[:].set_visible(False)
    bar = fig.colorbar(shown, cax=fig.add_axes((right + 0.02, bottom, 0.02, top - bottom)))
    bar.set_label("relative")  # each map divided by its own maximum
    return fig


def _run_with_hooks(model: nn.Module, x: torch.Tensor, hooks: Sequence[tuple[nn.Module, Callable]]) -> None:
    """One forward pass of ``x`` in eval mode with forward hooks that are removed again, even on error."""
    handles = [module.register_forward_hook(hook) for module, hook in hooks]
    try:
        with eval_mode(model):
            model(x.to(model_device(model)))
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def activations(model: nn.Module, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """Outputs of the named sub-modules (e.g. ``"features.1"``) for input ``x``, on the CPU.

    Uses forward hooks that are removed again, even on error; the model runs in eval mode
    and every submodule's own train/eval flag is restored.

    Returns:
        ``{layer name: output tensor}`` in the order asked, float32 on the CPU.

    Raises:
        ValueError: naming the layers that do not exist, with examples of names that do.
    """
    if isinstance(layers, str):
        layers = [layers]
    modules = dict(model.named_modules())
    missing = [name for name in layers if name not in modules]
    if missing:
        raise ValueError(f"no layer named {', '.join(missing)}; names look like "
                         f"{', '.join(list(modules)[1:6])} (see model.named_modules())")
    found: dict[str, torch.Tensor] = {}
    hooks = [(modules[name], lambda _m, _i, out, name=name: found.__setitem__(name, out.detach().float().cpu().clone()))
             for name in layers]
    _run_with_hooks(model, x, hooks)
    return {name: found[name] for name in layers}


@torch.no_grad()
def layer_table(model: nn.Module, x: torch.Tensor) -> pd.DataFrame:
    """Each leaf layer's output shape and parameter count for one forward pass of ``x``.

    The shape trace every architecture chapter starts with (d2l's ``layer_summary``), done
    with forward hooks that are removed again, even on error; the model runs in eval mode
    and every submodule's own train/eval flag is restored.

    Args:
        model: any network.
        x: an input batch, e.g. (N, C, H, W) images (moved to the model's device).

    Returns:
        A table, one row per leaf module in the order it ran, with columns ``layer`` (its
        name in the model), ``module`` (class name), ``output shape`` (without the batch
        axis) and ``parameters``; indexed from 1.

    Raises:
        ValueError: when ``x`` is not a tensor with a batch axis.
    """
    if not isinstance(x, torch.Tensor) or x.ndim < 2:
        raise ValueError(f"x must be an input batch with a batch axis, got {getattr(x, 'shape', type(x).__name__)}")
    rows: list[dict] = []

    def record(name: str):
        def hook(module: nn.Module, _inputs, output) -> None:
            shape = tuple(output.shape[1:]) if isinstance(output, torch.Tensor) else "(not a tensor)"
            rows.append({"layer": name, "module": type(module).__name__, "output shape": shape,
                         "parameters": sum(p.numel() for p in module.parameters(recurse=False))})
        return hook

    _run_with_hooks(model, x, [(module, record(name)) for name, module in model.named_modules()
                               if name and not any(True for _ in module.children())])
    table = pd.DataFrame(rows, columns=["layer", "module", "output shape", "parameters"])
    table.index = pd.RangeIndex(1, len(table) + 1)
    return table
