"""Integrated Gradients, SHAP and saliency wrappers: exact values on linear models, completeness."""

import numpy as np
import pytest
import torch
import torch.nn as nn

from cxrlab.explain import integrated_gradients, saliency, shap_images, to_heatmap

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Linear(nn.Module):
    """logit_c = sum(W_c * x) + b_c for images (B, 2, 3, 3): every attribution has a closed form."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.fc = nn.Linear(18, 3)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(3, 18, generator=g))
            self.fc.bias.copy_(torch.tensor([0.5, -1.0, 2.0]))

    def forward(self, x):
        return self.fc(x.flatten(1))


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                                  nn.Conv2d(4, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))

    def forward(self, x):
        return self.body(x)


def weights(model, c):
    return model.fc.weight[c].detach().view(2, 3, 3)


def test_integrated_gradients_is_exact_for_a_linear_model():
    torch.manual_seed(0)
    model = Linear()
    x = torch.randn(2, 2, 3, 3)
    base = torch.randn(2, 3, 3)
    maps, delta = integrated_gradients(model, x, [0, 2], baseline=base, steps=4, return_delta=True)
    expected = torch.stack([((x[0] - base) * weights(model, 0)).sum(0), ((x[1] - base) * weights(model, 2)).sum(0)])
    torch.testing.assert_close(maps, expected, atol=1e-5, rtol=0)
    assert delta.abs().max() < 1e-5


def test_integrated_gradients_completeness_on_a_relu_cnn():
    torch.manual_seed(1)
    model = SmallCNN().eval()
    x = torch.rand(3, 1, 16, 16)
    maps, delta = integrated_gradients(model, x, steps=64, return_delta=True)
    with torch.no_grad():
        logits, base = model(x), model(torch.zeros_like(x))
    target = logits.argmax(1)
    gap = (logits - base).gather(1, target[:, None])[:, 0]
    torch.testing.assert_close(maps.sum((1, 2)), gap, atol=5e-3 + 0.02 * gap.abs().max().item(), rtol=0)
    assert (delta.abs() <= 0.02 * gap.abs().max() + 5e-3).all()  # quadrature error small against f(x) - f(x')


def test_shap_equals_closed_form_with_one_background_image():
    # expected gradients of a linear model: (x - x') * w for every path point, so exact
    torch.manual_seed(2)
    model = Linear()
    x = torch.randn(3, 2, 3, 3)
    bg = torch.randn(1, 2, 3, 3)
    maps = shap_images(model, x, [1, 0, 1], background=bg, nsamples=8)
    torch.testing.assert_close(shap_images(model, x, bg, [1, 0, 1], nsamples=8), maps)  # the older order
    for i, c in enumerate([1, 0, 1]):
        torch.testing.assert_close(maps[i], ((x[i] - bg[0]) * weights(model, c)).sum(0), atol=1e-5, rtol=0)


def test_shap_leaves_model_numpy_state_and_gradients_alone():
    torch.manual_seed(3)
    model = SmallCNN().train()
    marker = torch.ones_like(model.body[0].weight)
    model.body[0].weight.grad = marker.clone()
    np.random.seed(123)
    expected_draw = np.random.rand()
    np.random.seed(123)
    maps = shap_images(model, torch.rand(2, 1, 16, 16), background=torch.rand(4, 1, 16, 16), nsamples=4, seed=5)
    assert maps.shape == (2, 16, 16)
    assert np.random.rand() == expected_draw  # shap reseeds numpy; we put its state back
    assert model.training and all(m.training for m in model.modules())
    assert torch.equal(model.body[0].weight.grad, marker)


def test_shap_is_repeatable_with_a_seed():
    torch.manual_seed(4)
    model = SmallCNN().eval()
    x, bg = torch.rand(2, 1, 16, 16), torch.rand(6, 1, 16, 16)
    torch.testing.assert_close(shap_images(model, x, background=bg, nsamples=8, seed=1),
                               shap_images(model, x, background=bg, nsamples=8, seed=1))


def test_saliency_of_a_linear_model_is_the_largest_absolute_weight():
    model = Linear()
    x = torch.randn(2, 2, 3, 3)
    maps = saliency(model, x, [2, 1])
    torch.testing.assert_close(maps[0], weights(model, 2).abs().amax(0))
    torch.testing.assert_close(maps[1], weights(model, 1).abs().amax(0))


def test_to_heatmap_keeps_positive_evidence():
    maps = torch.tensor([[[-2.0, 0.0], [1.0, 3.0]]])
    torch.testing.assert_close(to_heatmap(maps), torch.tensor([[[0.0, 0.0], [1 / 3, 1.0]]]))
    torch.testing.assert_close(to_heatmap(maps, positive_only=False), torch.tensor([[[2 / 3, 0.0], [1 / 3, 1.0]]]))


def test_wrapper_errors():
    model = Linear()
    x = torch.randn(2, 2, 3, 3)
    with pytest.raises(ValueError, match="steps"):
        integrated_gradients(model, x, steps=1)
    with pytest.raises(ValueError, match="broadcast"):
        integrated_gradients(model, x, baseline=torch.zeros(5, 5))
    with pytest.raises(ValueError, match="same \\(C, H, W\\)"):
        shap_images(model, x, background=torch.zeros(4, 1, 3, 3))
    with pytest.raises(TypeError, match="background"):
        shap_images(model, x, [0, 1])
    with pytest.raises(ValueError, match="one class index per image"):
        saliency(model, x, [0])



_KERNEL_WITHOUT_WIDGETS = """
import sys, types, warnings
sys.modules["ipykernel.zmqshell"] = types.ModuleType("ipykernel.zmqshell")  # what tqdm.auto looks for
import IPython, torch
from tqdm import TqdmWarning
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from cxrlab.explain import integrated_gradients, saliency, shap_images
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    x = torch.rand(2, 1, 8, 8)
    saliency(net, x, 0)
    integrated_gradients(net, x, 0, steps=2)
    shap_images(net, x, background=x, targets=0, nsamples=2)
    import tqdm.auto  # imported by captum already: no second chance to warn
print(sum(issubclass(w.category, TqdmWarning) for w in caught))
"""


def test_explainers_import_captum_and_shap_without_the_tqdm_widget_warning():
    """In a kernel without ipywidgets, importing captum or shap warns TqdmWarning once; the
    explainers import them quietly, so no chapter needs a warning filter (about 10 s: two fresh
    interpreters import captum and shap)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(root))

    def tqdm_warnings(code):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root)
        assert done.returncode == 0, done.stderr[-2000:]
        return int(done.stdout.split()[-1])

    bare = _KERNEL_WITHOUT_WIDGETS.replace("    from cxrlab.explain", "    import captum.attr\n    from cxrlab.explain")
    assert tqdm_warnings(bare) >= 1, "the fake kernel must reproduce the warning of a bare captum import"
    assert tqdm_warnings(_KERNEL_WITHOUT_WIDGETS) == 0
