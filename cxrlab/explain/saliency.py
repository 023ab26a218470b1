"""Vanilla gradient saliency (Simonyan et al. 2014) through Captum.

The saliency of a pixel is the size of the gradient of the class score with respect
to it, ``|dy_c / dx|``, maximised over colour channels. It is the cheapest explanation
(one backward pass) and the noisiest: it answers "which pixels would change the score
most if nudged", not "which pixels produced the score".
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .._torch import eval_mode, model_device
from ._common import Targets, check_images, check_logits, check_model, quiet_imports, require_finite_tensor, resolve_targets


def saliency(model: nn.Module, images: torch.Tensor, targets: Targets = None) -> torch.Tensor:
    """Gradient saliency maps |dy/dx|, maximised over channels (Simonyan et al. 2014).

    Args:
        model: a classifier returning logits (B, C).
        images: float tensor (B, C_in, H, W), finite.
        targets: None (each image's predicted class), an int, or one class index per image.

    Returns:
        float tensor (B, H, W), non-negative, in logit units per unit of input, on the images'
        device. The model runs in eval mode; its modes and parameter ``.grad`` are left as
        they were.

    Raises:
        TypeError: a model that is not an nn.Module, or non-float images.
        ValueError: images not (B, C, H, W) or not finite (the image index is named), bad
            targets, or non-finite logits or gradients.
    """
    with quiet_imports():  # captum imports tqdm.auto, which warns in kernels without ipywidgets
        from captum.attr import Saliency

    model = check_model(model)
    images = check_images(images)
    x = images.detach().to(model_device(model)).requires_grad_(True)
    with eval_mode(model):
        with torch.no_grad():
            chosen = resolve_targets(targets, check_logits(model(x.detach()), len(x)))
        grads = Saliency(model).attribute(x, target=chosen, abs=True)
    maps = grads.detach().amax(dim=1)
    require_finite_tensor(maps, "saliency maps")
    return maps.to(images.device)
