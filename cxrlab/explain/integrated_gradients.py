"""Integrated Gradients (Sundararajan et al. 2017) through Captum.

IG attributes ``f(x) - f(x')`` to the input pixels by integrating the gradient along
the straight path from a baseline x' to the image x:
``IG_i = (x_i - x'_i) * integral_0^1 df(x' + a (x - x'))/dx_i da``.
Completeness says the attributions sum to ``f(x) - f(x')``; the integral is a
quadrature with ``steps`` points, and the *convergence delta*
``sum(IG) - (f(x) - f(x'))`` measures its error: report it, and add steps when it is
not small compared with ``f(x) - f(x')``.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ._common import Targets, check_images, check_model, model_device, resolve_targets
from .gradcam import _ModeGuard


def integrated_gradients(model: nn.Module, images: torch.Tensor, targets: Targets = None, *,
                         baseline: torch.Tensor | float | None = None, steps: int = 32,
                         internal_batch_size: int | None = None,
                         return_delta: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Integrated Gradients maps (B, H, W) for images (B, C, H, W), summed over channels.

    ``baseline``: None (an all-zero image), a number (a constant image) or a tensor
    broadcastable to ``images``. ``steps``: points of Gauss-Legendre quadrature (>= 2).
    ``internal_batch_size`` caps how many path points go through the model at once
    (memory). The maps are signed and in logit units: each sums (over pixels) to about
    ``logit(x) - logit(baseline)`` of the target class. With ``return_delta`` also returns
    the convergence delta (B,) of that sum. The model runs in eval mode; its modes and
    parameter ``.grad`` are left as they were.
    """
    from captum.attr import IntegratedGradients

    model = check_model(model)
    images = check_images(images)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
    device = model_device(model)
    x = images.detach().to(device)
    if baseline is None:
        base = torch.zeros_like(x)
    elif isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        base = torch.full_like(x, float(baseline))
    elif isinstance(baseline, torch.Tensor):
        try:
            base = torch.broadcast_to(baseline.detach().to(device, x.dtype), x.shape).contiguous()
        except RuntimeError:
            raise ValueError(f"baseline of shape {tuple(baseline.shape)} does not broadcast to the images "
                             f"{tuple(x.shape)}; pass one image (C, H, W), a batch, or a number") from None
    else:
        raise TypeError(f"baseline must be None, a number or a tensor, got {type(baseline).__name__}")
    with _ModeGuard(model):
        with torch.no_grad():
            logits = model(x)
        chosen = resolve_targets(targets, logits)
        attributions, delta = IntegratedGradients(model).attribute(
            x, baselines=base, target=chosen, n_steps=steps, method="gausslegendre",
            internal_batch_size=internal_batch_size, return_convergence_delta=True)
    maps = attributions.detach().sum(dim=1).to(images.device)
    if return_delta:
        return maps, delta.detach().to(images.device)
    return maps
