"""cxrlab.nets: one file per architecture, found by name from the package; the layers inside models."""

import pytest
import torch
import torch.nn as nn

from cxrlab import nets
from cxrlab.nets import Normalize, Resize, count_parameters


def test_every_file_exports_through_the_package():
    for file in ("lenet", "alexnet", "vgg", "inception", "resnet_cifar", "dropout_nets", "layers"):
        module = getattr(nets, file)
        for name in module.__all__:
            assert getattr(nets, name) is getattr(module, name)
    with pytest.raises(AttributeError, match="no 'Nope'"):
        nets.Nope  # noqa: B018


def test_no_file_is_named_like_a_name_it_exports():
    # ``import cxrlab.nets.x`` binds ``cxrlab.nets.x`` to the module, hiding a function x
    # of that file from ``from cxrlab.nets import x``: name files after the idea, not the function.
    for file in nets._files():
        module = getattr(nets, file)
        assert file not in getattr(module, "__all__", ()), (
            f"cxrlab/nets/{file}.py exports a name {file!r}: rename the file (e.g. {file}s.py)")
    with pytest.raises(AttributeError, match="no 'Nope'"):
        nets.Nope  # noqa: B018


def test_lenet5_shapes_and_parameter_count():
    model = nets.LeNet5()
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 10)
    # C1 156 + C3 2,416 + C5 48,120 + F6 10,164 + out 850 = 61,706 (LeCun et al. 1998, full C3)
    assert count_parameters(model) == 61_706
    with pytest.raises(ValueError, match="32, 32"):
        model(torch.zeros(2, 1, 28, 28))


def test_small_alexnet_matches_alexnet_first_layer():
    import torchvision

    small = nets.SmallAlexNet(num_classes=4)
    reference = torchvision.models.alexnet(weights=None).features[0]
    conv1 = small.features[0]
    assert (conv1.kernel_size, conv1.stride, conv1.padding, conv1.out_channels) == \
           (reference.kernel_size, reference.stride, reference.padding, reference.out_channels)
    assert abs(conv1.weight.std().item() - 0.01) < 0.001  # N(0, 0.01) as in Krizhevsky et al.
    assert small(torch.zeros(2, 3, 64, 64)).shape == (2, 4)
    with pytest.raises(ValueError, match="63"):
        small(torch.zeros(1, 3, 32, 32))


def test_normalize_and_resize_layers():
    layer = Normalize([0.5, 0.25], [0.5, 2.0])
    x = torch.ones(2, 2, 4, 4)
    torch.testing.assert_close(layer(x)[:, 0], torch.ones(2, 4, 4))
    torch.testing.assert_close(layer(x)[:, 1], torch.full((2, 4, 4), 0.375))
    assert set(dict(layer.named_buffers())) == {"mean", "std"}  # saved with the weights
    with pytest.raises(ValueError, match="one value per channel"):
        Normalize([0.5], [0.5, 0.5])
    with pytest.raises(ValueError, match="positive"):
        Normalize([0.5], [0.0])
    with pytest.raises(ValueError, match="N, 2, H, W"):
        layer(torch.ones(1, 3, 4, 4))
    assert Resize(8)(torch.zeros(1, 3, 4, 4)).shape == (1, 3, 8, 8)
    with pytest.raises(ValueError, match="size"):
        Resize(0)


def test_count_parameters_checks_its_input():
    assert count_parameters(nn.Linear(3, 2)) == 8
    with pytest.raises(TypeError, match="nn.Module"):
        count_parameters("resnet18")


def test_a_name_imports_only_its_own_file():
    import subprocess
    import sys

    code = ("import sys; from cxrlab.nets import LeNet5; "
            "print(sorted(m for m in sys.modules if m.startswith('cxrlab.nets')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['cxrlab.nets', 'cxrlab.nets.lenet']"
