"""LeNet-5 (LeCun, Bottou, Bengio and Haffner 1998), the network of chapter 2."""

from __future__ import annotations

import torch
import torch.nn as nn

from .._checks import positive_int
from .layers import FullConnectionConv2d, SigmoidTanh


class LeNet5(nn.Module):
    """LeNet-5 as in LeCun et al. (1998): 32x32 grey input, tanh, average pooling.

    Layers C1 (6 maps 5x5) -> S2 (avg pool) -> C3 (16 maps 5x5) -> S4 (avg pool) -> C5
    (120) -> F6 (84) -> 10 outputs (logits). The paper's partial C3 connection table and
    RBF output layer are replaced by full connections and a linear layer, as is usual today.
    Two layers are computed in a faster way that gives the same values (chapter 2 profiles
    a training step to find them): tanh as ``SigmoidTanh`` and C5, a 5x5 convolution of
    5x5 maps, as the full connection it amounts to (``FullConnectionConv2d``). Their
    parameters are ``nn.Conv2d``'s, so the state dict is the same as with plain layers.

    Args:
        num_classes: number of outputs (10 digits).
        in_channels: input channels (1 for grey digits).

    Raises:
        ValueError: for a non-positive ``num_classes`` or ``in_channels``; from ``forward``,
            for an input that is not (N, C, 32, 32).
        RuntimeError: from ``forward`` (torch's convolution), for an input whose channel
            count is not ``in_channels`` or whose dtype is not the parameters'.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        positive_int(num_classes, "num_classes")
        positive_int(in_channels, "in_channels")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5), SigmoidTanh(), nn.AvgPool2d(2),  # C1, S2
            nn.Conv2d(6, 16, kernel_size=5), SigmoidTanh(), nn.AvgPool2d(2),           # C3, S4
            FullConnectionConv2d(16, 120, kernel_size=5), SigmoidTanh(),               # C5
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(120, 84), SigmoidTanh(), nn.Linear(84, num_classes),  # F6, out
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, 32, 32) images -> (N, num_classes) logits."""
        if x.ndim != 4 or x.shape[-2:] != (32, 32):
            raise ValueError(f"LeNet5 expects (N, C, 32, 32) input, got {tuple(x.shape)}; "
                             "pad 28x28 digits by 2 pixels (load_mnist(pad=2))")
        return self.classifier(self.features(x))


__all__ = ["LeNet5"]
