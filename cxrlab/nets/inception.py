"""The Inception module of GoogLeNet (Szegedy et al. 2015), and a CIFAR-sized Inception network.

An Inception module looks at its input through four parallel branches and stacks their
outputs along the channel axis:

1. a 1x1 convolution;
2. a 1x1 "reduction" convolution, then a 3x3 convolution;
3. a 1x1 reduction, then a 5x5 convolution;
4. a 3x3 max pool (stride 1), then a 1x1 "pool projection".

The 1x1 reductions (Lin et al. 2014, "network in network") cut the channels before the
expensive 3x3 and 5x5 convolutions. Every convolution here is followed by batch
normalisation (Ioffe and Szegedy 2015) and ReLU, as in torchvision's GoogLeNet. The branch
attributes are named ``branch1`` .. ``branch4`` like torchvision's, so ``branch_shapes``
works on both.

``InceptionNet`` is the CIFAR adaptation: a 3x3 stem at stride 1 instead of GoogLeNet's
7x7 stride-2 stem and two max pools (which would shrink a 32x32 image to 8x8 before the
first Inception module), then the paper's nine Inception modules (3a, 3b | 4a-4e | 5a, 5b),
with every channel count scaled by ``width``. ``googlenet_for(rt, num_classes)`` is the one
factory a chapter calls: the same network and interface in every run mode, only its width
and resolution change with the mode.
"""

from __future__ import annotations

from collections import OrderedDict
from fractions import Fraction

import torch
import torch.nn as nn

from .._checks import positive_int
from .._torch import eval_mode

#: The paper's Inception modules (Szegedy et al. 2015, Table 1): name -> (#1x1, #3x3 reduce,
#: #3x3, #5x5 reduce, #5x5, pool proj). The output has #1x1 + #3x3 + #5x5 + pool proj channels.
GOOGLENET_MODULES: "OrderedDict[str, tuple[int, int, int, int, int, int]]" = OrderedDict([
    ("3a", (64, 96, 128, 16, 32, 32)), ("3b", (128, 128, 192, 32, 96, 64)),
    ("4a", (192, 96, 208, 16, 48, 64)), ("4b", (160, 112, 224, 24, 64, 64)),
    ("4c", (128, 128, 256, 24, 64, 64)), ("4d", (112, 144, 288, 32, 64, 64)),
    ("4e", (256, 160, 320, 32, 128, 128)), ("5a", (256, 160, 320, 32, 128, 128)),
    ("5b", (384, 192, 384, 48, 128, 128)),
])


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    """Convolution (same padding, no bias) -> batch norm -> ReLU.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: odd side of the square kernel (padding keeps H and W).

    Returns:
        An ``nn.Sequential`` of the three layers.
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
    )


class Inception(nn.Module):
    """One Inception module: four parallel branches concatenated along channels.

    Arguments are channel counts: ``ch1x1`` (branch 1), ``ch3x3red`` -> ``ch3x3`` (branch 2),
    ``ch5x5red`` -> ``ch5x5`` (branch 3, a true 5x5 as in the paper), ``pool_proj``
    (branch 4). Input (N, in_channels, H, W); output (N, out_channels, H, W) with
    ``out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj``.

    Raises:
        ValueError: for a channel count that is not a positive integer; from ``forward``,
            for input without ``in_channels`` channels.
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int,
                 ch5x5red: int, ch5x5: int, pool_proj: int):
        super().__init__()
        sizes = dict(in_channels=in_channels, ch1x1=ch1x1, ch3x3red=ch3x3red, ch3x3=ch3x3,
                     ch5x5red=ch5x5red, ch5x5=ch5x5, pool_proj=pool_proj)
        for name, value in sizes.items():
            positive_int(value, f"channel count {name}")
        self.in_channels = in_channels
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj
        self.branch1 = conv_bn_relu(in_channels, ch1x1, 1)
        self.branch2 = nn.Sequential(conv_bn_relu(in_channels, ch3x3red, 1), conv_bn_relu(ch3x3red, ch3x3, 3))
        self.branch3 = nn.Sequential(conv_bn_relu(in_channels, ch5x5red, 1), conv_bn_relu(ch5x5red, ch5x5, 5))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), conv_bn_relu(in_channels, pool_proj, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"Inception expects (N, {self.in_channels}, H, W) input, got {tuple(x.shape)}")
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


@torch.no_grad()
def branch_shapes(module: nn.Module, x: torch.Tensor) -> dict[str, tuple[int, ...]]:
    """Shapes of the input, each branch's output and the concatenated output of an Inception module.

    Works for :class:`Inception` and torchvision's GoogLeNet Inception blocks (both name
    their branches ``branch1`` .. ``branch4``). The module runs in eval mode; every
    submodule's own train/eval flag is restored afterwards.

    Args:
        module: an Inception module.
        x: a (N, C, H, W) batch.

    Returns:
        ``{"input": shape, "branch1": shape, ..., "branch4": shape, "output": shape}``.

    Raises:
        TypeError: when ``module`` has no ``branch1`` .. ``branch4``.
    """
    names = ("branch1", "branch2", "branch3", "branch4")
    if not all(hasattr(module, n) for n in names):
        raise TypeError(f"{type(module).__name__} has no branch1..branch4: pass an Inception module")
    with eval_mode(module):
        shapes = {"input": tuple(x.shape)}
        for n in names:
            shapes[n] = tuple(getattr(module, n)(x).shape)
        shapes["output"] = tuple(module(x).shape)
    return shapes


def _scaled(channels: int, width: float) -> int:
    return max(4, int(round(channels * width)))


class InceptionNet(nn.Module):
    """GoogLeNet's nine Inception modules on a CIFAR-sized (32x32) input.

    Stem: 3x3 convolution at stride 1 (``192 * width`` channels). Then modules 3a, 3b at
    full resolution, max pool /2, 4a-4e, max pool /2, 5a, 5b, global average pool, dropout
    and a linear classifier. ``width`` (0 < width <= 1) scales every channel count of the
    paper (width 1 is GoogLeNet's widths); ``stem_pool`` adds a max pool after the stem so
    the modules run at half resolution (four times cheaper, for CPUs). Input (N, C, H, W)
    with H, W >= 8; output (N, num_classes) logits.

    Named parts: ``stem`` (everything before the first Inception module), ``inception3a``
    .. ``inception5b`` (under ``features``), ``classifier``; ``width`` is kept as given.

    Raises:
        ValueError: for ``width`` outside (0, 1] or ``dropout`` outside [0, 1); from
            ``forward``, for images smaller than 8x8.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, *, width: float = 1.0,
                 stem_pool: bool = False, dropout: float = 0.2):
        super().__init__()
        if not 0.0 < width <= 1.0:
            raise ValueError(f"width scales the paper's channel counts and must be in (0, 1], got {width}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout is a probability in [0, 1), got {dropout}")
        self.width = width
        stem = _scaled(192, width)
        layers: list[tuple[str, nn.Module]] = [("stem", conv_bn_relu(in_channels, stem, 3))]
        if stem_pool:
            layers.append(("stem_pool", nn.MaxPool2d(2)))
        channels = stem
        for name, spec in GOOGLENET_MODULES.items():
            if name in ("4a", "5a"):
                layers.append((f"pool{name[0]}", nn.MaxPool2d(2)))
            block = Inception(channels, *(_scaled(c, width) for c in spec))
            layers.append((f"inception{name}", block))
            channels = block.out_channels
        self.features = nn.Sequential(OrderedDict(layers))
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
                                        nn.Linear(channels, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    @property
    def stem(self) -> nn.Sequential:
        """The layers before the first Inception module (they share this network's weights)."""
        layers = []
        for name, layer in self.features.named_children():
            if name.startswith("inception"):
                break
            layers.append(layer)
        return nn.Sequential(*layers)

    @property
    def inception3a(self) -> Inception:
        """The first Inception module (3a)."""
        return self.features.inception3a

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) images -> (N, num_classes) logits."""
        if x.ndim != 4 or min(x.shape[-2:]) < 8:
            raise ValueError(f"InceptionNet expects (N, C, H, W) images with H, W >= 8, got {tuple(x.shape)}")
        return self.classifier(self.features(x))


def googlenet_for(rt, num_classes: int, in_channels: int = 3) -> InceptionNet:
    """The chapter's GoogLeNet for the run mode: the same network in every mode, sized to it.

    full (a GPU): the paper's widths (``width`` 1) with the modules at full resolution;
    quick (a CPU): widths / 8 and a max pool after the stem; smoke: widths / 16, pooled.

    Args:
        rt: the :class:`cxrlab.runtime.Runtime` from ``cxrlab.setup()``.
        num_classes: number of outputs.
        in_channels: input channels.

    Returns:
        An :class:`InceptionNet` (``.stem``, ``.inception3a``, ``.width`` in every mode).

    Raises:
        ValueError: for a non-positive ``num_classes`` or ``in_channels``.
    """
    positive_int(num_classes, "num_classes")
    positive_int(in_channels, "in_channels")
    width = rt.pick(full=1.0, quick=0.125, smoke=0.0625)
    return InceptionNet(num_classes=num_classes, in_channels=in_channels, width=width,
                        stem_pool=rt.pick(full=False, quick=True, smoke=True))


def width_fraction(width: float) -> str:
    """A width such as 0.125 written as the fraction people read: ``"1/8"`` (``"1"`` for 1.0).

    Returns:
        The fraction as text.

    Raises:
        ValueError: for a width outside (0, 1].
    """
    if not 0.0 < width <= 1.0:
        raise ValueError(f"width must be in (0, 1], got {width!r}")
    return str(Fraction(width).limit_denominator(64))


__all__ = ["GOOGLENET_MODULES", "Inception", "InceptionNet", "branch_shapes", "conv_bn_relu",
           "googlenet_for", "width_fraction"]
