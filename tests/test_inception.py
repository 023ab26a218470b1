"""cxrlab.nets.inception: the Inception module's branch shapes, GoogLeNet's widths, the CIFAR network."""

import pytest
import torch
import torch.nn as nn

from cxrlab.nets import count_parameters
from cxrlab.nets.inception import GOOGLENET_MODULES, Inception, InceptionNet, branch_shapes, googlenet_for, width_fraction
from cxrlab.nets.layers import Resize


def test_inception_branch_shapes_and_channel_sum():
    spec = GOOGLENET_MODULES["3a"]
    block = Inception(192, *spec)
    shapes = branch_shapes(block, torch.randn(2, 192, 8, 8))
    assert shapes["branch1"] == (2, 64, 8, 8) and shapes["branch2"] == (2, 128, 8, 8)
    assert shapes["branch3"] == (2, 32, 8, 8) and shapes["branch4"] == (2, 32, 8, 8)
    assert shapes["output"] == (2, 256, 8, 8) == (2, block.out_channels, 8, 8)
    assert block.training  # restored


def test_inception_matches_torchvision_googlenet_module_widths():
    from torchvision.models import googlenet

    tv = googlenet(num_classes=10, aux_logits=False, init_weights=False)
    for name in GOOGLENET_MODULES:
        ours = Inception(getattr(tv, f"inception{name}").branch1.conv.in_channels, *GOOGLENET_MODULES[name])
        theirs = getattr(tv, f"inception{name}")
        x = torch.randn(1, ours.in_channels, 7, 7)
        assert branch_shapes(ours, x)["output"] == branch_shapes(theirs, x)["output"]


def test_inception_net_shapes_width_and_errors():
    net = InceptionNet(width=0.125, stem_pool=True)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert count_parameters(InceptionNet(width=0.25)) > 3 * count_parameters(net)
    assert Resize(64)(torch.randn(1, 3, 32, 32)).shape == (1, 3, 64, 64)
    with pytest.raises(ValueError, match="width"):
        InceptionNet(width=1.5)
    with pytest.raises(ValueError, match="H, W >= 8"):
        net(torch.randn(1, 3, 4, 4))
    with pytest.raises(TypeError, match="branch1"):
        branch_shapes(nn.Conv2d(3, 3, 1), torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match="integer >= 1"):
        Inception(3, 0, 1, 1, 1, 1, 1)


def test_module_3a_convolution_weights_known_value():
    # 192*64 + 192*96 + 9*96*128 + 192*16 + 25*16*32 + 192*32 (Szegedy et al. 2015, Table 1 widths)
    block = Inception(192, *GOOGLENET_MODULES["3a"])
    weights = sum(m.weight.numel() for m in block.modules() if isinstance(m, nn.Conv2d))
    assert weights == 163_328


@pytest.mark.parametrize("mode, width, pooled", [("full", 1.0, False), ("quick", 0.125, True), ("smoke", 0.0625, True)])
def test_googlenet_for_gives_one_interface_in_every_mode(mode, width, pooled):
    import cxrlab

    rt = cxrlab.setup(mode=mode, quiet=True, data=())
    model = googlenet_for(rt, 10)
    assert isinstance(model, InceptionNet) and model.width == width
    assert isinstance(model.inception3a, Inception) and model.inception3a is model.features.inception3a
    assert isinstance(model.stem[-1], nn.MaxPool2d) == pooled
    x = torch.randn(1, 3, 16, 16)  # full mode too: the GPU path is the same network, so it runs here
    with torch.no_grad():
        features = model.stem.eval()(x)
        assert model.eval()(x).shape == (1, 10)
    side = 16 if mode == "full" else 8  # the CPU modes pool after the stem
    assert features.shape[1:] == (model.inception3a.in_channels, side, side)
    assert branch_shapes(model.inception3a, features)["output"][1] == model.inception3a.out_channels
    assert width_fraction(model.width) == {1.0: "1", 0.125: "1/8", 0.0625: "1/16"}[width]
