"""Layers used inside the course's models: resizing, per-channel standardisation, and two
faster ways to compute LeNet-5's layers (the same functions, the same parameters).

Putting ``Resize`` and ``Normalize`` inside a model means the model carries its own input
contract: a ``Normalize`` layer's statistics are buffers, so they are saved and loaded with
the weights. ``SigmoidTanh`` and ``FullConnectionConv2d`` are drop-in replacements for
``nn.Tanh`` and ``nn.Conv2d`` that compute the same values (to float32 rounding) in less
time on a CPU, found by profiling a LeNet-5 training step (chapter 2).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._checks import positive_int


class Resize(nn.Module):
    """Bilinear resize of a batch to ``size`` x ``size`` inside a model (on its device).

    Lets an ImageNet-shaped network such as torchvision's GoogLeNet see small images at a
    larger size without storing an upsampled copy of the data set.

    Args:
        size: side of the output in pixels.

    Raises:
        ValueError: when ``size`` is not a positive integer.
    """

    def __init__(self, size: int):
        super().__init__()
        self.size = positive_int(size, "size (pixels)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C, size, size); returned unchanged when already that size."""
        if x.shape[-1] == self.size and x.shape[-2] == self.size:
            return x
        return F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)

    def extra_repr(self) -> str:
        return f"size={self.size}"


class Normalize(nn.Module):
    """Standardise each channel: ``(x - mean) / std``, with the statistics stored as buffers.

    Args:
        mean: one value per channel (e.g. ``cxrlab.pretrained.IMAGENET_MEAN``).
        std: one positive value per channel.

    Raises:
        ValueError: when ``mean`` and ``std`` differ in length, are empty, or a ``std`` is not
            positive; from ``forward``, for input whose channel count differs.
    """

    def __init__(self, mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor):
        super().__init__()
        mean = torch.as_tensor(mean, dtype=torch.float32).flatten()
        std = torch.as_tensor(std, dtype=torch.float32).flatten()
        if len(mean) == 0 or mean.shape != std.shape:
            raise ValueError(f"mean and std need one value per channel each, got {len(mean)} and {len(std)}")
        if not bool((std > 0).all()) or not bool(torch.isfinite(mean).all()):
            raise ValueError("std must be positive and mean finite for every channel")
        self.register_buffer("mean", mean.reshape(1, -1, 1, 1).clone())
        self.register_buffer("std", std.reshape(1, -1, 1, 1).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) images -> the same shape, standardised per channel."""
        if x.ndim != 4 or x.shape[1] != self.mean.shape[1]:
            raise ValueError(f"Normalize expects (N, {self.mean.shape[1]}, H, W) images, got {tuple(x.shape)}")
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"channels={self.mean.shape[1]}"


class _SigmoidTanhFunction(torch.autograd.Function):
    """tanh(x) = 2 sigmoid(2x) - 1, with tanh's own derivative 1 - tanh(x)^2 as the backward."""

    generate_vmap_rule = True  # torch.func.vmap / grad / jacrev work through it

    @staticmethod
    def forward(x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x * 2).mul_(2).sub_(1)

    @staticmethod
    def setup_context(ctx, inputs: tuple, output: torch.Tensor) -> None:
        ctx.save_for_backward(output)
        ctx.save_for_forward(output)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        # torch.tanh's own backward kernel: grad * (1 - y^2) in one pass
        return torch.ops.aten.tanh_backward(grad, y)

    @staticmethod
    def jvp(ctx, tangent: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return tangent * (1 - y * y)


class SigmoidTanh(nn.Module):
    """The hyperbolic tangent, computed on a CPU as ``2 * sigmoid(2x) - 1``.

    The identity tanh(x) = 2 sigma(2x) - 1 is exact. In float32 the result differs from
    ``torch.tanh`` by at most about 2e-7 (absolute), the rounding of values in [-1, 1]; the
    relative accuracy is lower near 0 (|x| < 1e-3, where tanh(x) is about x: values below
    about 1e-7 come out as 0, and -0.0 as +0.0), which a network layer does not notice.
    Measured for chapter 2 on the x86 CPUs of this course, PyTorch's CPU ``tanh`` kernel is
    several times slower than its ``sigmoid`` kernel, which makes tanh the most expensive
    elementwise layer of a LeNet-5 training step. The backward pass is tanh's own, ``1 -
    y**2`` times the incoming gradient, from the saved output; double backward, forward-mode
    AD (``torch.func.jvp``), ``torch.func.vmap`` / ``grad``, ``torch.compile``,
    ``torch.export`` and ``torch.jit.trace`` work. TorchScript (``torch.jit.script``) cannot
    compile a custom autograd function: trace or export instead. On any other device (a
    GPU), and for integer tensors, the module calls ``torch.tanh``. Any shape and floating
    dtype; the output has the input's shape, dtype and memory format.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Any tensor -> tanh of it, elementwise, in [-1, 1]."""
        if x.device.type != "cpu" or not x.is_floating_point():
            return torch.tanh(x)
        return _SigmoidTanhFunction.apply(x)


class FullConnectionConv2d(nn.Conv2d):
    """A convolution whose kernel covers its whole input, computed as one matrix product.

    LeNet-5's C5 is a 5x5 convolution applied to S4's 5x5 maps, so each output is a single
    pixel: "this amounts to a full connection between S4 and C5" (LeCun et al. 1998,
    Section II.B). For (N, in_channels, kH, kW) input, the kernel's own size, with stride 1,
    no padding, dilation 1 and one group, ``forward`` computes
    ``linear(x.flatten(1), weight.flatten(1), bias)``: the same sum as the convolution,
    without the convolution kernel's overhead (several times faster on a CPU for LeNet-5's
    batch sizes; chapter 2 measures it). Every other case (another input size or channel
    count, unbatched input, other stride, padding, dilation or groups, also when changed
    after construction) is ``nn.Conv2d.forward``, with its own checks and error messages.
    The constructor, the parameters, their names and shapes are ``nn.Conv2d``'s, so state
    dicts load either way.

    The constructor's arguments are ``nn.Conv2d``'s: in_channels, out_channels,
    kernel_size, stride, padding, dilation, groups, bias, padding_mode, device and dtype.

    Raises:
        As ``nn.Conv2d``: e.g. ValueError for groups that do not divide the channels, or a
        padding mode it does not know; RuntimeError for negative sizes, or from ``forward``
        for input whose channel count differs from ``in_channels``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, kH, kW) -> (N, out_channels, 1, 1); anything else as ``nn.Conv2d``."""
        if not self._is_full_connection(x):
            return super().forward(x)
        out = F.linear(x.flatten(1), self.weight.flatten(1), self.bias)
        return out[:, :, None, None]

    def _is_full_connection(self, x: torch.Tensor) -> bool:
        padding = self.padding if isinstance(self.padding, str) else tuple(self.padding)
        return (x.ndim == 4 and x.shape[1] == self.in_channels
                and tuple(x.shape[-2:]) == tuple(self.kernel_size)
                and tuple(self.stride) == (1, 1) and tuple(self.dilation) == (1, 1)
                and self.groups == 1 and padding in ((0, 0), "valid"))


__all__ = ["FullConnectionConv2d", "Normalize", "Resize", "SigmoidTanh"]
