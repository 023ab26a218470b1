"""Network architectures the chapters train: LeNet-5 here; torchvision builders join later."""

from __future__ import annotations

import torch
import torch.nn as nn


class LeNet5(nn.Module):
    """LeNet-5 as in LeCun et al. (1998): 32x32 grey input, tanh, average pooling.

    Layers C1 (6 maps 5x5) -> S2 (avg pool) -> C3 (16 maps 5x5) -> S4 (avg pool) -> C5
    (120) -> F6 (84) -> 10 outputs (logits). The paper's partial C3 connection table and
    RBF output layer are replaced by full connections and a linear layer, as is usual today.
    Input (N, 1, 32, 32); output (N, num_classes) logits.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5), nn.Tanh(), nn.AvgPool2d(2),   # C1, S2
            nn.Conv2d(6, 16, kernel_size=5), nn.Tanh(), nn.AvgPool2d(2),            # C3, S4
            nn.Conv2d(16, 120, kernel_size=5), nn.Tanh(),                           # C5
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, num_classes),  # F6, out
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[-2:] != (32, 32):
            raise ValueError(f"LeNet5 expects (N, C, 32, 32) input, got {tuple(x.shape)}; "
                             "pad 28x28 digits by 2 pixels (load_mnist(pad=2))")
        return self.classifier(self.features(x))


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters of ``model`` (only trainable ones if asked)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
