"""Grad-CAM (Selvaraju et al. 2017), batched, written from scratch.

For a convolutional layer with activations A (K maps of h x w) and a class score y_c,
Grad-CAM weights each map by the spatial mean of its gradient,
``alpha_k = mean_ij dy_c / dA_kij``, and keeps the positive part of the weighted sum,
``ReLU(sum_k alpha_k A_k)``. The coarse map is upsampled to the input size.

How this implementation avoids the faults of the usual hook-based class:

* one forward and one backward pass for the whole batch: the class scores of the B
  images are summed before differentiating; in eval mode image i's score depends only
  on image i, so each map still uses its own target;
* the gradient is taken with ``torch.autograd.grad`` with respect to the captured
  activation only: no ``.grad`` of any parameter is touched and nothing below the
  target layer is differentiated (the forward up to the layer even runs without
  recording a graph);
* the forward hook returns a *copy* of the layer output, so an in-place operation that
  follows the layer (``ReLU(inplace=True)``, ``out += identity``) changes the copy and
  never the activation we keep; no deprecated ``register_backward_hook``;
* the hook is removed and every module's train/eval flag restored in a ``finally``.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ._common import Targets, check_images, check_model, model_device, normalize_maps, resolve_targets, upsample


def _check_layer(model: nn.Module, target_layer: object) -> nn.Module:
    if not isinstance(target_layer, nn.Module):
        raise TypeError(f"target_layer must be a module of the model (e.g. model.layer4), "
                        f"got {type(target_layer).__name__}")
    if not any(m is target_layer for m in model.modules()):
        raise ValueError("target_layer is not a submodule of model; pass a module reached through the model "
                         "itself (e.g. model.layer4 for a torchvision ResNet), not one of a copy")
    return target_layer


class _ModeGuard:
    """Put a model in eval mode and give every module back its own train/eval flag afterwards."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.flags = [(m, m.training) for m in model.modules()]

    def __enter__(self) -> nn.Module:
        self.model.eval()
        return self.model

    def __exit__(self, *exc: object) -> None:
        for module, flag in self.flags:
            module.training = flag


def layer_activations_and_gradients(model: nn.Module, target_layer: nn.Module, images: torch.Tensor,
                                    targets: Targets = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Activations A (B, K, h, w), gradients dy/dA (same shape) and the targets (B,) used.

    One forward and one backward pass in eval mode; the model's modes, hooks and
    parameter gradients are left as they were. ``targets``: None (predicted class),
    an int, or one class index per image.
    """
    model = check_model(model)
    target_layer = _check_layer(model, target_layer)
    images = check_images(images)
    if torch.is_inference_mode_enabled():
        raise RuntimeError("Grad-CAM needs gradients; call it outside torch.inference_mode()")
    device = model_device(model)
    images = images.detach().to(device)
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
        with _ModeGuard(model), torch.no_grad():
            logits = model(images)
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
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or len(logits) != len(images):
        raise ValueError(f"the model must return logits of shape (B, classes), got "
                         f"{getattr(logits, 'shape', type(logits))}")
    if not logits.requires_grad:
        raise ValueError("the model's output does not depend on target_layer; choose a layer on the "
                         "path from input to output")
    chosen = resolve_targets(targets, logits)
    with torch.enable_grad():  # also when the caller is inside torch.no_grad()
        score = logits.gather(1, chosen[:, None]).sum()
        (gradients,) = torch.autograd.grad(score, activation)
    return activation.detach(), gradients, chosen


def grad_cam(model: nn.Module, target_layer: nn.Module, images: torch.Tensor,
             targets: Targets = None) -> torch.Tensor:
    """Grad-CAM heatmaps (B, H, W) in [0, 1] for a batch of images (B, C, H, W).

    ``target_layer`` is a module of ``model`` whose output is (B, K, h, w), usually the
    last convolutional block (``model.layer4`` of a ResNet). ``targets``: None explains
    the predicted class of each image; an int explains that class for every image; a
    sequence or tensor gives one class index per image. The maps are ReLU'd, upsampled
    bilinearly (align_corners=False) to (H, W) and min-max normalised per image (a map
    with no positive evidence stays all zero). The model runs in eval mode for the call;
    its modes, hooks and parameter ``.grad`` are left as they were.
    """
    activation, gradients, _ = layer_activations_and_gradients(model, target_layer, images, targets)
    weights = gradients.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * activation).sum(dim=1))
    cam = upsample(cam, tuple(images.shape[-2:]))
    return normalize_maps(cam).to(images.device)


def grad_cam_per_image(model: nn.Module, target_layer: nn.Module, images: torch.Tensor,
                       targets: Targets = None) -> torch.Tensor:
    """Grad-CAM the classic way, one image at a time: the slow reference for ``grad_cam``.

    Per image: a forward hook keeps the activation, a *full* backward hook
    (``register_full_backward_hook``, not the deprecated ``register_backward_hook``) keeps
    the gradient of the layer output, and ``.backward()`` runs through the whole network.
    Same arguments, output and normalisation as ``grad_cam``; hooks are removed, modes
    restored and the parameters' ``.grad`` put back as they were.
    """
    model = check_model(model)
    target_layer = _check_layer(model, target_layer)
    images = check_images(images)
    device = model_device(model)
    store: dict[str, torch.Tensor] = {}
    saved_grads = [(p, p.grad) for p in model.parameters()]
    handles = [
        target_layer.register_forward_hook(lambda m, i, o: store.__setitem__("a", o.detach().clone())),
        target_layer.register_full_backward_hook(lambda m, gi, go: store.__setitem__("g", go[0].detach())),
    ]
    maps = []
    try:
        with _ModeGuard(model), torch.enable_grad():
            for i in range(len(images)):
                x = images[i:i + 1].detach().to(device).requires_grad_(True)  # full hooks need a grad input
                logits = model(x)
                target = resolve_targets(None if targets is None else _one_target(targets, i, len(images)), logits)
                for p in model.parameters():
                    p.grad = None
                logits[0, int(target[0])].backward()
                weights = store["g"].mean(dim=(2, 3), keepdim=True)
                maps.append(torch.relu((weights * store["a"]).sum(dim=1)))
    finally:
        for handle in handles:
            handle.remove()
        for param, grad in saved_grads:
            param.grad = grad
    cam = upsample(torch.cat(maps), tuple(images.shape[-2:]))
    return normalize_maps(cam).to(images.device)


def _one_target(targets: Targets, i: int, batch: int) -> int:
    if isinstance(targets, int) and not isinstance(targets, bool):
        return targets
    values = torch.as_tensor(targets).reshape(-1)
    if values.numel() != batch:
        raise ValueError(f"targets has {values.numel()} entries but there are {batch} images; "
                         "pass one class index per image, a single int, or None for the prediction")
    return int(values[i])
