"""Vanilla gradient saliency (Simonyan et al. 2014) through Captum.

The saliency of a pixel is the size of the gradient of the class score with respect
to it, ``|dy_c / dx|``, maximised over colour channels. It is the cheapest explanation
(one backward pass) and the noisiest: it answers "which pixels would change the score
most if nudged", not "which pixels produced the score".
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ._common import Targets, check_images, check_model, model_device, resolve_targets
from .gradcam import _ModeGuard


def saliency(model: nn.Module, images: torch.Tensor, targets: Targets = None) -> torch.Tensor:
    """Gradient saliency maps (B, H, W), non-negative, for images (B, C, H, W).

    ``targets``: None (the predicted class), an int, or one class index per image. The
    values are |dy/dx| in logit units per unit of input, maximised over channels. The
    model runs in eval mode; its modes and parameter ``.grad`` are left as they were.
    """
    from captum.attr import Saliency

    model = check_model(model)
    images = check_images(images)
    x = images.detach().to(model_device(model)).requires_grad_(True)
    with _ModeGuard(model):
        with torch.no_grad():
            chosen = resolve_targets(targets, model(x.detach()))
        grads = Saliency(model).attribute(x, target=chosen, abs=True)
    return grads.detach().amax(dim=1).to(images.device)
