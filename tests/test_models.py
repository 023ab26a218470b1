"""cxrlab.models: LeNet-5, torchvision builders with new heads, pretrained fallback, freezing."""

import time

import pytest
import torch
import torch.nn as nn

from cxrlab import models
from cxrlab.models import build, classifier_head, count_parameters, freeze, stages, unfreeze


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """An empty torch hub cache and no downloads, so every lookup must fall back."""
    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    monkeypatch.setenv(models.OFFLINE_ENV, "1")
    yield tmp_path / "hub"
    torch.hub.set_dir(previous)


@pytest.fixture
def cached_resnet18(tmp_path, monkeypatch):
    """A hub cache holding a (random, seeded) resnet18 state under torchvision's file name."""
    import torchvision

    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    monkeypatch.setenv(models.OFFLINE_ENV, "1")
    torch.manual_seed(123)
    reference = torchvision.models.resnet18(weights=None)
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(reference.state_dict(), folder / "resnet18-f37072fd.pth")
    yield reference
    torch.hub.set_dir(previous)


def test_lenet5_shapes_and_parameter_count():
    model = models.LeNet5()
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 10)
    # C1 156 + C3 2,416 + C5 48,120 + F6 10,164 + out 850 = 61,706 (LeCun et al. 1998, full C3)
    assert count_parameters(model) == 61_706
    with pytest.raises(ValueError, match="32, 32"):
        model(torch.zeros(2, 1, 28, 28))


@pytest.mark.parametrize("name,size", [("lenet5", 32), ("alexnet", 64), ("vgg16", 32),
                                       ("googlenet", 64), ("resnet18", 32), ("resnet34", 32),
                                       ("resnet50", 32)])
def test_build_replaces_head(name, size, empty_hub):
    torch.manual_seed(0)
    model = build(name, 7, pretrained=False, in_channels=1 if name == "lenet5" else 3)
    model.eval()
    channels = 1 if name == "lenet5" else 3
    with torch.no_grad():
        out = model(torch.randn(2, channels, size, size))
    assert out.shape == (2, 7)
    head = classifier_head(model)
    assert isinstance(head, nn.Linear) and head.out_features == 7
    assert model.weights_source.startswith("random initialisation")
    assert model.architecture == name
    if name == "googlenet":
        assert model.aux1 is None and model.aux2 is None


@pytest.mark.parametrize("name", ["alexnet", "resnet18", "googlenet"])
def test_in_channels_one(name, empty_hub):
    model = build(name, 3, pretrained=False, in_channels=1).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 1, 64, 64)).shape == (1, 3)


def test_auto_falls_back_fast_with_reason(empty_hub, monkeypatch):
    start = time.perf_counter()
    model = build("resnet18", 2, pretrained="auto")
    assert time.perf_counter() - start < 10
    assert model.weights_source.startswith("random initialisation (ImageNet weights unavailable:")
    assert "cache" in model.weights_source


def test_download_probe_is_bounded(empty_hub, monkeypatch):
    # Allow the download attempt; the host (a reserved TEST-NET address) never answers, so
    # the call must give up within its timeout.
    monkeypatch.delenv(models.OFFLINE_ENV)
    monkeypatch.setattr(models, "WEIGHTS_HOST", "http://192.0.2.1:81/models/")
    start = time.perf_counter()
    state, reason = models.load_pretrained_state("alexnet", timeout=1.0)
    assert time.perf_counter() - start < 3
    assert state is None and "no download" in reason


def test_weight_file_table_matches_torchvision():
    from torchvision.models import get_model_weights

    for name, entries in models.WEIGHT_FILES.items():
        enum = get_model_weights(name)
        assert entries[0][0] == enum.DEFAULT.name
        for entry, filename in entries:
            assert enum[entry].url == models.WEIGHTS_HOST + filename


def test_pretrained_true_offline_raises(empty_hub):
    with pytest.raises(models.PretrainedUnavailable, match="pretrained='auto'"):
        build("alexnet", 2, pretrained=True)


def test_lenet5_has_no_pretrained(empty_hub):
    assert build("lenet5", 10, pretrained="auto", in_channels=1).weights_source.startswith("random")
    with pytest.raises(models.PretrainedUnavailable):
        build("lenet5", 10, pretrained=True, in_channels=1)


def test_weights_from_local_cache(cached_resnet18):
    assert models.weights_in_cache("resnet18").name == "resnet18-f37072fd.pth"
    assert models.weights_in_cache("alexnet") is None and models.weights_in_cache("lenet5") is None
    model = build("resnet18", 4, pretrained=True)
    assert "ImageNet-1k" in model.weights_source and "local cache" in model.weights_source
    assert torch.equal(model.conv1.weight, cached_resnet18.conv1.weight)
    assert torch.equal(model.layer4[1].conv2.weight, cached_resnet18.layer4[1].conv2.weight)
    assert model.fc.out_features == 4


def test_grey_input_matches_rgb_with_equal_channels(cached_resnet18):
    """Summed RGB filters: a grey image gives what the RGB model gives on R = G = B."""
    rgb = build("resnet18", 4, pretrained=True).eval()
    grey = build("resnet18", 4, pretrained=True, in_channels=1).eval()
    grey.fc.load_state_dict(rgb.fc.state_dict())
    x = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(grey(x), rgb(x.repeat(1, 3, 1, 1)), rtol=1e-4, atol=1e-5)


def test_adapt_input_channels_many():
    conv = nn.Conv2d(3, 4, 3, bias=False)
    wide = models.adapt_input_channels(conv, 6)
    x = torch.ones(1, 3, 5, 5)
    # a constant image gives the same response with 3 or 6 channels
    torch.testing.assert_close(wide(torch.ones(1, 6, 5, 5)), conv(x))
    with pytest.raises(ValueError, match="positive integer"):
        models.adapt_input_channels(conv, 0)


def test_freeze_and_unfreeze_counts():
    model = build("resnet18", 5, pretrained=False)
    total = count_parameters(model)
    head = 512 * 5 + 5
    changed = freeze(model, except_=("fc",))
    assert changed == total - head
    assert count_parameters(model, trainable_only=True) == head
    layer4 = sum(p.numel() for n, p in model.named_parameters() if n.startswith("layer4."))
    assert unfreeze(model, "layer4") == layer4
    assert unfreeze(model, "layer4") == 0  # already trainable
    assert count_parameters(model, trainable_only=True) == head + layer4
    assert freeze(model) == head + layer4
    assert count_parameters(model, trainable_only=True) == 0


def test_vgg_stages_and_prefix_matching():
    model = build("vgg16", 3, pretrained=False)
    names = stages(model)
    assert [k for k in names if k.startswith("block")] == [f"block{i}" for i in range(1, 6)]
    assert names["block5"][0] == "features.24" and names["head"] == ["classifier.6"]
    freeze(model, except_="head")
    assert count_parameters(model, trainable_only=True) == 4096 * 3 + 3
    block5 = unfreeze(model, "block5")
    assert block5 == 3 * (512 * 512 * 9 + 512)  # three 3x3 conv layers, 512 -> 512
    # "features.2" must not also match "features.24"
    assert unfreeze(model, "features.2") == 64 * 64 * 9 + 64


def test_bad_input_errors():
    with pytest.raises(ValueError, match="unknown architecture"):
        build("vgg19", 2)
    with pytest.raises(ValueError, match="num_classes"):
        build("resnet18", 0, pretrained=False)
    with pytest.raises(ValueError, match="pretrained"):
        build("resnet18", 2, pretrained="yes")
    model = build("lenet5", 10, pretrained=False, in_channels=1)
    with pytest.raises(ValueError, match="names no parameter"):
        freeze(model, except_=("layer9",))
    with pytest.raises(ValueError, match="timeout"):
        models.load_pretrained_state("alexnet", timeout=0)


def test_small_alexnet_matches_alexnet_first_layer():
    import torchvision

    small = models.SmallAlexNet(num_classes=4)
    reference = torchvision.models.alexnet(weights=None).features[0]
    conv1 = small.features[0]
    assert (conv1.kernel_size, conv1.stride, conv1.padding, conv1.out_channels) == \
           (reference.kernel_size, reference.stride, reference.padding, reference.out_channels)
    assert abs(conv1.weight.std().item() - 0.01) < 0.001  # N(0, 0.01) as in Krizhevsky et al.
    assert small(torch.zeros(2, 3, 64, 64)).shape == (2, 4)
    with pytest.raises(ValueError, match="63"):
        small(torch.zeros(1, 3, 32, 32))


def test_small_vgg_layout_split_and_head():
    torch.manual_seed(0)
    model = models.SmallVGG(num_classes=5, width_divisor=8).eval()
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 8, 16, 16, 32, 32, 32, 64, 64, 64, 64, 64, 64]
    assert all(c.kernel_size == (3, 3) for c in convs)
    first, rest = models.split_at(model, "block4")
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert first(x).shape == (3, 64, 2, 2)
        torch.testing.assert_close(rest(first(x)), model(x))
    new = models.replace_head(model, 7)
    assert classifier_head(model) is new and model(x).shape == (3, 7)
    with pytest.raises(ValueError, match="block"):
        models.split_at(model, "head")
    with pytest.raises(ValueError, match="divide 64"):
        models.SmallVGG(width_divisor=3)
