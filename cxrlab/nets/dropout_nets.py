"""Small networks with dropout for MC dropout and deep ensembles (chapter 9)."""

from __future__ import annotations

import torch.nn as nn

from .._checks import positive_int


def _dropout_probability(p: float) -> float:
    if not 0 <= p < 1:
        raise ValueError(f"dropout probability p must be in [0, 1), got {p}")
    return float(p)


def dropout_cnn(num_classes: int = 3, in_channels: int = 1, *, width: int = 16, p: float = 0.3) -> nn.Module:
    """A small convolutional network with dropout, for MC dropout and ensembles on a CPU.

    Three conv-BN-ReLU-maxpool blocks (``width``, 2x, 4x channels), global average pooling,
    dropout with probability ``p`` and a linear layer.

    Args:
        num_classes: number of outputs (at least 2).
        in_channels: input channels.
        width: channels of the first block.
        p: dropout probability in [0, 1).

    Returns:
        An ``nn.Sequential`` taking (N, in_channels, H, W) with H, W >= 8 and giving
        (N, num_classes) logits.

    Raises:
        ValueError: for ``p`` outside [0, 1), fewer than 2 classes, or a non-positive size.
    """
    _dropout_probability(p)
    positive_int(num_classes, "num_classes", minimum=2)
    positive_int(in_channels, "in_channels")
    positive_int(width, "width")

    def block(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                nn.MaxPool2d(2)]

    return nn.Sequential(*block(in_channels, width), *block(width, 2 * width), *block(2 * width, 4 * width),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(p), nn.Linear(4 * width, num_classes))


def mlp_head(in_features: int, num_classes: int, *, hidden: int = 64, p: float = 0.3) -> nn.Module:
    """A small classifier on frozen features: Linear -> ReLU -> Dropout(p) -> Linear.

    Cheap enough on a CPU to train an ensemble of several in seconds; the dropout layer
    makes it usable for MC dropout.

    Args:
        in_features: length of each feature vector.
        num_classes: number of outputs (at least 2).
        hidden: width of the hidden layer.
        p: dropout probability in [0, 1).

    Returns:
        An ``nn.Sequential`` taking (N, in_features) and giving (N, num_classes) logits.

    Raises:
        ValueError: for ``p`` outside [0, 1), fewer than 2 classes, or a non-positive size.
    """
    _dropout_probability(p)
    positive_int(in_features, "in_features")
    positive_int(num_classes, "num_classes", minimum=2)
    positive_int(hidden, "hidden")
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Dropout(p), nn.Linear(hidden, num_classes))


__all__ = ["dropout_cnn", "mlp_head"]
