"""A CPU-sized VGG16 (Simonyan and Zisserman 2015) for chapter 4."""

from __future__ import annotations

import torch
import torch.nn as nn

from .._checks import positive_int

#: VGG16's convolution layout (configuration D of Simonyan & Zisserman 2015); "M" is 2x2 max pooling.
VGG16_LAYOUT: tuple = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                       512, 512, 512, "M")


class SmallVGG(nn.Module):
    """VGG16's 13 convolutions in 5 blocks, with every width divided by ``width_divisor``.

    ``features``: the VGG16 layout (3x3 convolutions, padding 1; 2x2 max pooling after each
    block), each convolution followed by BatchNorm (as torchvision's ``vgg16_bn``) when
    ``batch_norm`` and ReLU. ``classifier``: global average pool, linear to ``hidden``,
    ReLU, dropout, linear to ``num_classes``. Stages for ``cxrlab.transfer.freeze``:
    block1..block5, classifier_body, head.

    Args:
        num_classes: number of outputs.
        in_channels: input channels.
        width_divisor: divides every VGG16 width (1, 2, 4, 8, ...; must divide 64).
        batch_norm: BatchNorm after each convolution.
        hidden: width of the classifier's hidden layer.
        dropout: dropout probability in the classifier.

    Raises:
        ValueError: for a non-positive size, a divisor that does not divide 64; from
            ``forward``, for input smaller than 32x32 (a multiple of 32 keeps every pooling exact).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width_divisor: int = 8,
                 batch_norm: bool = True, hidden: int = 128, dropout: float = 0.3):
        super().__init__()
        for value, what in ((num_classes, "num_classes"), (in_channels, "in_channels"),
                            (width_divisor, "width_divisor"), (hidden, "hidden")):
            positive_int(value, what)
        if 64 % width_divisor:
            raise ValueError(f"width_divisor must divide 64 (1, 2, 4, 8, ...), got {width_divisor}")
        layers: list[nn.Module] = []
        channels = in_channels
        for item in VGG16_LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
                continue
            width = item // width_divisor
            layers.append(nn.Conv2d(channels, width, kernel_size=3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.ReLU(inplace=True))
            channels = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, hidden),
                                        nn.ReLU(inplace=True), nn.Dropout(dropout),
                                        nn.Linear(hidden, num_classes))
        self.out_channels = channels
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) images with H, W >= 32 -> (N, num_classes) logits."""
        if x.ndim != 4 or min(x.shape[-2:]) < 32:
            raise ValueError(f"SmallVGG expects (N, C, H, W) with H, W >= 32, got {tuple(x.shape)}")
        return self.classifier(self.features(x))


__all__ = ["SmallVGG", "VGG16_LAYOUT"]
