"""cxrlab.nets.resnet_cifar and diagnose.gradient_norms: shapes, parameters, shortcuts, gradients at initialisation."""

import pytest
import torch
import torch.nn as nn

from cxrlab.diagnose import gradient_norms
from cxrlab.nets import count_parameters
from cxrlab.nets.resnet_cifar import Block, DeepCNN, blocks_per_stage


@pytest.mark.parametrize("depth", [8, 20, 32])
def test_depth_counts_weighted_layers_and_plain_equals_residual_in_parameters(depth):
    plain, res = DeepCNN(depth, 4, residual=False), DeepCNN(depth, 4, residual=True)
    assert len(plain.weighted_layers()) == depth
    assert count_parameters(plain) == count_parameters(res)  # option-A shortcuts are free
    x = torch.randn(2, 3, 16, 16)
    assert plain(x).shape == res(x).shape == (2, 10)


def test_parameter_count_of_resnet20_matches_the_paper():
    # He et al. (2016), Table 6: ResNet-20 on CIFAR-10 has 0.27 M parameters.
    assert count_parameters(DeepCNN(20, 16)) == pytest.approx(0.27e6, rel=0.01)


def test_residual_block_adds_its_input():
    block = Block(4, 4, residual=True).eval()
    plain = Block(4, 4, residual=False).eval()
    plain.load_state_dict(block.state_dict())
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad():
        inner = plain.bn2(plain.conv2(torch.relu(plain.bn1(plain.conv1(x)))))
        assert torch.allclose(block(x), torch.relu(inner + x), atol=1e-6)
        assert torch.allclose(plain(x), torch.relu(inner), atol=1e-6)


def test_downsampling_shortcut_subsamples_and_pads_with_zeros():
    block = Block(4, 8, stride=2)
    x = torch.randn(2, 4, 6, 6)
    s = block.shortcut(x)
    assert s.shape == (2, 8, 3, 3)
    assert torch.equal(s[:, :4], x[:, :, ::2, ::2]) and not s[:, 4:].any()


def test_gradient_norms_match_backward_and_leave_no_trace():
    torch.manual_seed(0)
    model = DeepCNN(8, 4)
    x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 10, (8,))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    table = gradient_norms(model, x, y)
    assert list(table.layer) == list(range(1, 9)) and table.name.iloc[0] == "stem"
    assert all(p.grad is None for p in model.parameters())
    for k, v in before.items():
        assert torch.equal(model.state_dict()[k], v)
    nn.functional.cross_entropy(model(x), y).backward()
    expected = [m.weight.grad.norm().item() for _, m in model.weighted_layers()]
    assert table.grad_norm.tolist() == pytest.approx(expected, rel=1e-4)


def test_shortcuts_keep_gradients_near_the_input_where_plain_ones_vanish():
    torch.manual_seed(0)
    x, y = torch.randn(32, 3, 8, 8), torch.randint(0, 10, (32,))
    kw = dict(batch_norm=False, init="default")
    plain = gradient_norms(DeepCNN(32, 8, residual=False, **kw), x, y).grad_norm
    res = gradient_norms(DeepCNN(32, 8, residual=True, **kw), x, y).grad_norm
    assert plain.iloc[0] < 1e-3 * plain.iloc[-1]        # vanished by the input
    assert res.iloc[0] > 1e-2 * res.iloc[-1]


@pytest.mark.parametrize("call, message", [
    (lambda: DeepCNN(21), "6n"), (lambda: DeepCNN(20, 0), "width"), (lambda: DeepCNN(20, init="xavier"), "init"),
    (lambda: blocks_per_stage(2), "6n"), (lambda: Block(8, 4), "in_channels"), (lambda: Block(4, 4, 3), "stride"),
    (lambda: DeepCNN(8)(torch.randn(1, 1, 8, 8)), "3, H, W"),
    (lambda: gradient_norms(DeepCNN(8), torch.randn(2, 3, 8, 8), torch.zeros(3, dtype=torch.long)), "labels"),
])
def test_bad_input_is_explained(call, message):
    with pytest.raises(ValueError, match=message):
        call()
