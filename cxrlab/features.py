"""Looking inside a network: first-layer filters, feature maps, and cached backbone features.

``filter_grid`` draws a first convolution's filters as small RGB images; ``filter_statistics``
measures how colourful and how spatially smooth (edge-like rather than noisy) each one is;
``activations`` records the outputs of named layers for one forward pass; ``cache_features``
runs a frozen backbone once over a data set so a new head trains on the stored outputs.
"""

from __future__ import annotations

import os
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from .train import as_tensors


def sample_photo(name: str = "china.jpg", size: int | None = 224) -> torch.Tensor:
    """A real colour photograph shipped with scikit-learn, as a (1, 3, H, W) tensor in [0, 1].

    ``name``: ``"china.jpg"`` (a temple, 427x640) or ``"flower.jpg"``. ``size``: the length
    of the shorter side after an antialiased resize (None: keep 427). No network needed.
    """
    from sklearn.datasets import load_sample_images

    photos = load_sample_images()
    names = [os.path.basename(f) for f in photos.filenames]
    if name not in names:
        raise ValueError(f"unknown sample photo {name!r}; scikit-learn ships {', '.join(names)}")
    image = torch.from_numpy(np.array(photos.images[names.index(name)])).permute(2, 0, 1)[None].float() / 255.0
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 8:
            raise ValueError(f"size must be an integer of at least 8 pixels, got {size!r}")
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
                ax: plt.Axes | None = None, order: Sequence[int] | None = None) -> plt.Figure:
    """Draw conv filters (out, 3 or 1, kH, kW) as one mosaic of RGB (or grey) tiles.

    Each filter is scaled on its own symmetric range, so mid-grey is 0, bright is positive
    and dark negative; a coloured tile responds to that colour. ``order``: the filters to
    show, in that order (default all). Returns the figure.
    """
    w = _conv_weight(weight)
    if w.shape[1] not in (1, 3):
        raise ValueError(f"filter_grid draws 1- or 3-channel filters, these have {w.shape[1]}")
    if order is not None:
        w = w[list(order)]
    n, c, kh, kw = w.shape
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    scale = w.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
    tiles = (0.5 + 0.5 * w / scale).permute(0, 2, 3, 1).numpy()
    pad = 1
    mosaic = np.ones((nrows * (kh + pad) - pad, ncols * (kw + pad) - pad, c))
    for i, tile in enumerate(tiles):
        r, q = divmod(i, ncols)
        mosaic[r * (kh + pad):r * (kh + pad) + kh, q * (kw + pad):q * (kw + pad) + kw] = tile
    if ax is None:
        fig, ax = plt.subplots(figsize=(0.5 * ncols + 0.5, 0.5 * nrows + 0.6))
    else:
        fig = ax.figure
    ax.imshow(mosaic[..., 0] if c == 1 else mosaic, cmap="gray" if c == 1 else None,
              vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)
    return fig


@torch.no_grad()
def activations(model: nn.Module, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """Outputs of the named sub-modules (e.g. ``"features.1"``) for input ``x``, on the CPU.

    Uses forward hooks that are removed again, even on error; the model runs in eval mode
    and its train/eval state is restored.
    """
    if isinstance(layers, str):
        layers = [layers]
    modules = dict(model.named_modules())
    missing = [name for name in layers if name not in modules]
    if missing:
        raise ValueError(f"no layer named {', '.join(missing)}; names look like "
                         f"{', '.join(list(modules)[1:6])} (see model.named_modules())")
    found: dict[str, torch.Tensor] = {}
    handles = [modules[name].register_forward_hook(
        lambda _m, _i, out, name=name: found.__setitem__(name, out.detach().float().cpu().clone()))
        for name in layers]
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        model(x.to(device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return {name: found[name] for name in layers}


@torch.no_grad()
def cache_features(backbone: nn.Module, data: TensorDataset | tuple[torch.Tensor, torch.Tensor], *,
                   batch_size: int = 256, device: torch.device | str | None = None,
                   progress: bool | None = None) -> TensorDataset:
    """Run a frozen ``backbone`` once over ``data`` and keep its outputs: (features, labels).

    The backbone runs in eval mode (BatchNorm uses its running statistics, dropout is off)
    without gradients; features come back as float32 on the CPU, labels unchanged. A head
    trained on the result sees exactly what it would see behind the frozen backbone, and
    each epoch costs only the head's own computation.
    """
    x, y = as_tensors(data)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    device = torch.device(device) if device is not None else next(backbone.parameters()).device
    show = progress if progress is not None else os.environ.get("CXRLAB_PROGRESS", "1") != "0"
    was_training = backbone.training
    backbone.eval()
    outputs = []
    starts = range(0, len(x), batch_size)
    if show:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="caching features", unit="batch")
    try:
        for start in starts:
            outputs.append(backbone(x[start:start + batch_size].to(device)).float().cpu())
    finally:
        backbone.train(was_training)
    return TensorDataset(torch.cat(outputs), y.cpu())


def class_subset(data: TensorDataset | tuple[torch.Tensor, torch.Tensor], classes: Sequence[int], *,
                 n_per_class: int | None = None, seed: int = 0) -> TensorDataset:
    """The examples of ``classes`` only, relabelled 0..len(classes)-1 in the order given.

    ``n_per_class`` keeps that many random examples of each class (None: all); an error
    says so when a class has fewer. Used to split one data set into a source and a target
    task with disjoint classes (Yosinski et al. 2014).
    """
    x, y = as_tensors(data)
    classes = [int(c) for c in classes]
    if not classes or len(set(classes)) != len(classes):
        raise ValueError(f"classes must be a non-empty list of distinct labels, got {classes}")
    generator = torch.Generator().manual_seed(seed)
    keep, labels = [], []
    for new_label, old_label in enumerate(classes):
        index = torch.nonzero(y == old_label).flatten()
        if len(index) == 0:
            raise ValueError(f"class {old_label} has no examples in this data set")
        if n_per_class is not None:
            if n_per_class > len(index):
                raise ValueError(f"class {old_label} has only {len(index)} examples, asked for {n_per_class}")
            index = index[torch.randperm(len(index), generator=generator)[:n_per_class]].sort().values
        keep.append(index)
        labels.append(torch.full((len(index),), new_label, dtype=torch.long))
    order = torch.cat(keep)
    return TensorDataset(x[order].clone(), torch.cat(labels))
