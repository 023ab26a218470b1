"""Grad-CAM (Selvaraju et al. 2017), batched, written from scratch.

For a convolutional layer with activations A (K maps of h x w) and a class score y_c,
Grad-CAM weights each map by the spatial mean of its gradient,
``alpha_k = mean_ij dy_c / dA_kij``, and keeps the positive part of the weighted sum,
``ReLU(sum_k alpha_k A_k)``. The coarse map is upsampled to the input size.

How this implementation avoids the faults of the usual hook-based class:

* one forward and one backward pass for the whole batch: the class scores of the B
  images are summed before differentiating; in eval mode image i's score depends only
  on image i, so each map still uses its own target. That independence is checked, not
  assumed: the first image is also run alone (one extra forward pass of one image), and if
  its logits change with the rest of the batch (BatchNorm without running statistics, a
  model that mixes the batch), every map is computed from its image alone and a warning
  says so;
* the gradient is taken with ``torch.autograd.grad`` with respect to the captured
  activation only: no ``.grad`` of any parameter is touched and nothing below the
  target layer is differentiated (the forward up to the layer even runs without
  recording a graph);
* the forward hook returns a *copy* of the layer output, so an in-place operation that
  follows the layer (``ReLU(inplace=True)``, ``out += identity``) changes the copy and
  never the activation we keep; no backward hooks at all;
* the hook is removed and every module's train/eval flag restored in a ``finally``;
* ``grad_cam_per_image`` runs the very same capture one image at a time, so the two paths
  accept the same models and refuse the same mistakes with the same messages.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn as nn

from .._torch import eval_mode, model_device
from ._common import Targets, check_images, check_logits, check_model, require_finite_tensor, resolve_targets, upsample
from .heatmap import normalize_maps


def _check_layer(model: nn.Module, target_layer: object) -> nn.Module:
    if target_layer is None:
        target_layer = getattr(model, "target_layer", None)
        if target_layer is None:
            raise TypeError("pass target_layer=..., a convolutional module of the model (e.g. model.layer4 "
                            "for a ResNet); only models with a `target_layer` attribute have a default")
    if not isinstance(target_layer, nn.Module):
        raise TypeError(f"target_layer must be a module of the model (e.g. model.layer4), "
                        f"got {type(target_layer).__name__}")
    if not any(m is target_layer for m in model.modules()):
        raise ValueError("target_layer is not a submodule of model; pass a module reached through the model "
                         "itself (e.g. model.layer4 for a torchvision ResNet), not one of a copy")
    return target_layer


def _arguments(name: str, model: object, images: object, targets: object, legacy: tuple,
               target_layer: object) -> tuple[nn.Module, nn.Module, torch.Tensor, Targets]:
    """Validate (model, images, targets, target_layer), also from the older layer-first order."""
    if isinstance(images, nn.Module):  # the older order: f(model, target_layer, images[, targets])
        if target_layer is not None or len(legacy) > 1:
            raise TypeError(f"{name}(model, images, targets, *, target_layer=...): pass the layer once")
        target_layer, images, targets = images, targets, (legacy[0] if legacy else None)
    elif legacy:
        raise TypeError(f"{name}(model, images, targets, *, target_layer=...) takes 3 positional arguments, "
                        f"got {3 + len(legacy)}; pass the layer as target_layer=...")
    model = check_model(model)
    layer = _check_layer(model, target_layer)
    images = check_images(images)
    if torch.is_inference_mode_enabled():
        raise RuntimeError("Grad-CAM needs gradients; call it outside torch.inference_mode()")
    return model, layer, images, targets


def _capture(model: nn.Module, target_layer: nn.Module, x: torch.Tensor,
             targets: Targets) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One forward and one backward pass on a validated batch ``x`` (already on the model's device).

    Returns the activation A (B, K, h, w), dy/dA, the targets (B,) and the logits (B, C).
    The caller holds the model in eval mode.
    """
    captured: dict[str, object] = {"calls": 0}

    def keep_activation(module: nn.Module, inputs: tuple, output: object) -> torch.Tensor | None:
        captured["calls"] = int(captured["calls"]) + 1  # type: ignore[arg-type]
        if captured["calls"] > 1 or not isinstance(output, torch.Tensor):
            captured["bad_output"] = type(output).__name__
            return None
        activation = output.detach().requires_grad_(True)
        captured["activation"] = activation
        # Record the graph only from here on: Grad-CAM needs dy/dA, nothing below A.
        torch.set_grad_enabled(True)
        return activation.clone()  # later in-place ops modify this copy, not the activation we keep

    handle = target_layer.register_forward_hook(keep_activation)
    try:
        with torch.no_grad():
            logits = model(x)
    finally:
        handle.remove()
    calls = captured["calls"]
    if calls == 0:
        raise ValueError("target_layer was not used in the forward pass; choose a layer the model "
                         "calls, e.g. the last convolutional block (model.layer4 for a ResNet)")
    if calls > 1:
        raise ValueError(f"target_layer was called {calls} times in one forward pass (a shared module "
                         "such as a ResNet block's relu); choose a layer used once, e.g. the block itself")
    activation = captured.get("activation")
    if not isinstance(activation, torch.Tensor):
        raise TypeError(f"target_layer returned a {captured.get('bad_output')}, not one tensor; "
                        "choose a layer whose output is a single (B, K, h, w) tensor")
    if activation.ndim != 4:
        raise ValueError(f"Grad-CAM needs a convolutional layer with output (B, K, h, w); the target "
                         f"layer gives {tuple(activation.shape)}")
    logits = check_logits(logits, len(x))
    if not logits.requires_grad:
        raise ValueError("the model's output does not depend on target_layer; choose a layer on the "
                         "path from input to output")
    chosen = resolve_targets(targets, logits)
    with torch.enable_grad():  # also when the caller is inside torch.no_grad()
        score = logits.gather(1, chosen[:, None]).sum()
        (gradients,) = torch.autograd.grad(score, activation)
    require_finite_tensor(gradients, "the gradients at target_layer")
    return activation.detach(), gradients, chosen, logits.detach()


def _independent(model: nn.Module, x: torch.Tensor, logits: torch.Tensor) -> bool:
    """Does the first image give the same logits alone as inside the batch?

    A normalisation layer without running statistics uses the batch's statistics even in eval
    mode: that is known without running anything. Any other mixing (a layer that subtracts the
    batch mean, attention across the batch) shows when the first image is run alone: one
    extra forward pass of one image.
    """
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.running_mean is None:
            return False
    with torch.no_grad():
        alone = model(x[:1])
    if not isinstance(alone, torch.Tensor) or alone.shape != logits[:1].shape:
        return False
    return bool((alone - logits[:1]).abs().max() <= 1e-4 * (1.0 + float(logits.abs().max())))


def _one_target(targets: Targets, i: int, batch: int) -> Targets:
    if targets is None or (isinstance(targets, int) and not isinstance(targets, bool)):
        return targets
    if isinstance(targets, bool):
        raise TypeError("targets must be None, an int or one int per image, not a bool")
    values = torch.as_tensor(targets).reshape(-1)
    if values.is_floating_point() or values.dtype == torch.bool:
        raise TypeError(f"targets must be integer class indices, got dtype {values.dtype}")
    if values.numel() != batch:
        raise ValueError(f"targets has {values.numel()} entries but there are {batch} images; "
                         "pass one class index per image, a single int, or None for the prediction")
    return int(values[i])


def _per_image(model: nn.Module, layer: nn.Module, x: torch.Tensor,
               targets: Targets) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    parts = [_capture(model, layer, x[i:i + 1], _one_target(targets, i, len(x)))[:3] for i in range(len(x))]
    return tuple(torch.cat(p) for p in zip(*parts))  # type: ignore[return-value]


def layer_activations_and_gradients(model: nn.Module, images: torch.Tensor, targets: Targets = None,
                                    *legacy: object, target_layer: nn.Module | None = None,
                                    check_independence: bool = True
                                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Activations A of ``target_layer``, the gradients of each image's target score, and the targets.

    Args:
        model: a classifier returning logits (B, C).
        images: float tensor (B, C_in, H, W), finite.
        targets: None (each image's predicted class), an int for every image, or one class
            index per image, in [0, C).
        target_layer: a module of ``model`` called once per forward pass whose output is one
            (B, K, h, w) tensor; default ``model.target_layer`` where the model names one.
            The older order ``(model, target_layer, images, targets)`` is still accepted.
        check_independence: run the first image alone too (one extra forward pass of one
            image) and fall back to one image at a time when its logits depend on the rest of
            the batch. Turn off only where images are known to be independent (timing loops).

    Returns:
        ``(A, dy/dA, targets)``: A and dy/dA float (B, K, h, w) on the model's device, and the
        targets used, long (B,). One forward and one backward pass in eval mode; when the
        images of the batch turn out not to be independent, one pass per image (with a
        UserWarning). The model's modes, hooks and parameter gradients are left as they were.

    Raises:
        TypeError: a model that is not an nn.Module, non-float images, a layer that is not a
            module or returns something other than one tensor, or integer targets of a wrong type.
        ValueError: images not (B, C, H, W) or holding NaN/infinity (the image index is
            named), a layer that is not a submodule, not used, used twice, or not (B, K, h, w),
            logits that are not (B, C) or not finite, targets out of range or of the wrong length.
        RuntimeError: called inside ``torch.inference_mode()``.
    """
    model, layer, images, targets = _arguments("layer_activations_and_gradients", model, images, targets,
                                               legacy, target_layer)
    x = images.detach().to(model_device(model))
    with eval_mode(model):
        activation, gradients, chosen, logits = _capture(model, layer, x, targets)
        if check_independence and len(x) > 1 and not _independent(model, x, logits):
            warnings.warn("the images of this batch are not independent: an image's logits change with the "
                          "rest of the batch (BatchNorm without running statistics, or a model that mixes the "
                          "batch); Grad-CAM is computed for each image alone instead", UserWarning, stacklevel=3)
            activation, gradients, chosen = _per_image(model, layer, x, targets)
    return activation, gradients, chosen


def _cam(activation: torch.Tensor, gradients: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    weights = gradients.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * activation).sum(dim=1))
    cam = upsample(cam, size)
    require_finite_tensor(cam, "Grad-CAM maps")
    return normalize_maps(cam)


def grad_cam(model: nn.Module, images: torch.Tensor, targets: Targets = None, *legacy: object,
             target_layer: nn.Module | None = None, check_independence: bool = True) -> torch.Tensor:
    """Grad-CAM heatmaps for a batch of images (Selvaraju et al. 2017).

    Args:
        model: a classifier returning logits (B, C).
        images: float tensor (B, C_in, H, W), finite.
        targets: None (each image's predicted class), an int for every image, or one class
            index per image, in [0, C).
        target_layer: a module of ``model`` whose output is (B, K, h, w), usually the last
            convolutional block (``model.layer4`` of a ResNet); default ``model.target_layer``
            where the model names one. The older order ``grad_cam(model, target_layer, images,
            targets)`` is still accepted.
        check_independence: as ``layer_activations_and_gradients`` (default on; measured cost
            on a CPU: one forward pass of one image, about +40 % time for 16 images of 64 x 64
            through a ResNet-18).

    Returns:
        float tensor (B, H, W) in [0, 1] on the images' device: ReLU'd, upsampled bilinearly
        (align_corners=False) to (H, W) and min-max normalised per image (a map with no
        positive evidence stays all zero). The model runs in eval mode for the call; its modes,
        hooks and parameter ``.grad`` are left as they were.

    Raises:
        TypeError, ValueError, RuntimeError: as ``layer_activations_and_gradients``; a NaN
            or infinite pixel raises ValueError naming the image, never an all-zero map.
    """
    model, layer, images, targets = _arguments("grad_cam", model, images, targets, legacy, target_layer)
    activation, gradients, _ = layer_activations_and_gradients(model, images, targets, target_layer=layer,
                                                               check_independence=check_independence)
    return _cam(activation, gradients, tuple(images.shape[-2:])).to(images.device)


def grad_cam_per_image(model: nn.Module, images: torch.Tensor, targets: Targets = None, *legacy: object,
                       target_layer: nn.Module | None = None) -> torch.Tensor:
    """Grad-CAM one image at a time: the slow reference for ``grad_cam``.

    The same validated capture as ``grad_cam`` (forward hook returning a copy, so an in-place
    ReLU after the layer is harmless; ``torch.autograd.grad``, so no ``.grad`` is touched),
    run on batches of one image. Each map depends on its image alone, whatever the model does
    with a batch.

    Args:
        model, images, targets, target_layer: as ``grad_cam``.

    Returns:
        float tensor (B, H, W) in [0, 1]: the same maps and normalisation as ``grad_cam``.

    Raises:
        TypeError, ValueError, RuntimeError: the same errors as ``grad_cam``, with the same
            messages (never an AttributeError or IndexError from inside a hook).
    """
    model, layer, images, targets = _arguments("grad_cam_per_image", model, images, targets, legacy, target_layer)
    _one_target(targets, 0, len(images))  # check the number of targets before any work
    x = images.detach().to(model_device(model))
    with eval_mode(model):
        activation, gradients, _ = _per_image(model, layer, x, targets)
    return _cam(activation, gradients, tuple(images.shape[-2:])).to(images.device)
