"""SmallCNN: four convolution blocks and a linear head, small enough to train in seconds on a CPU.

Chapters 7 and 8 use it where many models must be trained side by side (three losses, two
splits, a shortcut and its fix) and the shared ResNet-18 would not fit the time budget.
"""

from __future__ import annotations

import torch
import torch.nn as nn


def _block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class SmallCNN(nn.Module):
    """conv-BN-ReLU blocks of ``widths`` channels, 2x2 max pooling between them, global
    average pooling and one linear layer.

    Args:
        outputs: number of output logits (classes, or findings for a multi-label task).
        in_channels: input channels (1 for radiographs).
        widths: channels of the four blocks.

    Input (N, in_channels, H, W), H and W at least 8; output (N, outputs) logits.
    ``target_layer`` is the last block's ReLU: the finest map that has seen the whole network
    but the head, the layer Grad-CAM explains.
    """

    def __init__(self, outputs: int, in_channels: int = 1, widths: tuple[int, int, int, int] = (16, 32, 64, 64)):
        super().__init__()
        if isinstance(outputs, bool) or not isinstance(outputs, int) or outputs < 1:
            raise ValueError(f"outputs must be a positive integer, got {outputs!r}")
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"in_channels must be a positive integer, got {in_channels!r}")
        if len(widths) != 4 or any(int(w) < 1 for w in widths):
            raise ValueError(f"widths must be four positive channel counts, got {widths!r}")
        w1, w2, w3, w4 = (int(w) for w in widths)
        self.features = nn.Sequential(*_block(in_channels, w1), nn.MaxPool2d(2), *_block(w1, w2), nn.MaxPool2d(2),
                                      *_block(w2, w3), nn.MaxPool2d(2), *_block(w3, w4))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(w4, outputs)

    @property
    def target_layer(self) -> nn.Module:
        """The last block's ReLU (Grad-CAM's layer)."""
        return self.features[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[-1] < 8 or x.shape[-2] < 8:
            raise ValueError(f"SmallCNN expects (N, C, H, W) images of at least 8x8, got {tuple(x.shape)}")
        return self.head(self.pool(self.features(x)).flatten(1))


__all__ = ["SmallCNN"]
