"""From attribution maps to heatmaps in [0, 1], for display and for the localisation metrics."""

from __future__ import annotations

import torch

from ._common import check_maps


def normalize_maps(maps: torch.Tensor) -> torch.Tensor:
    """Min-max normalise each map of a (B, H, W) batch to [0, 1].

    Args:
        maps: float tensor (B, H, W), any real values.

    Returns:
        float tensor (B, H, W) in [0, 1], on the device of ``maps``: each map's minimum becomes
        0 and its maximum 1. A map whose values are all equal (for instance all zero) carries
        no spatial information and becomes all zero.

    Raises:
        ValueError: ``maps`` is not (B, H, W) or holds NaN or infinity (the map is named).
    """
    check_maps(maps)
    flat = maps.reshape(maps.shape[0], -1)
    low = flat.min(1).values.view(-1, 1, 1)
    high = flat.max(1).values.view(-1, 1, 1)
    span = high - low
    safe = torch.where(span > 0, span, torch.ones_like(span))
    return torch.where(span > 0, (maps - low) / safe, torch.zeros_like(maps))


def to_heatmap(maps: torch.Tensor, positive_only: bool = True) -> torch.Tensor:
    """Turn signed attribution maps (B, H, W) into heatmaps in [0, 1] for display and scoring.

    Args:
        maps: float tensor (B, H, W) of attributions (logit units or any other).
        positive_only: keep only the evidence for the class (ReLU), as Grad-CAM does (default);
            False uses the absolute value (evidence for and against).

    Returns:
        float32 tensor (B, H, W) in [0, 1], detached, each map min-max normalised
        (``normalize_maps``); a map with no (positive) evidence is all zero.

    Raises:
        ValueError: ``maps`` is not (B, H, W), or holds NaN or infinity: the index of the first
            bad map is named (a NaN never becomes a clean-looking map).
    """
    check_maps(maps)
    maps = torch.as_tensor(maps).detach().float()
    return normalize_maps(maps.clamp(min=0) if positive_only else maps.abs())
