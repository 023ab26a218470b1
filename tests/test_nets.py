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


def test_a_name_imports_only_its_own_file_and_the_files_it_uses():
    import subprocess
    import sys

    code = ("import sys; from cxrlab.nets import LeNet5; "
            "print(sorted(m for m in sys.modules if m.startswith('cxrlab.nets')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    # lenet.py builds LeNet-5 from layers.py's SigmoidTanh and FullConnectionConv2d; no other
    # architecture file is imported
    assert out.strip() == "['cxrlab.nets', 'cxrlab.nets.layers', 'cxrlab.nets.lenet']"


def _plain_lenet5(weights_from: nn.Module) -> nn.Module:
    """LeNet5 with torch's own nn.Tanh and nn.Conv2d C5, loaded with the given model's weights."""
    plain = nets.LeNet5()
    for block in (plain.features, plain.classifier):
        for i, layer in enumerate(block):
            if isinstance(layer, nets.SigmoidTanh):
                block[i] = nn.Tanh()
    plain.features[6] = nn.Conv2d(16, 120, kernel_size=5)
    plain.load_state_dict(weights_from.state_dict())  # the same names and shapes
    return plain


def test_sigmoid_tanh_equals_torch_tanh_with_its_gradients():
    x = torch.linspace(-20, 20, 4001, dtype=torch.float64)
    # absolute agreement: near 0 the identity loses relative accuracy (documented)
    torch.testing.assert_close(nets.SigmoidTanh()(x), torch.tanh(x), rtol=0, atol=1e-15)
    assert torch.autograd.gradcheck(nets.SigmoidTanh(), (x[::400].clone().requires_grad_(),))
    assert torch.autograd.gradgradcheck(nets.SigmoidTanh(), (x[::400].clone().requires_grad_(),))
    # torch.func transforms: per-example gradients (vmap of grad) and forward mode (jvp)
    small = torch.randn(3, 4)
    per_example = torch.func.vmap(torch.func.grad(lambda v: nets.SigmoidTanh()(v).sum()))(small)
    torch.testing.assert_close(per_example, 1 - torch.tanh(small) ** 2, rtol=0, atol=3e-7)
    _, tangent = torch.func.jvp(nets.SigmoidTanh(), (small,), (torch.ones_like(small),))
    torch.testing.assert_close(tangent, 1 - torch.tanh(small) ** 2, rtol=0, atol=3e-7)
    x32 = (torch.randn(3, 6, 28, 28) * 3).contiguous(memory_format=torch.channels_last).requires_grad_()
    y = nets.SigmoidTanh()(x32)
    assert y.is_contiguous(memory_format=torch.channels_last) and y.dtype == torch.float32
    assert (y - torch.tanh(x32)).abs().max() <= 3e-7          # float32 rounding of values in [-1, 1]
    assert y.abs().max() <= 1
    (grad,) = torch.autograd.grad(y.sum(), x32, create_graph=True)
    (reference,) = torch.autograd.grad(torch.tanh(x32).sum(), x32, create_graph=True)
    torch.testing.assert_close(grad, reference, rtol=0, atol=1e-6)
    # second derivative (double backward): -2 tanh(x) (1 - tanh(x)^2)
    (second,) = torch.autograd.grad(grad.sum(), x32)
    torch.testing.assert_close(second, -2 * torch.tanh(x32) * (1 - torch.tanh(x32) ** 2), rtol=0, atol=1e-6)
    # integer tensors are not floating point: torch.tanh's own behaviour (a float result)
    torch.testing.assert_close(nets.SigmoidTanh()(torch.arange(-3, 4)), torch.tanh(torch.arange(-3, 4)))


def test_full_connection_conv_is_the_convolution_it_replaces():
    torch.manual_seed(0)
    layer = nets.FullConnectionConv2d(16, 120, kernel_size=5)
    conv = nn.Conv2d(16, 120, kernel_size=5)
    conv.load_state_dict(layer.state_dict())
    x = torch.randn(4, 16, 5, 5).contiguous(memory_format=torch.channels_last)
    out = layer(x)
    assert out.shape == (4, 120, 1, 1)
    torch.testing.assert_close(out, conv(x), rtol=1e-5, atol=1e-5)
    # nn.Conv2d's own constructor: stride is the 4th argument, and a stride, padding or
    # channel count that is not a full connection runs (and checks) as nn.Conv2d
    strided = nets.FullConnectionConv2d(16, 120, 5, 2)
    assert strided.stride == (2, 2)
    padded = nets.FullConnectionConv2d(16, 120, 5, padding=1)
    assert padded(x).shape == (4, 120, 3, 3)
    padded.padding = (0, 0)                      # changed after construction: the fast path again
    assert padded(x).shape == (4, 120, 1, 1)
    with pytest.raises(RuntimeError, match="to have 16 channels"):
        layer(torch.randn(4, 15, 5, 5))
    # any other input size is an ordinary convolution
    bigger = torch.randn(2, 16, 7, 7)
    torch.testing.assert_close(layer(bigger), conv(bigger))
    assert layer(bigger).shape == (2, 120, 3, 3)
    # gradients of the weights equal the convolution's
    layer(x).square().sum().backward()
    conv(x).square().sum().backward()
    torch.testing.assert_close(layer.weight.grad, conv.weight.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(layer.bias.grad, conv.bias.grad, rtol=1e-4, atol=1e-4)


def test_lenet5_computes_what_plain_torch_layers_compute():
    torch.manual_seed(1)
    model = nets.LeNet5()
    plain = _plain_lenet5(model)
    x = torch.randn(8, 1, 32, 32)
    torch.testing.assert_close(model(x), plain(x), rtol=0, atol=1e-6)
    model(x).logsumexp(1).sum().backward()
    plain(x).logsumexp(1).sum().backward()
    for (name, p), q in zip(model.named_parameters(), plain.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-6, msg=name)
    # a channels-last copy gives the same logits
    last = nets.LeNet5()
    last.load_state_dict(model.state_dict())
    last = last.to(memory_format=torch.channels_last)
    torch.testing.assert_close(last(x.contiguous(memory_format=torch.channels_last)), plain(x), rtol=0, atol=1e-6)
