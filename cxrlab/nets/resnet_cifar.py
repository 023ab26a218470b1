"""Plain and residual deep CNNs for CIFAR-sized images (He et al. 2016), the networks of chapter 6.

He et al. (2016) compared "plain" stacks of 3x3 convolutions with the same stacks plus
identity shortcuts. Their CIFAR-10 networks have ``depth = 6n + 2`` weighted layers: a 3x3
stem, three stages of ``n`` two-convolution blocks (``width``, ``2*width``, ``4*width``
channels at 32, 16 and 8 pixels) and a linear classifier. A residual block computes
``y = relu(F(x) + x)``; the plain block computes ``y = relu(F(x))`` with the same ``F``.
Where a stage halves the resolution and doubles the channels, the shortcut subsamples
``x`` and pads the new channels with zeros (the paper's "option A"), so the shortcut adds
no parameters: both networks have exactly the same parameter count.
Gradient norms per layer at initialisation: :func:`cxrlab.diagnose.gradient_norms`.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._checks import positive_int


class Block(nn.Module):
    """Two 3x3 convolutions, each with batch norm; with ``residual`` the input is added back.

    ``stride`` 2 halves height and width. ``batch_norm=False`` drops the normalisation
    (to see what it does to gradients). Input (N, in_channels, H, W); output
    (N, out_channels, H / stride, W / stride).

    Args:
        in_channels: input channels.
        out_channels: output channels (>= ``in_channels``: the shortcut pads with zeros).
        stride: 1, or 2 to halve height and width.
        residual: add the shortcut (``False`` gives the plain block of the same shape).
        batch_norm: BatchNorm after each convolution.

    Raises:
        ValueError: for a stride other than 1 or 2, or ``out_channels < in_channels``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, *, residual: bool = True,
                 batch_norm: bool = True):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        if out_channels < in_channels:
            raise ValueError(f"out_channels ({out_channels}) must be >= in_channels ({in_channels}) "
                             "for the zero-padding shortcut")
        self.residual, self.stride = residual, stride
        self.extra_channels = out_channels - in_channels
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=not batch_norm)
        self.bn1 = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=not batch_norm)
        self.bn2 = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        """Identity, or subsample + zero channels where the block changes shape (no parameters)."""
        if self.stride != 1:
            x = x[:, :, ::self.stride, ::self.stride]
        if self.extra_channels:
            x = F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """y = relu(F(x) + shortcut(x)), or relu(F(x)) for the plain block."""
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if self.residual:
            out = out + self.shortcut(x)
        return F.relu(out)


def blocks_per_stage(depth: int) -> int:
    """``n`` of He et al.'s CIFAR networks: depth = 6n + 2 (20, 32, 44, 56, 110, ...).

    Raises:
        ValueError: when ``depth`` is not 6n + 2 with n >= 1.

    Returns:
        ``n = (depth - 2) / 6``.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 with n >= 1 (8, 14, 20, 26, 32, 44, 56, ...), got {depth!r}")
    return (depth - 2) // 6


class DeepCNN(nn.Module):
    """He et al.'s CIFAR network of ``depth`` = 6n + 2 layers, plain or residual.

    ``width``: channels of the first stage (16 in the paper; smaller is faster on a CPU).
    ``residual``: add identity shortcuts. ``init``: "kaiming" (He et al. 2015, the
    paper's choice) or "default" (PyTorch's default, which shrinks signals layer by
    layer, Glorot and Bengio 2010). Input (N, in_channels, H, W); output logits (N, num_classes).

    Raises:
        ValueError: for a depth that is not 6n + 2, a non-positive width, or an unknown ``init``.
    """

    def __init__(self, depth: int = 20, width: int = 16, *, residual: bool = True, num_classes: int = 10,
                 in_channels: int = 3, batch_norm: bool = True, init: str = "kaiming"):
        super().__init__()
        n = blocks_per_stage(depth)
        positive_int(width, "width (channels of the first stage)")
        if init not in ("kaiming", "default"):
            raise ValueError(f"init must be 'kaiming' or 'default', got {init!r}")
        self.depth, self.width, self.residual = depth, width, residual
        self.stem = nn.Conv2d(in_channels, width, 3, padding=1, bias=not batch_norm)
        self.stem_bn = nn.BatchNorm2d(width) if batch_norm else nn.Identity()
        blocks, channels = [], width
        for stage in range(3):
            out = width * 2 ** stage
            for i in range(n):
                stride = 2 if (stage > 0 and i == 0) else 1
                blocks.append(Block(channels, out, stride, residual=residual, batch_norm=batch_norm))
                channels = out
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(channels, num_classes)
        if init == "kaiming":
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, H, W) images -> (N, num_classes) logits."""
        if x.ndim != 4 or x.shape[1] != self.stem.in_channels:
            raise ValueError(f"DeepCNN expects (N, {self.stem.in_channels}, H, W) images, got {tuple(x.shape)}")
        x = F.relu(self.stem_bn(self.stem(x)))
        x = self.blocks(x)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))

    def weighted_layers(self) -> list[tuple[str, nn.Module]]:
        """The ``depth`` convolution and linear layers, from input to output, with their names."""
        return [(name, m) for name, m in self.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


__all__ = ["Block", "DeepCNN", "blocks_per_stage"]
