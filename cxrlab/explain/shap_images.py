"""SHAP for images (Lundberg and Lee 2017) through ``shap.GradientExplainer``.

Shapley values (Shapley 1953) share a prediction fairly among the input features.
For images, ``shap.GradientExplainer`` estimates them with *expected gradients*: it
averages ``gradient * (x - x')`` over random background images x' and random points on
the path from x' to x, which is Integrated Gradients averaged over a background
distribution. The estimate is random: ``nsamples`` sets its precision, ``seed`` makes
it repeatable. (``shap.DeepExplainer`` is not used: it puts backward hooks on every
layer, and on a network with in-place ReLU, such as torchvision's ResNet, torch refuses
them: "Output 0 of BackwardHookFunction is a view and is being modified inplace";
checked with shap 0.51 and torch 2.14.)
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from ._common import Targets, check_images, check_model, model_device, resolve_targets
from .gradcam import _ModeGuard


class _OneOutput(nn.Module):
    """The model's logit for one class, as an (N, 1) output; never clears ``.grad``."""

    def __init__(self, model: nn.Module, index: int):
        super().__init__()
        self.model = model
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[:, self.index:self.index + 1]

    def zero_grad(self, set_to_none: bool = True) -> None:
        # shap calls zero_grad before every batch; its gradients come from
        # torch.autograd.grad, which never writes .grad, so there is nothing to clear
        # and the user's own gradients stay untouched.
        return None


def shap_images(model: nn.Module, images: torch.Tensor, background: torch.Tensor,
                targets: Targets = None, *, nsamples: int = 64, batch_size: int = 64,
                seed: int = 0) -> torch.Tensor:
    """SHAP maps (B, H, W) for images (B, C, H, W), summed over channels, in logit units.

    ``background`` (N, C, H, W) are the reference images the prediction is compared with
    (a few dozen training images); each map sums to about ``logit(x)`` minus the mean
    logit over the background. ``targets``: None (predicted class), an int, or one class
    index per image. ``nsamples`` gradient evaluations per image (more: less noise;
    the error of the estimate falls as 1/sqrt(nsamples)). NumPy's global random state is
    restored afterwards; the model's modes and parameter ``.grad`` are left as they were.
    """
    import warnings

    with warnings.catch_warnings():  # shap's import triggers matplotlib deprecation notices
        warnings.simplefilter("ignore")
        import shap

    model = check_model(model)
    images = check_images(images)
    background = check_images(background, "background")
    if background.shape[1:] != images.shape[1:]:
        raise ValueError(f"background images {tuple(background.shape[1:])} must have the same (C, H, W) as the "
                         f"images {tuple(images.shape[1:])}")
    if isinstance(nsamples, bool) or not isinstance(nsamples, int) or nsamples < 1:
        raise ValueError(f"nsamples must be a positive integer, got {nsamples!r}")
    device = model_device(model)
    x = images.detach().to(device)
    bg = background.detach().to(device)
    maps = torch.zeros(x.shape[0], *x.shape[2:])
    numpy_state = np.random.get_state()
    try:
        with _ModeGuard(model):
            with torch.no_grad():
                chosen = resolve_targets(targets, model(x)).cpu()
            for index in chosen.unique().tolist():
                rows = (chosen == index).nonzero().flatten()
                explainer = shap.GradientExplainer(_OneOutput(model, index), bg, batch_size=batch_size)
                values = np.asarray(explainer.shap_values(x[rows.to(device)], nsamples=nsamples, rseed=seed))
                if values.ndim == 5:  # (n, C, H, W, outputs=1)
                    values = values[..., 0]
                maps[rows] = torch.from_numpy(values.sum(axis=1)).float()
    finally:
        np.random.set_state(numpy_state)
    return maps.to(images.device)
