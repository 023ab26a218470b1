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

from .._checks import positive_int, probability
from .._torch import eval_mode, model_device
from ..probabilities import probabilities
from ._common import Targets, check_images, check_logits, check_maps, check_model, require_finite_tensor, resolve_targets


def _check_maps_masks(maps: torch.Tensor, masks: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    maps = check_maps(maps)
    masks = torch.as_tensor(masks).detach().cpu()
    if masks.ndim == 4 and masks.shape[1] == 1:
        masks = masks[:, 0]
    if masks.shape != maps.shape:
        raise ValueError(f"masks {tuple(masks.shape)} and maps {tuple(maps.shape)} must have the same (B, H, W); "
                         "upsample the maps to the image size first")
    if masks.is_floating_point():
        require_finite_tensor(masks, "masks")
    return maps, masks.bool()


def _constant(flat_maps: torch.Tensor) -> torch.Tensor:
    """(B,) True where a map has one value everywhere: it ranks no pixel above another."""
    return flat_maps.amax(1) == flat_maps.amin(1)


def pointing_game(maps: torch.Tensor, masks: torch.Tensor | np.ndarray, tolerance: int = 0) -> torch.Tensor:
    """Per image: does the map's maximum fall inside the lesion? (Zhang et al. 2018)

    Args:
        maps: float tensor (B, H, W), any scale, finite.
        masks: boolean lesion masks (B, H, W) (or (B, 1, H, W)).
        tolerance: pixels (integer >= 0) by which the mask is grown (a square of that radius)
            first; Zhang et al. used 15 pixels at 224 x 224.

    Returns:
        float tensor (B,): 1.0 when the maximum lies in the mask, 0.0 when not, NaN when the
        mask is empty (no lesion: the image cannot be scored; average with ``torch.nanmean``).
        Ties: when several pixels share the maximum, the score is the fraction of them inside
        the mask (the expected hit of a random choice among them), never the first in raster
        order. A constant map (blank, all zero) points nowhere and scores 0.0 on every image
        with a lesion, even a lesion covering the whole image.

    Raises:
        ValueError: maps not (B, H, W) or holding NaN/infinity (the map's index is named),
            masks of another shape, a negative or non-integer tolerance.
    """
    maps, masks = _check_maps_masks(maps, masks)
    tolerance = positive_int(tolerance, "tolerance (pixels)", minimum=0)
    if tolerance:
        masks = F.max_pool2d(masks.float()[:, None], 2 * tolerance + 1, stride=1, padding=tolerance)[:, 0] > 0
    flat_masks = masks.reshape(len(masks), -1)
    flat = maps.reshape(len(maps), -1)
    peaks = flat == flat.amax(1, keepdim=True)
    hits = (peaks & flat_masks).sum(1).double() / peaks.sum(1).double()
    hits = hits.float()
    hits[_constant(flat)] = 0.0
    hits[~flat_masks.any(1)] = float("nan")
    return hits


def topk_iou(maps: torch.Tensor, masks: torch.Tensor | np.ndarray, fraction: float = 0.05) -> torch.Tensor:
    """Per image: intersection over union of the top ``fraction`` of pixels (by map value) with the mask.

    Args:
        maps: float tensor (B, H, W), any scale, finite.
        masks: boolean lesion masks (B, H, W) (or (B, 1, H, W)).
        fraction: share of the image's pixels kept, in (0, 1]: k = ceil(fraction * H * W)
            pixels (at least one).

    Returns:
        float tensor (B,) in [0, 1]; NaN for an image with an empty mask. Ties at the
        threshold: the pixels tied with the k-th largest value share the places left equally
        (each counts r / t when r places remain for t tied pixels), so the result is the
        intersection expected from a random choice among them, never raster order. A constant
        map ranks nothing and scores 0.0.

    Raises:
        ValueError: maps not (B, H, W) or holding NaN/infinity (the map's index is named),
            masks of another shape, a fraction outside (0, 1].
    """
    maps, masks = _check_maps_masks(maps, masks)
    fraction = probability(fraction, "fraction", open_interval=False)
    if fraction == 0:
        raise ValueError("fraction must lie in (0, 1], got 0 (0.05 keeps the top 5 % of pixels)")
    flat_maps = maps.reshape(len(maps), -1).double()
    flat_masks = masks.reshape(len(masks), -1).double()
    k = max(1, int(np.ceil(fraction * flat_maps.shape[1] - 1e-9)))
    threshold = flat_maps.topk(k, dim=1).values[:, -1:]
    above = (flat_maps > threshold).double()
    tied = (flat_maps == threshold).double()
    share = (k - above.sum(1, keepdim=True)) / tied.sum(1, keepdim=True)
    weight = above + share * tied
    inter = (weight * flat_masks).sum(1)
    iou = inter / (k + flat_masks.sum(1) - inter)
    iou = iou.float()
    iou[_constant(flat_maps)] = 0.0
    iou[flat_masks.sum(1) == 0] = float("nan")
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
    """Trapezoid-rule area under curves.

    Args:
        fractions: (S,) increasing values in [0, 1], S >= 2.
        scores: (B, S) values (probabilities for deletion and insertion curves).

    Returns:
        float32 tensor (B,): the area under each curve (in [0, 1] for probabilities).

    Raises:
        ValueError: shapes that do not match, or NaN/infinity (the curve's index is named).
    """
    fractions = torch.as_tensor(fractions, dtype=torch.float64)
    scores = torch.as_tensor(scores, dtype=torch.float64)
    if fractions.ndim != 1 or scores.shape[-1] != fractions.shape[0] or len(fractions) < 2:
        raise ValueError(f"need fractions (S,) with S >= 2 and scores (B, S); got {tuple(fractions.shape)} "
                         f"and {tuple(scores.shape)}")
    require_finite_tensor(scores, "scores")
    if not bool(torch.isfinite(fractions).all()):
        raise ValueError("fractions hold NaN or infinity")
    return torch.trapezoid(scores, fractions, dim=-1).float()


def blur(images: torch.Tensor, sigma: float | None = None) -> torch.Tensor:
    """Gaussian blur with replicated borders, separable, channel by channel.

    Args:
        images: float tensor (B, C, H, W), finite.
        sigma: standard deviation of the Gaussian in pixels, > 0 (default: a tenth of the width).

    Returns:
        float tensor of the shape of ``images`` (a constant image stays constant).

    Raises:
        TypeError, ValueError: images that are not a finite float (B, C, H, W) tensor (the image
            index is named), or a sigma that is not a positive finite number.
    """
    images = check_images(images)
    if sigma is None:
        sigma = images.shape[-1] / 10
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not np.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma must be a positive number of pixels, got {sigma!r}")
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
        try:
            canvas = torch.broadcast_to(substrate.detach().to(images), images.shape)
        except RuntimeError:
            raise ValueError(f"substrate of shape {tuple(substrate.shape)} does not broadcast to the images "
                             f"{tuple(images.shape)}") from None
        require_finite_tensor(canvas, "substrate")
        return canvas
    if isinstance(substrate, (int, float)) and not isinstance(substrate, bool):
        if not np.isfinite(substrate):
            raise ValueError(f"substrate must be a finite number, got {substrate}")
        return torch.full_like(images, float(substrate))
    if substrate == "blur":
        return blur(images)
    if substrate == "mean":
        return images.mean(dim=(2, 3), keepdim=True).expand_as(images)
    raise ValueError(f"substrate must be 'blur', 'mean', a number or a tensor, got {substrate!r}")


def _curve(kind: str, model: nn.Module, images: torch.Tensor, maps: torch.Tensor, targets: Targets,
           steps: int, substrate: str | float | torch.Tensor, seed: int, multi_label: bool) -> FaithfulnessCurve:
    model = check_model(model)
    images = check_images(images)
    maps = check_maps(maps)
    if maps.shape != (images.shape[0], *images.shape[2:]):
        raise ValueError(f"maps {tuple(maps.shape)} must be (B, H, W) matching images {tuple(images.shape)}")
    steps = positive_int(steps, "steps")
    device = model_device(model)
    x = images.detach().to(device)
    canvas = _substrate(x, substrate)
    batch, pixels = maps.shape[0], maps[0].numel()
    # Order pixels from most to least important; ties in random (seeded) order, not raster order.
    generator = torch.Generator().manual_seed(seed)
    shuffle = torch.stack([torch.randperm(pixels, generator=generator) for _ in range(batch)])
    flat = maps.reshape(batch, -1)
    order = shuffle.gather(1, flat.gather(1, shuffle).argsort(dim=1, descending=True, stable=True))
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(pixels).expand(batch, -1).contiguous())
    rank = rank.view(batch, 1, *maps.shape[1:]).to(device)
    counts = [round(s * pixels / steps) for s in range(steps + 1)]
    scores = []
    with eval_mode(model), torch.no_grad():
        chosen = resolve_targets(targets, check_logits(model(x), len(x)))
        for count in counts:
            changed = rank < count  # the `count` most important pixels
            if kind == "deletion":
                step_images = torch.where(changed, canvas, x)
            else:
                step_images = torch.where(changed, x, canvas)
            probs = probabilities(check_logits(model(step_images), len(x)).float(), multi_label=multi_label)
            scores.append(probs.gather(1, chosen[:, None])[:, 0].cpu())
    fractions = torch.tensor(counts, dtype=torch.float32) / pixels
    return FaithfulnessCurve(kind, fractions, torch.stack(scores, 1), chosen.cpu())


def deletion_curve(model: nn.Module, images: torch.Tensor, maps: torch.Tensor, targets: Targets = None, *,
                   steps: int = 16, substrate: str | float | torch.Tensor = 0.0, seed: int = 0,
                   multi_label: bool = False) -> FaithfulnessCurve:
    """Deletion curve (Petsiuk et al. 2018): probability of the target as top pixels are removed.

    Args:
        model: a classifier returning logits (B, C).
        images: float tensor (B, C_in, H, W), finite.
        maps: float tensor (B, H, W), finite, ranking the pixels (larger = more important);
            ties are ordered at random (seeded by ``seed``), never in raster order.
        targets: None (the predicted class of the intact image), an int, or one per image.
        steps: number of steps (>= 1); each replaces another 1/steps of the pixels, most
            important first.
        substrate: what removed pixels become: a number (default 0, as in the paper),
            ``"mean"`` (each image's mean), ``"blur"``, or a finite tensor broadcastable to images.
        seed: seed of the random order of tied pixels.
        multi_label: the outputs are independent findings (a sigmoid each). Probabilities come
            from ``cxrlab.probabilities.probabilities``: a sigmoid for a single-logit (binary)
            model or multi-label outputs, else a softmax.

    Returns:
        FaithfulnessCurve: ``fractions`` (steps + 1,), ``scores`` (B, steps + 1) probabilities
        of each image's target, ``auc`` (B,). Lower area = more faithful map.

    Raises:
        TypeError, ValueError: images or maps that are not finite tensors of the right shapes
            (the image index is named), steps < 1, an unknown substrate, bad targets, or
            non-finite logits.
    """
    return _curve("deletion", model, images, maps, targets, steps, substrate, seed, multi_label)


def insertion_curve(model: nn.Module, images: torch.Tensor, maps: torch.Tensor, targets: Targets = None, *,
                    steps: int = 16, substrate: str | float | torch.Tensor = "blur",
                    seed: int = 0, multi_label: bool = False) -> FaithfulnessCurve:
    """Insertion curve (Petsiuk et al. 2018): restore pixels, most important first, onto a substrate.

    Args:
        model, images, maps, targets, steps, seed, multi_label: as in ``deletion_curve``.
        substrate: the starting canvas (default ``"blur"``, a blurred copy of each image).

    Returns:
        FaithfulnessCurve of the target's probability at each step. Higher area = more
        faithful map.

    Raises:
        TypeError, ValueError: as ``deletion_curve``.
    """
    return _curve("insertion", model, images, maps, targets, steps, substrate, seed, multi_label)
