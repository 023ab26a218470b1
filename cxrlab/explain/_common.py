"""Checks shared by the explanation methods and their metrics (not part of the public API)."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._checks import require_finite

Targets = int | Sequence[int] | torch.Tensor | None


@contextlib.contextmanager
def quiet_imports() -> Iterator[None]:
    """Import Captum or shap without the notices their imports print (not errors of the caller's).

    Captum and shap import ``tqdm.auto``, which in a Jupyter kernel without ipywidgets warns
    ``TqdmWarning: IProgress not found`` once per kernel, and shap's colour maps call matplotlib
    functions that are due for deprecation. Neither says anything about the reader's code, so a
    chapter page would show noise; every other warning still reaches the caller.
    """
    from tqdm import TqdmWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=TqdmWarning)
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module=r"shap(\.|$)")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"shap(\.|$)")
        yield


def require_finite_tensor(values: torch.Tensor, name: str) -> None:
    """``require_finite`` for a tensor of any float dtype (bfloat16 too) on any device.

    The check runs on the tensor's own device; only a tensor that fails it is copied to the
    CPU, to name the first bad item in the error.
    """
    if values.is_floating_point() and not bool(torch.isfinite(values.detach()).all()):
        require_finite(values.detach().float().cpu(), name)


def check_images(images: object, what: str = "images") -> torch.Tensor:
    """Return ``images`` if it is a finite float tensor (B, C, H, W) with B >= 1; else a clear error.

    Raises:
        TypeError: not a tensor, or not floating point.
        ValueError: not 4-D, an empty batch, or NaN/infinity (the first bad image is named).
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor of shape (B, C, H, W), got {type(images).__name__}")
    if images.ndim != 4:
        hint = " (add a batch axis with images.unsqueeze(0))" if images.ndim == 3 else ""
        raise ValueError(f"{what} must have shape (B, C, H, W), got {tuple(images.shape)}{hint}")
    if images.shape[0] == 0:
        raise ValueError(f"{what} is an empty batch; pass at least one image")
    if not images.is_floating_point():
        raise TypeError(f"{what} must be a floating-point tensor, got {images.dtype}; convert with .float()")
    require_finite_tensor(images, what)
    return images


def check_maps(maps: object, what: str = "maps") -> torch.Tensor:
    """Return ``maps`` as a finite float tensor (B, H, W) on the CPU; else a clear error.

    Raises:
        ValueError: not 3-D, an empty batch, or NaN/infinity (the first bad map is named).
    """
    if not isinstance(maps, torch.Tensor):
        try:
            maps = torch.as_tensor(maps)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"{what} must be a tensor of shape (B, H, W), got {type(maps).__name__}") from None
    if maps.ndim != 3:
        raise ValueError(f"{what} must have shape (B, H, W), got {tuple(maps.shape)}"
                         + (" (add a batch axis with maps.unsqueeze(0))" if maps.ndim == 2 else ""))
    if maps.shape[0] == 0:
        raise ValueError(f"{what} is an empty batch; pass at least one map")
    require_finite_tensor(maps, what)
    return maps.detach().float().cpu()


def check_model(model: object) -> nn.Module:
    """Return ``model`` if it is an nn.Module; else a TypeError."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model


def check_logits(logits: object, batch: int) -> torch.Tensor:
    """The model's output must be finite logits (B, classes): else a ValueError naming the image."""
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or len(logits) != batch:
        raise ValueError(f"the model must return logits of shape (B, classes) = ({batch}, C), got "
                         f"{tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__}")
    require_finite_tensor(logits, "the model's logits")
    return logits


def resolve_targets(targets: Targets, logits: torch.Tensor) -> torch.Tensor:
    """One class index per image as a long tensor (B,) on the logits' device.

    ``None`` picks the predicted class (argmax of the logits; 0 for a single-logit model); an
    int is used for every image; a sequence or tensor must hold one index per image. Indices
    must lie in [0, number of outputs).
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


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling (align_corners=False) of (B, h, w) maps to (B, *size)."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps.unsqueeze(1), size=size, mode="bilinear", align_corners=False).squeeze(1)


def is_old_layer_first_call(second: object) -> bool:
    """True for the older ``f(model, target_layer, images, targets)`` order (a module second)."""
    return isinstance(second, nn.Module)
