"""cxrlab.explain.grad_cam: hand-computed values, Captum equality, batching, hooks, modes, errors."""

import numpy as np
import pytest
import torch
import torch.nn as nn
import torchvision
from captum.attr import LayerAttribution, LayerGradCam

from cxrlab.explain import grad_cam, normalize_maps

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Tiny(nn.Module):
    """Identity 1x1 conv (the target layer) -> in-place ReLU -> global average pool -> linear."""

    def __init__(self, fc_weight, inplace=True):
        super().__init__()
        self.features = nn.Conv2d(2, 2, 1, bias=False)
        self.relu = nn.ReLU(inplace=inplace)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2, len(fc_weight), bias=False)
        with torch.no_grad():
            self.features.weight.copy_(torch.eye(2).view(2, 2, 1, 1))
            self.fc.weight.copy_(torch.tensor(fc_weight, dtype=torch.float32))

    def forward(self, x):
        return self.fc(self.pool(self.relu(self.features(x))).flatten(1))


def tiny_input():
    a0 = torch.arange(9, dtype=torch.float32).view(3, 3)  # 0..8: one pixel (0) not positive
    a1 = torch.ones(3, 3)
    return torch.stack([a0, a1])[None]  # (1, 2, 3, 3)


# By hand: A = x, dy_c/dA_kij = w_ck / 9 where A_kij > 0 (the ReLU), else 0.
# class 0, w = (1, -1): alpha = (8/81, -9/81), cam = relu(8 a - 9) / 81 -> / max (55/81)
EXPECTED_0 = torch.tensor([0, 0, 7, 15, 23, 31, 39, 47, 55], dtype=torch.float32).view(3, 3) / 55
# class 1, w = (0.5, 2): alpha = (4/81, 18/81), cam = (4 a + 18) / 81 -> min-max: a / 8
EXPECTED_1 = torch.arange(9, dtype=torch.float32).view(3, 3) / 8


def test_hand_computed_values_and_per_image_targets():
    model = Tiny([[1.0, -1.0], [0.5, 2.0]])
    x = tiny_input().repeat(2, 1, 1, 1)
    maps = grad_cam(model, x, targets=[0, 1], target_layer=model.features)
    assert maps.shape == (2, 3, 3)
    torch.testing.assert_close(maps[0], EXPECTED_0, atol=1e-6, rtol=0)
    torch.testing.assert_close(maps[1], EXPECTED_1, atol=1e-6, rtol=0)
    swapped = grad_cam(model, x, targets=torch.tensor([1, 0]), target_layer=model.features)
    torch.testing.assert_close(swapped, maps.flip(0), atol=1e-6, rtol=0)  # the map of image i uses target i
    single = grad_cam(model, x[:1], targets=1, target_layer=model.features)
    torch.testing.assert_close(single[0], EXPECTED_1, atol=1e-6, rtol=0)


def test_in_place_relu_gives_the_same_map_as_out_of_place():
    x = torch.randn(3, 2, 5, 5)
    a = Tiny([[1.0, -0.5], [0.3, 2.0]], inplace=True)
    b = Tiny([[1.0, -0.5], [0.3, 2.0]], inplace=False)
    torch.testing.assert_close(grad_cam(a, x, [0, 1, 0], target_layer=a.features),
                               grad_cam(b, x, [0, 1, 0], target_layer=b.features))


def test_all_zero_map_stays_zero():
    model = Tiny([[-1.0, -1.0]])  # every feature counts against the only class
    x = torch.rand(2, 2, 4, 4) + 0.1
    maps = grad_cam(model, x, targets=0, target_layer=model.features)
    assert torch.equal(maps, torch.zeros(2, 4, 4))


def captum_reference(model, layer, x, targets):
    attr = LayerGradCam(model, layer).attribute(x, target=targets, relu_attributions=True)
    attr = LayerAttribution.interpolate(attr, tuple(x.shape[-2:]), interpolate_mode="bilinear")
    return normalize_maps(attr.detach().squeeze(1))


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=4).eval()


@pytest.mark.parametrize("layer_name", ["layer4", "layer3", "layer4.1.bn2"])
def test_equals_captum_layergradcam_on_resnet18(resnet, layer_name):
    # layer4.1.bn2 is followed by an in-place `out += identity`: the captured activation must survive it
    layer = dict(resnet.named_modules())[layer_name]
    torch.manual_seed(1)
    x = torch.randn(3, 3, 128, 128)
    targets = [2, 0, 3]
    ours = grad_cam(resnet, x, targets, target_layer=layer)
    ref = captum_reference(resnet, layer, x, targets)
    assert ours.shape == (3, 128, 128)
    assert (ours - ref).abs().max().item() <= 1e-5
    assert ours.min() >= 0 and ours.max() <= 1


def test_batch_equals_one_image_at_a_time_and_default_is_prediction(resnet):
    torch.manual_seed(2)
    x = torch.randn(3, 3, 96, 96)
    batched = grad_cam(resnet, x, target_layer=resnet.layer4)
    predicted = resnet(x).argmax(1)
    torch.testing.assert_close(batched, grad_cam(resnet, x, predicted, target_layer=resnet.layer4))
    for i in range(3):
        one = grad_cam(resnet, x[i:i + 1], int(predicted[i]), target_layer=resnet.layer4)
        torch.testing.assert_close(batched[i:i + 1], one, atol=1e-5, rtol=0)


def all_hooks(model):
    return [h for m in model.modules() for h in (*m._forward_hooks.values(), *m._forward_pre_hooks.values(),
                                                  *m._backward_hooks.values(), *m._backward_pre_hooks.values())]


def test_no_leaked_hooks_or_gradients_and_modes_restored(resnet):
    model = torchvision.models.resnet18(weights=None, num_classes=3)
    model.train()
    model.layer1.eval()  # a mixed state, e.g. a frozen block
    flags = {name: m.training for name, m in model.named_modules()}
    marker = torch.full_like(model.fc.weight, 7.0)
    model.fc.weight.grad = marker.clone()
    running = model.bn1.running_mean.clone()
    x = torch.randn(2, 3, 64, 64)
    grad_cam(model, x, [0, 1], target_layer=model.layer4)
    assert all_hooks(model) == []
    assert {name: m.training for name, m in model.named_modules()} == flags
    assert torch.equal(model.fc.weight.grad, marker)  # untouched, not zeroed and not accumulated
    assert all(p.grad is None for n, p in model.named_parameters() if n != "fc.weight")
    assert torch.equal(model.bn1.running_mean, running)  # ran in eval mode: no BatchNorm update
    with pytest.raises(ValueError):
        grad_cam(model, x, [0, 5], target_layer=model.layer4)  # fails after the forward pass...
    assert all_hooks(model) == []  # ...and still leaves no hook behind
    assert {name: m.training for name, m in model.named_modules()} == flags


def test_works_inside_no_grad_and_leaves_grad_mode(resnet):
    x = torch.randn(2, 3, 64, 64)
    expected = grad_cam(resnet, x, [1, 2], target_layer=resnet.layer4)
    with torch.no_grad():
        inside = grad_cam(resnet, x, [1, 2], target_layer=resnet.layer4)
        assert not torch.is_grad_enabled()
    assert torch.is_grad_enabled()
    torch.testing.assert_close(inside, expected)


def test_errors_say_what_to_do(resnet):
    x = torch.randn(2, 3, 64, 64)
    other = torchvision.models.resnet18(weights=None)
    with pytest.raises(ValueError, match="not a submodule"):
        grad_cam(resnet, x, target_layer=other.layer4)
    with pytest.raises(ValueError, match="unsqueeze"):
        grad_cam(resnet, x[0], target_layer=resnet.layer4)
    with pytest.raises(ValueError, match="one class index per image"):
        grad_cam(resnet, x, [0, 1, 2], target_layer=resnet.layer4)
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        grad_cam(resnet, x, 4, target_layer=resnet.layer4)
    with pytest.raises(ValueError, match="called 2 times"):
        grad_cam(resnet, x, target_layer=resnet.layer4[0].relu)  # a BasicBlock calls its relu twice
    with pytest.raises(ValueError, match="\\(B, K, h, w\\)"):
        grad_cam(resnet, x, target_layer=resnet.fc)
    with pytest.raises(TypeError, match="floating-point"):
        grad_cam(resnet, torch.zeros(1, 3, 64, 64, dtype=torch.uint8), target_layer=resnet.layer4)
    assert all_hooks(resnet) == []


def test_normalize_maps_known_values():
    maps = torch.tensor([[[1.0, 3.0], [2.0, 5.0]], [[0.0, 0.0], [0.0, 0.0]], [[2.0, 2.0], [2.0, 2.0]]])
    out = normalize_maps(maps)
    np.testing.assert_allclose(out[0].numpy(), [[0.0, 0.5], [0.25, 1.0]])
    assert torch.equal(out[1:], torch.zeros(2, 2, 2))


def test_per_image_reference_agrees_and_cleans_up(resnet):
    from cxrlab.explain import grad_cam_per_image

    torch.manual_seed(3)
    x = torch.randn(3, 3, 64, 64)
    resnet.fc.weight.grad = torch.ones_like(resnet.fc.weight)
    slow = grad_cam_per_image(resnet, x, [0, 1, 3], target_layer=resnet.layer4)
    torch.testing.assert_close(slow, grad_cam(resnet, x, [0, 1, 3], target_layer=resnet.layer4), atol=1e-5, rtol=0)
    assert torch.equal(resnet.fc.weight.grad, torch.ones_like(resnet.fc.weight))
    assert resnet.layer4[0].conv1.weight.grad is None
    assert all_hooks(resnet) == []
    resnet.fc.weight.grad = None


def test_older_layer_first_order_and_default_target_layer_give_the_same_maps(resnet):
    x = torch.randn(2, 3, 64, 64)
    new = grad_cam(resnet, x, [1, 2], target_layer=resnet.layer4)
    torch.testing.assert_close(grad_cam(resnet, resnet.layer4, x, [1, 2]), new)  # the order chapters used
    resnet.target_layer = resnet.layer4  # a model that names its Grad-CAM layer (as ChestNet does)
    try:
        torch.testing.assert_close(grad_cam(resnet, x, [1, 2]), new)
    finally:
        del resnet.target_layer
    with pytest.raises(TypeError, match="target_layer"):
        grad_cam(resnet, x, [1, 2])
    with pytest.raises(TypeError, match="positional"):
        grad_cam(resnet, x, [1, 2], resnet.layer4)
