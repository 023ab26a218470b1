"""Weight randomisation (Adebayo et al. 2018), rank correlation, and the overlay figures."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn as nn
from scipy.stats import spearmanr

from cxrlab.explain import cascading_randomization, explanation_grid, grad_cam, overlay, randomized_copy, rank_correlation
from cxrlab.explain.overlay import MASK_COLOR
from cxrlab.figures import PAGE_WIDTH, text_problems

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(self.pool(torch.relu(self.conv2(self.relu(self.conv1(x))))).flatten(1))


def bright_square_data(n, size=12, seed=0):
    """Class 1: a bright 3x3 square somewhere; class 0: none. The square is the lesion."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, size, size, generator=g) * 0.3
    y = torch.arange(n) % 2
    masks = torch.zeros(n, size, size, dtype=torch.bool)
    for i in range(n):
        if y[i]:
            r, c = torch.randint(0, size - 3, (2,), generator=g).tolist()
            x[i, 0, r:r + 3, c:c + 3] += 0.7
            masks[i, r:r + 3, c:c + 3] = True
    return x, y, masks


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    model = Net()
    x, y, _ = bright_square_data(256)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    return model


def test_randomized_copy_changes_only_the_named_layers_and_not_the_original():
    torch.manual_seed(0)
    model = Net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    copy = randomized_copy(model, ["fc", "conv2"], seed=3)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    assert not torch.equal(copy.fc.weight, model.fc.weight)
    assert not torch.equal(copy.conv2.weight, model.conv2.weight)
    assert torch.equal(copy.conv1.weight, model.conv1.weight)
    again = randomized_copy(model, ["fc", "conv2"], seed=3)
    assert torch.equal(again.fc.weight, copy.fc.weight)  # repeatable
    with pytest.raises(ValueError, match="no layer named"):
        randomized_copy(model, ["layer9"])


def test_rank_correlation_matches_scipy_and_handles_constants():
    rng = np.random.default_rng(0)
    a = torch.tensor(rng.random((3, 5, 5)), dtype=torch.float32)
    b = torch.tensor(rng.random((3, 5, 5)), dtype=torch.float32)
    b[1] = a[1] ** 3                  # same ranking
    b[2] = -a[2]                      # reversed ranking (but same |.| ranking)
    ours = rank_correlation(a, b, absolute=False)
    for i in range(3):
        assert ours[i].item() == pytest.approx(spearmanr(a[i].flatten(), b[i].flatten()).statistic, abs=1e-6)
    assert ours[1].item() == pytest.approx(1.0) and ours[2].item() == pytest.approx(-1.0)
    assert rank_correlation(a, b)[2].item() == pytest.approx(1.0)
    assert np.isnan(rank_correlation(torch.zeros(1, 5, 5), a[:1]).item())


def test_grad_cam_of_a_trained_model_finds_the_square_and_fails_the_randomisation_test(trained):
    x, y, masks = bright_square_data(32, seed=1)
    positives = y == 1
    x, masks = x[positives], masks[positives]
    explain = lambda m: grad_cam(m, x, targets=1, target_layer=m.conv2)  # noqa: E731
    maps = explain(trained)
    peak = maps.flatten(1).argmax(1)
    assert masks.flatten(1).gather(1, peak[:, None]).float().mean() > 0.7  # it points at the squares
    table, all_maps = cascading_randomization(trained, explain, layers=["fc", "conv2", "conv1"])
    assert list(table["randomized_up_to"]) == ["fc", "conv2", "conv1"]
    assert set(all_maps) == {"original", "fc", "conv2", "conv1"}
    # a faithful explanation changes visibly once the learned weights are gone
    assert table["spearman_mean"].iloc[-1] < 0.5
    assert rank_correlation(maps, all_maps["original"]).min().item() == pytest.approx(1.0)


def test_overlay_and_grid_draw_what_they_are_given():
    images = torch.rand(2, 1, 16, 16)
    heat = torch.rand(2, 16, 16)
    masks = torch.zeros(2, 16, 16, dtype=torch.bool)
    masks[:, 4:8, 4:8] = True
    ax = overlay(images[0], heat[0], mask=masks[0], title="Grad-CAM")
    assert ax.get_title() == "Grad-CAM" and len(ax.images) == 2
    grey, coloured = ax.images
    assert grey.get_cmap().name == "gray"
    rgba = coloured.get_array()  # the heat in the perceptual map, opacity = 0.75 * heat
    np.testing.assert_allclose(rgba[..., 3], 0.75 * heat[0].numpy(), atol=1e-6)
    assert len(ax.figure.axes) == 2, "overlay adds a colour bar"
    outline = [c for c in ax.collections if c.get_edgecolor().size]
    np.testing.assert_allclose(outline[0].get_edgecolor()[0], matplotlib.colors.to_rgba(MASK_COLOR))
    assert MASK_COLOR == "cyan", "chapter 8's captions say the outline is cyan"
    fig = explanation_grid(images, {"Grad-CAM": heat, "IG": heat}, masks=masks, row_titles=["a", "b"])
    assert len(fig.axes) == 7 and fig.axes[0].get_title() == "a" and fig.axes[1].get_title() == "Grad-CAM"
    assert fig.axes[-1].get_ylabel().startswith("relevance"), "one shared colour bar"
    assert fig.get_figwidth() <= PAGE_WIDTH + 1e-9 and not text_problems(fig)
    with pytest.raises(ValueError, match="same height and width"):
        overlay(images[0], torch.rand(8, 8))
    with pytest.raises(ValueError, match="maps for 2 images"):
        explanation_grid(images, {"IG": heat[:1]})
    plt.close("all")
