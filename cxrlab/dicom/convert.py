"""From a display-ready radiograph in [0, 1] to the tensor a network takes."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..pretrained import IMAGENET_MEAN, IMAGENET_STD  # noqa: F401 - defined once, in cxrlab.pretrained


def pad_to_square(image: torch.Tensor, value: float = 0.0) -> torch.Tensor:
    """Pad (..., H, W) with ``value`` on both sides of the short axis so that H == W."""
    h, w = image.shape[-2:]
    if h == w:
        return image
    extra = abs(h - w)
    before, after = extra // 2, extra - extra // 2
    pad = (before, after, 0, 0) if h > w else (0, 0, before, after)
    return F.pad(image, pad, value=value)


def to_model_input(image: np.ndarray | torch.Tensor, size: int, *, channels: int = 3,
                   mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                   keep_aspect: bool = True) -> torch.Tensor:
    """Turn radiograph(s) in [0, 1] into a float32 model input.

    ``image``: (H, W) or a batch (N, H, W), values in [0, 1] (e.g. from :func:`load`).
    Steps: pad the short side with black if ``keep_aspect`` (a chest is not stretched),
    resize to ``size`` x ``size`` pixels (bilinear with antialiasing), repeat the gray
    channel ``channels`` times (1 or 3: pseudo-RGB for networks built for photographs),
    then subtract ``mean`` and divide by ``std`` per channel if given (e.g.
    ``IMAGENET_MEAN``/``IMAGENET_STD``). Returns (C, size, size) or (N, C, size, size).
    """
    tensor = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image)
    if tensor.ndim not in (2, 3) or min(tensor.shape[-2:]) < 1:
        raise ValueError(f"to_model_input expects an image (H, W) or a batch (N, H, W), got shape {tuple(tensor.shape)}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size!r}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (gray) or 3 (pseudo-RGB), got {channels!r}")
    tensor = tensor.detach().to(torch.float32)
    if not torch.isfinite(tensor).all():
        raise ValueError("the image holds NaN or infinite values; check how it was loaded")
    lo, hi = float(tensor.min()), float(tensor.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise ValueError(f"image values must lie in [0, 1] (got {lo:.3g} to {hi:.3g}); "
                         "load it with cxrlab.dicom.load, which windows it to [0, 1]")
    single = tensor.ndim == 2
    batch = tensor.unsqueeze(0) if single else tensor
    batch = batch.unsqueeze(1)  # (N, 1, H, W)
    if keep_aspect:
        batch = pad_to_square(batch)
    if tuple(batch.shape[-2:]) != (size, size):
        batch = F.interpolate(batch, size=(size, size), mode="bilinear", align_corners=False,
                              antialias=True).clamp_(0.0, 1.0)
    batch = batch.repeat(1, channels, 1, 1)
    if (mean is None) != (std is None):
        raise ValueError("give both mean and std (one value per channel), or neither")
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
