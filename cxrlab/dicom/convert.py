"""From a display-ready radiograph in [0, 1] to the tensor a network takes."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..pretrained import IMAGENET_MEAN, IMAGENET_STD  # noqa: F401 - defined once, in cxrlab.pretrained


def pad_to_square(image: torch.Tensor, value: float = 0.0) -> torch.Tensor:
    """Pad (..., H, W) with ``value`` on both sides of the short axis so that H == W.

    Args:
        image: tensor (..., H, W).
        value: the fill value (0 = black).

    Returns:
        Tensor (..., max(H, W), max(H, W)); ``image`` itself if it is square.
    """
    h, w = image.shape[-2:]
    if h == w:
        return image
    extra = abs(h - w)
    before, after = extra // 2, extra - extra // 2
    pad = (before, after, 0, 0) if h > w else (0, 0, before, after)
    return F.pad(image, pad, value=value)


def _resize_padded(batch: torch.Tensor, size: int, keep_aspect: bool) -> torch.Tensor:
    """(N, 1, H, W) -> (N, 1, size, size): antialiased bilinear, padded to a square first if asked.

    The result equals ``F.interpolate(pad_to_square(batch), ...)`` (within float32 rounding),
    but the padded full-size image is never built: the long axis is resized first (a
    resize along one axis only), the short axis is padded at the reduced size (zeros stay
    zeros under the filter) and resized last. This keeps the peak memory at the image
    itself plus a (size x W) strip.
    """
    h, w = batch.shape[-2:]
    kw = {"mode": "bilinear", "align_corners": False, "antialias": True}
    if not keep_aspect or h == w:
        return F.interpolate(batch, size=(size, size), **kw) if (h, w) != (size, size) else batch
    long_side = max(h, w)
    if h > w:  # pad columns: resize rows first, then pad and resize columns
        strip = F.interpolate(batch, size=(size, w), **kw) if h != size else batch
        strip = pad_to_square_along(strip, long_side, axis=-1)
        return F.interpolate(strip, size=(size, size), **kw) if long_side != size else strip
    strip = F.interpolate(batch, size=(h, size), **kw) if w != size else batch
    strip = pad_to_square_along(strip, long_side, axis=-2)
    return F.interpolate(strip, size=(size, size), **kw) if long_side != size else strip


def pad_to_square_along(image: torch.Tensor, length: int, axis: int) -> torch.Tensor:
    """Pad ``image`` with zeros on both sides of ``axis`` (-1 or -2) to ``length``, as pad_to_square does."""
    extra = length - image.shape[axis]
    before, after = extra // 2, extra - extra // 2
    return F.pad(image, (before, after, 0, 0) if axis == -1 else (0, 0, before, after))


def to_model_input(image: np.ndarray | torch.Tensor, size: int, *, channels: int = 3,
                   mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                   keep_aspect: bool = True) -> torch.Tensor:
    """Turn radiograph(s) in [0, 1] into a float32 model input.

    Steps: pad the short side with black if ``keep_aspect`` (a chest is not stretched),
    resize to ``size`` x ``size`` pixels (bilinear with antialiasing, as PIL and
    torchvision do), repeat the gray channel ``channels`` times (pseudo-RGB for networks
    built for photographs), then subtract ``mean`` and divide by ``std`` per channel if given
    (e.g. ``IMAGENET_MEAN``/``IMAGENET_STD``).

    Args:
        image: (H, W) or a batch (N, H, W), finite values in [0, 1] (e.g. from :func:`load`).
        size: output side in pixels (>= 1).
        channels: 1 (gray) or 3 (pseudo-RGB).
        mean, std: per-channel normalisation (1 or ``channels`` values each), or both None.
        keep_aspect: pad to a square before resizing (default) instead of stretching.

    Returns:
        float32 tensor (C, size, size), or (N, C, size, size) for a batch.

    Raises:
        ValueError: a wrong shape, size, channel count, mean/std, a non-finite value or a
            value outside [0, 1].
    """
    tensor = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image)
    if tensor.ndim not in (2, 3) or min(tensor.shape[-2:]) < 1:
        raise ValueError(f"to_model_input expects an image (H, W) or a batch (N, H, W), got shape {tuple(tensor.shape)}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size!r}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (gray) or 3 (pseudo-RGB), got {channels!r}")
    if (mean is None) != (std is None):
        raise ValueError("give both mean and std (one value per channel), or neither")
    tensor = tensor.detach().to(torch.float32)
    if tensor.numel() == 0:
        raise ValueError("the image is empty")
    lo, hi = (float(v) for v in torch.aminmax(tensor))  # NaN propagates into both; inf shows in one
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError("the image holds NaN or infinite values; check how it was loaded")
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise ValueError(f"image values must lie in [0, 1] (got {lo:.3g} to {hi:.3g}); "
                         "load it with cxrlab.dicom.load, which windows it to [0, 1]")
    single = tensor.ndim == 2
    batch = tensor.unsqueeze(0) if single else tensor
    batch = batch.unsqueeze(1)  # (N, 1, H, W)
    resized = _resize_padded(batch, int(size), keep_aspect)
    if resized is not batch:
        resized = resized.clamp_(0.0, 1.0)
    batch = resized.repeat(1, channels, 1, 1) if channels > 1 else resized.clone() if resized is batch else resized
    if mean is not None:
        m = torch.as_tensor(mean, dtype=torch.float32).flatten()
        s = torch.as_tensor(std, dtype=torch.float32).flatten()
        if len(m) not in (1, channels) or len(s) not in (1, channels):
            raise ValueError(f"mean and std need 1 or {channels} values each, got {len(m)} and {len(s)}")
        if (s <= 0).any():
            raise ValueError(f"std must be positive, got {s.tolist()}")
        batch = (batch - m.view(1, -1, 1, 1)) / s.view(1, -1, 1, 1)
    return batch[0] if single else batch


__all__ = ["to_model_input", "pad_to_square", "IMAGENET_MEAN", "IMAGENET_STD"]
