"""A CPU-sized AlexNet (Krizhevsky, Sutskever and Hinton 2012) for chapter 3."""

from __future__ import annotations

import torch
import torch.nn as nn

from .._checks import positive_int


class SmallAlexNet(nn.Module):
    """AlexNet's first layer exactly, then a reduced body, for training on a CPU.

    ``features``: conv1 = 64 filters 11x11, stride 4, padding 2 (as in torchvision's
    AlexNet, so its filters can be compared with ImageNet's), ReLU, 3x3/2 max pool; then
    ``width`` 5x5 filters, ReLU, 3x3/2 max pool; ``width`` 3x3 filters, ReLU. ``classifier``:
    global average pool, dropout, linear. Weights start as N(0, 0.01) and biases at 0, the
    initialisation of Krizhevsky et al. (2012).

    Args:
        num_classes: number of outputs.
        in_channels: input channels (3 for RGB).
        width: channels of the second and third convolutions.

    Raises:
        ValueError: for a non-positive argument; from ``forward``, for input smaller than 63x63.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 64):
        super().__init__()
        for value, what in ((num_classes, "num_classes"), (in_channels, "in_channels"), (width, "width")):
            positive_int(value, what)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(64, width, kernel_size=5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(width, width, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        )
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3),
                                        nn.Linear(width, num_classes))
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(module.weight, 0.0, 0.01)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) images with H, W >= 63 -> (N, num_classes) logits."""
        if x.ndim != 4 or min(x.shape[-2:]) < 63:
            raise ValueError(f"SmallAlexNet expects (N, C, H, W) with H, W >= 63, got {tuple(x.shape)}; "
                             "resize the images (e.g. load_cifar10(size=64))")
        return self.classifier(self.features(x))


__all__ = ["SmallAlexNet"]
