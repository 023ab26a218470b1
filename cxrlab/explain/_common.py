"""Checks and small helpers shared by the explanation methods (not part of the public API)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

Targets = int | Sequence[int] | torch.Tensor | None


def check_images(images: object, what: str = "images") -> torch.Tensor:
    """Return ``images`` if it is a float tensor (B, C, H, W) with B >= 1; else a clear error."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor of shape (B, C, H, W), got {type(images).__name__}")
    if images.ndim != 4:
        hint = " (add a batch axis with images.unsqueeze(0))" if images.ndim == 3 else ""
        raise ValueError(f"{what} must have shape (B, C, H, W), got {tuple(images.shape)}{hint}")
    if images.shape[0] == 0:
        raise ValueError(f"{what} is an empty batch; pass at least one image")
    if not images.is_floating_point():
        raise TypeError(f"{what} must be a floating-point tensor, got {images.dtype}; convert with .float()")
    return images


def check_model(model: object) -> nn.Module:
    """Return ``model`` if it is an nn.Module with parameters; else a clear error."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a model without parameters)."""
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def resolve_targets(targets: Targets, logits: torch.Tensor) -> torch.Tensor:
    """One class index per image as a long tensor (B,) on the logits' device.

    ``None`` picks the predicted class (argmax of the logits); an int is used for every
    image; a sequence or tensor must hold one index per image. Indices must lie in
    [0, number of classes).
    """
    batch, classes = logits.shape[0], logits.shape[1]
    if targets is None:
        return logits.detach().argmax(1)
    if isinstance(targets, bool):
        raise TypeError("targets must be None, an int or one int per image, not a bool")
    if isinstance(targets, int):
        result = torch.full((batch,), targets, dtype=torch.long, device=logits.device)
    else:
        result = torch.as_tensor(targets, device=logits.device)
        if result.is_floating_point() or result.dtype == torch.bool:
            raise TypeError(f"targets must be integer class indices, got dtype {result.dtype}")
        result = result.long().reshape(-1)
        if result.numel() != batch:
            raise ValueError(f"targets has {result.numel()} entries but there are {batch} images; "
                             "pass one class index per image, a single int, or None for the prediction")
    if (result < 0).any() or (result >= classes).any():
        raise ValueError(f"targets must lie in [0, {classes}) for a model with {classes} outputs, "
                         f"got {result.tolist()}")
    return result


def normalize_maps(maps: torch.Tensor) -> torch.Tensor:
    """Min-max normalise each map of a (B, H, W) batch to [0, 1].

    A map whose values are all equal (for instance all zero) carries no spatial
    information and becomes all zero.
    """
    if maps.ndim != 3:
        raise ValueError(f"maps must have shape (B, H, W), got {tuple(maps.shape)}")
    flat = maps.reshape(maps.shape[0], -1)
    low = flat.min(1).values.view(-1, 1, 1)
    high = flat.max(1).values.view(-1, 1, 1)
    span = high - low
    safe = torch.where(span > 0, span, torch.ones_like(span))
    return torch.where(span > 0, (maps - low) / safe, torch.zeros_like(maps))


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling (align_corners=False) of (B, h, w) maps to (B, *size)."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps.unsqueeze(1), size=size, mode="bilinear", align_corners=False).squeeze(1)


def to_heatmap(maps: torch.Tensor, positive_only: bool = True) -> torch.Tensor:
    """Turn signed attribution maps (B, H, W) into heatmaps in [0, 1] for display and scoring.

    ``positive_only`` keeps the evidence for the class (ReLU) as Grad-CAM does; otherwise
    the absolute value is used. Each map is then min-max normalised.
    """
    if not isinstance(maps, torch.Tensor) or maps.ndim != 3:
        raise ValueError(f"maps must be a tensor of shape (B, H, W), got {getattr(maps, 'shape', type(maps))}")
    maps = maps.detach().float()
    return normalize_maps(maps.clamp(min=0) if positive_only else maps.abs())
