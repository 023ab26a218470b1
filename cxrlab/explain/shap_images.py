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

from .._checks import positive_int
from .._torch import eval_mode, model_device
from ._common import Targets, check_images, check_logits, check_model, quiet_imports, require_finite_tensor, resolve_targets


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


def _is_image_batch(value: object) -> bool:
    return isinstance(value, torch.Tensor) and value.is_floating_point() and value.ndim == 4


def shap_images(model: nn.Module, images: torch.Tensor, targets: Targets = None, *legacy: object,
                background: torch.Tensor | None = None, nsamples: int = 64, batch_size: int = 64,
                seed: int = 0) -> torch.Tensor:
    """SHAP maps by expected gradients (Lundberg and Lee 2017; ``shap.GradientExplainer``).

    Args:
        model: a classifier returning logits (B, C).
        images: float tensor (B, C_in, H, W), finite.
        targets: None (each image's predicted class), an int, or one class index per image.
        background: float tensor (N, C_in, H, W), finite: the reference images the prediction
            is compared with (a few dozen training images). Required (a keyword option, as
            every explainer is ``(model, images, targets, **options)``); the older order
            ``shap_images(model, images, background, targets)`` is still accepted.
        nsamples: gradient evaluations per image (>= 1; the error of the estimate falls as
            1/sqrt(nsamples)).
        batch_size: images per gradient evaluation in shap (>= 1).
        seed: seed of shap's random draws (the same seed gives the same maps).

    Returns:
        float32 tensor (B, H, W) on the images' device, summed over channels, in logit units;
        each map sums to about ``logit(x)`` minus the mean logit over the background. NumPy's
        global random state is restored afterwards; the model's modes and parameter ``.grad``
        are left as they were.

    Raises:
        TypeError: a model that is not an nn.Module, non-float images or background, no background.
        ValueError: images or background not (B, C, H, W), not finite (the image index is
            named) or of different (C, H, W); nsamples or batch_size < 1; bad targets;
            non-finite logits or attributions.
    """
    if _is_image_batch(targets) and background is None and len(legacy) <= 1:
        # the older order: shap_images(model, images, background[, targets])
        background, targets = targets, (legacy[0] if legacy else None)
    elif legacy:
        raise TypeError(f"shap_images(model, images, targets, *, background=...) takes 3 positional arguments, "
                        f"got {3 + len(legacy)}; pass the reference images as background=...")
    if background is None:
        raise TypeError("shap_images needs background=..., a batch (N, C, H, W) of reference images "
                        "(a few dozen training images)")
    with quiet_imports():  # shap imports tqdm.auto and calls matplotlib functions due for deprecation
        import shap

    model = check_model(model)
    images = check_images(images)
    background = check_images(background, "background")
    if background.shape[1:] != images.shape[1:]:
        raise ValueError(f"background images {tuple(background.shape[1:])} must have the same (C, H, W) as the "
                         f"images {tuple(images.shape[1:])}")
    nsamples = positive_int(nsamples, "nsamples")
    batch_size = positive_int(batch_size, "batch_size")
    device = model_device(model)
    x = images.detach().to(device)
    bg = background.detach().to(device)
    maps = torch.zeros(x.shape[0], *x.shape[2:])
    numpy_state = np.random.get_state()
    try:
        with eval_mode(model):
            with torch.no_grad():
                chosen = resolve_targets(targets, check_logits(model(x), len(x))).cpu()
            for index in chosen.unique().tolist():
                rows = (chosen == index).nonzero().flatten()
                explainer = shap.GradientExplainer(_OneOutput(model, index), bg, batch_size=batch_size)
                values = np.asarray(explainer.shap_values(x[rows.to(device)], nsamples=nsamples, rseed=seed))
                if values.ndim == 5:  # (n, C, H, W, outputs=1)
                    values = values[..., 0]
                maps[rows] = torch.from_numpy(values.sum(axis=1)).float()
    finally:
        np.random.set_state(numpy_state)
    require_finite_tensor(maps, "SHAP maps")
    return maps.to(images.device)
