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

from .._checks import positive_int
from .._torch import eval_mode, model_device
from ._common import Targets, check_images, check_logits, check_model, quiet_imports, require_finite_tensor, resolve_targets


def integrated_gradients(model: nn.Module, images: torch.Tensor, targets: Targets = None, *,
                         baseline: torch.Tensor | float | None = None, steps: int = 32,
                         internal_batch_size: int | None = None,
                         return_delta: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Integrated Gradients maps for images, summed over channels (Sundararajan et al. 2017).

    Args:
        model: a classifier returning logits (B, C).
        images: float tensor (B, C_in, H, W), finite.
        targets: None (each image's predicted class), an int, or one class index per image.
        baseline: None (an all-zero image), a number (a constant image) or a finite tensor
            broadcastable to ``images``.
        steps: points of Gauss-Legendre quadrature (integer >= 2).
        internal_batch_size: how many path points go through the model at once (memory);
            None for all of them.
        return_delta: also return the convergence delta.

    Returns:
        float tensor (B, H, W) on the images' device: signed, in logit units; each map sums
        (over pixels) to about ``logit(x) - logit(baseline)`` of the target. With
        ``return_delta``, also the convergence delta (B,) of that sum (Captum). The model runs
        in eval mode; its modes and parameter ``.grad`` are left as they were.

    Raises:
        TypeError: a model that is not an nn.Module, non-float images, a baseline of another type.
        ValueError: images not (B, C, H, W) or not finite (the image index is named), steps
            < 2, a baseline that does not broadcast or is not finite, bad targets, or
            non-finite logits or attributions.
    """
    with quiet_imports():  # captum imports tqdm.auto, which warns in kernels without ipywidgets
        from captum.attr import IntegratedGradients

    model = check_model(model)
    images = check_images(images)
    steps = positive_int(steps, "steps", minimum=2)
    if internal_batch_size is not None:
        internal_batch_size = positive_int(internal_batch_size, "internal_batch_size")
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
    require_finite_tensor(base, "baseline")
    with eval_mode(model):
        with torch.no_grad():
            logits = check_logits(model(x), len(x))
        chosen = resolve_targets(targets, logits)
        attributions, delta = IntegratedGradients(model).attribute(
            x, baselines=base, target=chosen, n_steps=steps, method="gausslegendre",
            internal_batch_size=internal_batch_size, return_convergence_delta=True)
    maps = attributions.detach().sum(dim=1)
    require_finite_tensor(maps, "Integrated Gradients maps")
    if return_delta:
        return maps.to(images.device), delta.detach().to(images.device)
    return maps.to(images.device)
