"""cxrlab.features: filter statistics, filter grids, activations, the layer table."""

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn as nn

from cxrlab import features
from cxrlab.features import activations, filter_grid, filter_statistics

matplotlib.use("Agg")


def test_sample_photo_is_a_real_colour_photograph():
    photo = features.sample_photo("china.jpg", size=100)
    assert photo.shape == (1, 3, 100, 150)  # 427 x 640 keeps its aspect ratio
    assert 0.0 <= photo.min() and photo.max() <= 1.0
    assert (photo[0, 0] - photo[0, 1]).abs().mean() > 0.01  # channels differ: a colour image
    with pytest.raises(ValueError, match="china.jpg"):
        features.sample_photo("missing.jpg")


def test_filter_statistics_known_values():
    torch.manual_seed(0)
    noise = torch.randn(256, 3, 11, 11)
    stats = filter_statistics(noise)
    assert abs(stats["colour"].mean() - 2 / 3) < 0.02      # independent channels: 2/3
    assert abs(stats["smoothness"].mean()) < 0.03          # noise: no neighbour correlation
    ramp = torch.linspace(-1, 1, 11).repeat(11, 1)         # a smooth horizontal ramp (an edge)
    grey_edge = ramp.expand(1, 3, 11, 11)
    edge_stats = filter_statistics(grey_edge)
    assert edge_stats["colour"][0] < 1e-9                  # same in every channel
    assert edge_stats["smoothness"][0] > 0.5
    red_minus_green = torch.zeros(1, 3, 3, 3)
    red_minus_green[0, 0], red_minus_green[0, 1] = 1.0, -1.0
    assert filter_statistics(red_minus_green)["colour"][0] == pytest.approx(1.0)
    np.testing.assert_allclose(filter_statistics(nn.Conv2d(3, 4, 3))["norm"].shape, (4,))
    with pytest.raises(ValueError, match="out, in, kH, kW"):
        filter_statistics(torch.zeros(3, 3))


def test_filter_grid_draws_and_checks_channels():
    fig = filter_grid(torch.randn(10, 3, 5, 5), ncols=4, title="t")
    image = fig.axes[0].images[0].get_array()
    assert image.shape == (3 * 6 - 1, 4 * 6 - 1, 3)
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    with pytest.raises(ValueError, match="1- or 3-channel"):
        filter_grid(torch.randn(4, 2, 3, 3))


def test_activations_hooks_are_removed():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten())
    model.train()
    out = activations(model, torch.randn(1, 1, 5, 5), ["0", "1"])
    assert out["0"].shape == (1, 2, 3, 3) and (out["1"] >= 0).all()
    torch.testing.assert_close(out["1"], out["0"].clamp_min(0))
    assert not model[0]._forward_hooks and model.training
    with pytest.raises(ValueError, match="no layer named"):
        activations(model, torch.randn(1, 1, 5, 5), ["conv9"])


def test_activations_restore_each_submodule_mode():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Dropout(0.5))
    model.train()
    model[1].eval()  # a frozen BatchNorm kept in eval mode inside a training model
    activations(model, torch.randn(2, 1, 5, 5), ["0"])
    assert model.training and not model[1].training and model[2].training


def test_layer_table_traces_lenet5():
    from cxrlab.nets import LeNet5

    model = LeNet5().train()
    table = features.layer_table(model, torch.zeros(2, 1, 32, 32))
    assert list(table["output shape"][:3]) == [(6, 28, 28), (6, 28, 28), (6, 14, 14)]
    assert table["output shape"].iloc[-1] == (10,)
    assert list(table["layer"][:2]) == ["features.0", "features.1"]
    assert table["parameters"].sum() == 61_706  # every parameter sits in exactly one leaf
    assert model.training and not any(m._forward_hooks for m in model.modules())
    with pytest.raises(ValueError, match="batch axis"):
        features.layer_table(model, torch.zeros(32))


def test_filter_and_feature_map_grids_follow_the_book_style():
    import matplotlib.pyplot as plt

    from cxrlab.figures import PAGE_WIDTH, text_problems

    grey = filter_grid(torch.randn(16, 1, 5, 5), ncols=8, title="grey filters")
    shown = grey.axes[0].images[0]
    assert shown.get_cmap().name == "RdBu_r" and shown.get_clim() == (-1, 1)  # diverging, centred on 0
    assert len(grey.axes) == 2 and text_problems(grey) == []                  # with its colour bar
    colour = filter_grid(torch.randn(64, 3, 11, 11), ncols=16)
    assert colour.get_figwidth() <= PAGE_WIDTH and text_problems(colour) == []
    maps = torch.rand(8, 12, 18)
    fig = features.feature_map_grid([("random", maps), ("trained", 2 * maps)], image=torch.rand(1, 3, 48, 72),
                                    n_maps=6)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 2 * 7 and len(fig.axes) == 2 * 7 + 1              # 2 rows of input + 6 maps, one bar
    scaled = panels[1].images[0].get_array()
    assert float(scaled.max()) == pytest.approx(1.0) and float(scaled.min()) >= 0.0  # each map on its own max
    assert fig.get_figwidth() <= PAGE_WIDTH and text_problems(fig) == []
    with pytest.raises(ValueError, match="K >= 6"):
        features.feature_map_grid([("few", torch.rand(3, 4, 4))])
    with pytest.raises(ValueError, match="NaN"):
        features.feature_map_grid([("bad", torch.full((6, 4, 4), float("nan")))])
    plt.close("all")
