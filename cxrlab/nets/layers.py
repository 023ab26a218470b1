"""Layers used inside the course's models: resizing and per-channel standardisation.

Putting them inside a model means the model carries its own input contract: a
``Normalize`` layer's statistics are buffers, so they are saved and loaded with the weights.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._checks import positive_int


class Resize(nn.Module):
    """Bilinear resize of a batch to ``size`` x ``size`` inside a model (on its device).

    Lets an ImageNet-shaped network such as torchvision's GoogLeNet see small images at a
    larger size without storing an upsampled copy of the data set.

    Args:
        size: side of the output in pixels.

    Raises:
        ValueError: when ``size`` is not a positive integer.
    """

    def __init__(self, size: int):
        super().__init__()
        self.size = positive_int(size, "size (pixels)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C, size, size); returned unchanged when already that size."""
        if x.shape[-1] == self.size and x.shape[-2] == self.size:
            return x
        return F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)

    def extra_repr(self) -> str:
        return f"size={self.size}"


class Normalize(nn.Module):
    """Standardise each channel: ``(x - mean) / std``, with the statistics stored as buffers.

    Args:
        mean: one value per channel (e.g. ``cxrlab.pretrained.IMAGENET_MEAN``).
        std: one positive value per channel.

    Raises:
        ValueError: when ``mean`` and ``std`` differ in length, are empty, or a ``std`` is not
            positive; from ``forward``, for input whose channel count differs.
    """

    def __init__(self, mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor):
        super().__init__()
        mean = torch.as_tensor(mean, dtype=torch.float32).flatten()
        std = torch.as_tensor(std, dtype=torch.float32).flatten()
        if len(mean) == 0 or mean.shape != std.shape:
            raise ValueError(f"mean and std need one value per channel each, got {len(mean)} and {len(std)}")
        if not bool((std > 0).all()) or not bool(torch.isfinite(mean).all()):
            raise ValueError("std must be positive and mean finite for every channel")
        self.register_buffer("mean", mean.reshape(1, -1, 1, 1).clone())
        self.register_buffer("std", std.reshape(1, -1, 1, 1).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) images -> the same shape, standardised per channel."""
        if x.ndim != 4 or x.shape[1] != self.mean.shape[1]:
            raise ValueError(f"Normalize expects (N, {self.mean.shape[1]}, H, W) images, got {tuple(x.shape)}")
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"channels={self.mean.shape[1]}"


__all__ = ["Normalize", "Resize"]
