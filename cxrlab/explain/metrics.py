"""How good is an explanation? Localisation against ground-truth masks, and faithfulness.

*Localisation* (needs lesion masks, which the phantom set has and real sets rarely do):

* ``pointing_game`` (Zhang et al. 2018): a hit when the map's maximum falls inside the
  lesion (optionally within ``tolerance`` pixels of it);
* ``topk_iou``: intersection over union of the top ``fraction`` of pixels with the mask.

*Faithfulness* (needs only the model, after Petsiuk et al. 2018):

* ``deletion_curve``: remove pixels from the most to the least important and watch the
  class probability; a faithful map makes it fall fast (small area under the curve);
* ``insertion_curve``: start from a blurred image and put pixels back in the same
  order; a faithful map makes the probability rise fast (large area).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ._common import Targets, check_images, check_model, model_device, resolve_targets
from .gradcam import _ModeGuard


def _check_maps_masks(maps: torch.Tensor, masks: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    maps = torch.as_tensor(maps).detach().float().cpu()
    masks = torch.as_tensor(masks).detach().cpu()
    if maps.ndim != 3:
        raise ValueError(f"maps must have shape (B, H, W), got {tuple(maps.shape)}")
    if masks.ndim == 4 and masks.shape[1] == 1:
        masks = masks[:, 0]
    if masks.shape != maps.shape:
        raise ValueError(f"masks {tuple(masks.shape)} and maps {tuple(maps.shape)} must have the same (B, H, W); "
                         "upsample the maps to the image size first")
    return maps, masks.bool()


def pointing_game(maps: torch.Tensor, masks: torch.Tensor | np.ndarray, tolerance: int = 0) -> torch.Tensor:
    """Per image: 1.0 if the map's maximum lies in the mask, 0.0 if not, NaN if the mask is empty.

    ``maps`` (B, H, W), any scale; ``masks`` (B, H, W) boolean lesion masks;
    ``tolerance`` (pixels, >= 0) grows the mask by a square of that radius first (Zhang
    et al. used 15 pixels at 224x224). Images without a lesion cannot be scored and give
    NaN: average with ``torch.nanmean``. Ties: the first maximum in raster order.
    """
    maps, masks = _check_maps_masks(maps, masks)
    if isinstance(tolerance, bool) or not isinstance(tolerance, int) or tolerance < 0:
        raise ValueError(f"tolerance must be a non-negative integer (pixels), got {tolerance!r}")
    if tolerance:
        masks = F.max_pool2d(masks.float()[:, None], 2 * tolerance + 1, stride=1, padding=tolerance)[:, 0] > 0
    flat_masks = masks.reshape(len(masks), -1)
    peak = maps.reshape(len(maps), -1).argmax(1)
    hits = flat_masks.gather(1, peak[:, None])[:, 0].float()
    hits[~flat_masks.any(1)] = float("nan")
    return hits


def topk_iou(maps: torch.Tensor, masks: torch.Tensor | np.ndarray, fraction: float = 0.05) -> torch.Tensor:
    """Per image: IoU of the top ``fraction`` of pixels (by map value) with the mask.

    ``fraction`` in (0, 1]: share of the image's pixels kept (at least one). Returns
    values in [0, 1]; NaN for images with an empty mask. Ties at the threshold are
    broken by raster order, so exactly ceil(fraction * H * W) pixels are kept.
    """
    maps, masks = _check_maps_masks(maps, masks)
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction!r} (0.05 keeps the top 5 % of pixels)")
    flat_maps = maps.reshape(len(maps), -1)
    flat_masks = masks.reshape(len(masks), -1)
    k = max(1, int(np.ceil(fraction * flat_maps.shape[1])))
    top = torch.zeros_like(flat_masks)
    top.scatter_(1, flat_maps.topk(k, dim=1, sorted=False).indices, True)
    inter = (top & flat_masks).sum(1).float()
    union = (top | flat_masks).sum(1).float()
    iou = inter / union
    iou[~flat_masks.any(1)] = float("nan")
    return iou


@dataclass
class FaithfulnessCurve:
    """A deletion or insertion curve for a batch of images.

    ``fractions`` (S+1,): share of pixels removed (deletion) or inserted (insertion),
    from 0 to 1; ``scores`` (B, S+1): the model's probability of each image's target
    class at each step; ``auc`` (B,): area under each curve (trapezoid rule, in [0, 1]).
    """

    kind: str
    fractions: torch.Tensor
    scores: torch.Tensor
    targets: torch.Tensor

    @property
    def auc(self) -> torch.Tensor:
        """Area under each image's curve (B,), in [0, 1]."""
        return curve_auc(self.fractions, self.scores)


def curve_auc(fractions: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Trapezoid-rule area under curves ``scores`` (B, S) over ``fractions`` (S,) in [0, 1]."""
    fractions = torch.as_tensor(fractions, dtype=torch.float64)
    scores = torch.as_tensor(scores, dtype=torch.float64)
    if fractions.ndim != 1 or scores.shape[-1] != fractions.shape[0] or len(fractions) < 2:
        raise ValueError(f"need fractions (S,) with S >= 2 and scores (B, S); got {tuple(fractions.shape)} "
                         f"and {tuple(scores.shape)}")
    return torch.trapezoid(scores, fractions, dim=-1).float()


def blur(images: torch.Tensor, sigma: float | None = None) -> torch.Tensor:
    """Gaussian blur of (B, C, H, W) images; ``sigma`` in pixels (default: a tenth of the width)."""
    images = check_images(images)
    if sigma is None:
        sigma = images.shape[-1] / 10
    if sigma <= 0:
        raise ValueError(f"sigma must be positive (pixels), got {sigma}")
    radius = max(1, int(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    out = F.pad(images, (radius, radius, radius, radius), mode="replicate")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)


def _substrate(images: torch.Tensor, substrate: str | float | torch.Tensor) -> torch.Tensor:
    if isinstance(substrate, torch.Tensor):
        return torch.broadcast_to(substrate.to(images), images.shape)
    if isinstance(substrate, (int, float)) and not isinstance(substrate, bool):
        return torch.full_like(images, float(substrate))
    if substrate == "blur":
        return blur(images)
    if substrate == "mean":
        return images.mean(dim=(2, 3), keepdim=True).expand_as(images)
    raise ValueError(f"substrate must be 'blur', 'mean', a number or a tensor, got {substrate!r}")


def _curve(kind: str, model: nn.Module, images: torch.Tensor, maps: torch.Tensor, targets: Targets,
           steps: int, substrate: str | float | torch.Tensor, seed: int) -> FaithfulnessCurve:
    model = check_model(model)
    images = check_images(images)
    maps = torch.as_tensor(maps).detach().float()
    if maps.shape != (images.shape[0], *images.shape[2:]):
        raise ValueError(f"maps {tuple(maps.shape)} must be (B, H, W) matching images {tuple(images.shape)}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    device = model_device(model)
    x = images.detach().to(device)
    canvas = _substrate(x, substrate)
    batch, pixels = maps.shape[0], maps[0].numel()
    # Order pixels from most to least important; ties in random (seeded) order, not raster order.
    generator = torch.Generator().manual_seed(seed)
    shuffle = torch.stack([torch.randperm(pixels, generator=generator) for _ in range(batch)])
    flat = maps.reshape(batch, -1).cpu()
    order = shuffle.gather(1, flat.gather(1, shuffle).argsort(dim=1, descending=True, stable=True))
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(pixels).expand(batch, -1).contiguous())
    rank = rank.view(batch, 1, *maps.shape[1:]).to(device)
    counts = [round(s * pixels / steps) for s in range(steps + 1)]
    scores = []
    with _ModeGuard(model), torch.no_grad():
        chosen = resolve_targets(targets, model(x))
        for count in counts:
            changed = rank < count  # the `count` most important pixels
            if kind == "deletion":
                step_images = torch.where(changed, canvas, x)
            else:
                step_images = torch.where(changed, x, canvas)
            probs = model(step_images).float().softmax(1)
            scores.append(probs.gather(1, chosen[:, None])[:, 0].cpu())
    fractions = torch.tensor(counts, dtype=torch.float32) / pixels
    return FaithfulnessCurve(kind, fractions, torch.stack(scores, 1), chosen.cpu())


def deletion_curve(model: nn.Module, images: torch.Tensor, maps: torch.Tensor, targets: Targets = None, *,
                   steps: int = 16, substrate: str | float | torch.Tensor = 0.0, seed: int = 0) -> FaithfulnessCurve:
    """Deletion curve (Petsiuk et al. 2018): probability of the target as top pixels are removed.

    ``maps`` (B, H, W) rank the pixels of ``images`` (B, C, H, W); at each of ``steps``
    steps another 1/steps of the pixels, most important first, is replaced by the
    ``substrate`` (a number, default 0 as in the paper; 'mean' (each image's mean);
    'blur'; or a tensor). ``targets``: None (the predicted class of the intact image),
    an int, or one per image. Lower area = more faithful map.
    """
    return _curve("deletion", model, images, maps, targets, steps, substrate, seed)


def insertion_curve(model: nn.Module, images: torch.Tensor, maps: torch.Tensor, targets: Targets = None, *,
                    steps: int = 16, substrate: str | float | torch.Tensor = "blur",
                    seed: int = 0) -> FaithfulnessCurve:
    """Insertion curve (Petsiuk et al. 2018): start from ``substrate`` (default a blurred copy)
    and restore pixels, most important first; probability of the target at each step.

    Arguments as in ``deletion_curve``. Higher area = more faithful map.
    """
    return _curve("insertion", model, images, maps, targets, steps, substrate, seed)
