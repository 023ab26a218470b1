"""Speed of batched Grad-CAM on a CPU (or whatever device torch picks up).

``run()`` explains the same batch of images four ways and reports images per second
(median of ``repeats`` timed rounds after one warm-up; in each round the four
variants run in turn, so the load of a shared machine affects them alike):

* ``forward_no_grad``: a plain batched forward pass under ``torch.no_grad()``, the floor;
* ``per_image_loop``: ``cxrlab.explain.grad_cam_per_image``, the hook approach of a typical
  tutorial pipeline, one image at a time, forward hook plus a *full* backward hook
  (``register_full_backward_hook``, not the deprecated ``register_backward_hook``) and
  ``.backward()`` through the whole network;
* ``captum_batched``: Captum's LayerGradCam on the whole batch, with the same ReLU,
  bilinear upsampling and per-image normalisation;
* ``cxrlab_batched``: ``cxrlab.explain.grad_cam`` on the whole batch.

The model is a torchvision ResNet-18 with random weights (speed does not depend on the
weights), target layer ``layer4``.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

import torch


def _timed_interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds per call of each function; the functions take turns in every round,
    so a change in the machine's load (a shared CPU) hits all of them alike."""
    for fn in fns.values():
        fn()  # warm-up: allocator, oneDNN primitives
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def measure(n_images: int = 32, size: int = 224, repeats: int = 3, seed: int = 0) -> dict[str, float]:
    """Images per second of the four Grad-CAM variants on ResNet-18 and their ratios.

    Returns a dict with ``*_images_per_s`` for each variant, the ratios of cxrlab's rate
    to each of the others (``cxrlab_vs_*``: above 1 means cxrlab is faster), the largest
    difference between the cxrlab and Captum maps, and the set-up (images, size, threads).
    """
    if n_images < 1 or size < 32 or repeats < 1:
        raise ValueError("need n_images >= 1, size >= 32 (ResNet downsamples 32x) and repeats >= 1")
    import torchvision
    from captum.attr import LayerAttribution, LayerGradCam

    from cxrlab.explain import grad_cam, grad_cam_per_image, normalize_maps

    torch.manual_seed(seed)
    model = torchvision.models.resnet18(weights=None).eval()
    images = torch.randn(n_images, 3, size, size)
    with torch.no_grad():
        targets = model(images).argmax(1)

    def forward() -> torch.Tensor:
        with torch.no_grad():
            return model(images)

    def captum() -> torch.Tensor:
        attr = LayerGradCam(model, model.layer4).attribute(images, target=targets, relu_attributions=True)
        attr = LayerAttribution.interpolate(attr, (size, size), interpolate_mode="bilinear")
        return normalize_maps(attr.detach().squeeze(1))

    seconds = _timed_interleaved({
        "forward_no_grad": forward,
        "per_image_loop": lambda: grad_cam_per_image(model, model.layer4, images, targets),
        "captum_batched": captum,
        "cxrlab_batched": lambda: grad_cam(model, model.layer4, images, targets),
    }, repeats)
    rates = {name: n_images / value for name, value in seconds.items()}
    ours = grad_cam(model, model.layer4, images, targets)
    result: dict[str, float] = {f"{k}_images_per_s": v for k, v in rates.items()}
    for name in ("forward_no_grad", "per_image_loop", "captum_batched"):
        result[f"cxrlab_vs_{name}"] = rates["cxrlab_batched"] / rates[name]
    result["max_abs_diff_vs_captum"] = float((ours - captum()).abs().max())
    result["max_abs_diff_vs_per_image_loop"] = float(
        (ours - grad_cam_per_image(model, model.layer4, images, targets)).abs().max())
    result.update(n_images=float(n_images), size=float(size), repeats=float(repeats),
                  threads=float(torch.get_num_threads()))
    return result


def pytorch_grad_cam_rate(n_images: int, size: int, repeats: int) -> float | None:
    """Images/s of pytorch-grad-cam's GradCAM (batched) on the same model, or None if absent.

    pytorch-grad-cam is a benchmark-only dependency: pip install -r benchmarks/requirements.txt
    """
    try:
        from pytorch_grad_cam import GradCAM
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    except ImportError:
        return None
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    images = torch.randn(n_images, 3, size, size)
    with torch.no_grad():
        targets = [ClassifierOutputTarget(int(t)) for t in model(images).argmax(1)]

    def explain():
        with GradCAM(model=model, target_layers=[model.layer4[-1]]) as cam:
            return cam(input_tensor=images, targets=targets)

    return n_images / _timed_interleaved({"pytorch_grad_cam": explain}, repeats)["pytorch_grad_cam"]


def run(*, tiny: bool = False, repeats: int = 3):
    """Rows for ``python -m benchmarks``: cxrlab's batched Grad-CAM against each baseline.

    At 224 px (the ImageNet size; full mode) against every baseline, and against the
    per-image loop also at 64 px (chapter 8's quick mode): on a CPU the loop's handicap
    depends on the image size, because one large image already keeps every core busy.
    """
    from .common import Row

    n_images, size = (4, 64) if tiny else (32, 224)
    result = measure(n_images=n_images, size=size, repeats=repeats)
    ours = result["cxrlab_batched_images_per_s"]
    setup = f"ResNet-18, {n_images} images at {size}x{size}, median of {repeats}"
    rows = [
        Row("gradcam", f"Grad-CAM vs a no-grad forward pass (the limit), {size} px", "forward pass, no gradients",
            result["forward_no_grad_images_per_s"], ours, "img/s", True, setup),
        Row("gradcam", f"Grad-CAM vs a typical tutorial pipeline (one image at a time), {size} px",
            "a typical tutorial pipeline: per-image hook loop",
            result["per_image_loop_images_per_s"], ours, "img/s", True,
            f"{setup}; maps differ by {result['max_abs_diff_vs_per_image_loop']:.1e}"),
        Row("gradcam", f"Grad-CAM vs Captum's LayerGradCam, {size} px", "Captum LayerGradCam, batched",
            result["captum_batched_images_per_s"], ours, "img/s", True,
            f"{setup}; maps differ by {result['max_abs_diff_vs_captum']:.1e}"),
    ]
    other = pytorch_grad_cam_rate(n_images, size, repeats)
    if other is not None:
        rows.append(Row("gradcam", f"Grad-CAM vs pytorch-grad-cam's GradCAM, {size} px",
                        "pytorch-grad-cam GradCAM, batched", other, ours, "img/s", True, setup))
    if not tiny:
        small = measure(n_images=n_images, size=64, repeats=repeats)
        rows.append(Row("gradcam", "Grad-CAM vs a typical tutorial pipeline (one image at a time), 64 px",
                        "a typical tutorial pipeline: per-image hook loop",
                        small["per_image_loop_images_per_s"], small["cxrlab_batched_images_per_s"], "img/s", True,
                        f"ResNet-18, {n_images} images at 64x64 (chapter 8, quick mode), median of {repeats}"))
    return rows


if __name__ == "__main__":
    for key, value in measure().items():
        print(f"{key:40s} {value:10.4g}")
