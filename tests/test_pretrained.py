"""cxrlab.pretrained: torchvision builders with new heads, pretrained fallback without hanging, WeightsInfo."""

import time

import pytest
import torch
import torch.nn as nn

from cxrlab import pretrained as models
from cxrlab import settings
from cxrlab.nets import count_parameters  # noqa: F401
from cxrlab.pretrained import WeightsInfo, build
from cxrlab.transfer import classifier_head, freeze


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """An empty torch hub cache and no downloads, so every lookup must fall back."""
    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    monkeypatch.setenv(settings.OFFLINE_ENV, "1")
    yield tmp_path / "hub"
    torch.hub.set_dir(previous)


@pytest.fixture
def cached_resnet18(tmp_path, monkeypatch):
    """A hub cache holding a (random, seeded) resnet18 state under torchvision's file name."""
    import torchvision

    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    monkeypatch.setenv(settings.OFFLINE_ENV, "1")
    torch.manual_seed(123)
    reference = torchvision.models.resnet18(weights=None)
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(reference.state_dict(), folder / "resnet18-f37072fd.pth")
    yield reference
    torch.hub.set_dir(previous)


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
    assert model.weights_info == WeightsInfo(False, "random initialisation (pretrained=False)", name)
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
    assert not model.weights_info.pretrained
    assert model.weights_info.source.startswith("random initialisation (ImageNet weights unavailable:")
    assert "cache" in model.weights_info.source


def test_download_probe_is_bounded(empty_hub, monkeypatch):
    # Allow the download attempt; the host (a reserved TEST-NET address) never answers, so
    # the call must give up within its timeout.
    monkeypatch.delenv(settings.OFFLINE_ENV)
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
    assert not build("lenet5", 10, pretrained="auto", in_channels=1).weights_info.pretrained
    with pytest.raises(models.PretrainedUnavailable):
        build("lenet5", 10, pretrained=True, in_channels=1)


def test_weights_from_local_cache(cached_resnet18):
    assert models.weights_in_cache("resnet18").name == "resnet18-f37072fd.pth"
    assert models.weights_in_cache("alexnet") is None and models.weights_in_cache("lenet5") is None
    model = build("resnet18", 4, pretrained=True)
    info = model.weights_info
    assert info.pretrained and info.architecture == "resnet18"
    assert "ImageNet-1k" in info.source and str(info) == info.source
    assert "from torch's hub cache (resnet18-f37072fd.pth)" in info.source
    with pytest.raises(AttributeError):
        info.pretrained = False  # frozen: provenance cannot be edited after the fact
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
    with pytest.raises(ValueError, match="in_channels must be an integer >= 1"):
        models.adapt_input_channels(conv, 0)


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


def test_imagenet_statistics_are_defined_once():
    from cxrlab.dicom import convert

    assert convert.IMAGENET_MEAN is models.IMAGENET_MEAN and convert.IMAGENET_STD is models.IMAGENET_STD


def test_reasons_name_no_path_or_socket_message(empty_hub, monkeypatch):
    """The reasons are printed into the book's pages (issue 16 item 17): no path, no gaierror."""
    import socket

    from tools.html_scan import scan_text

    offline_state, offline_reason = models.load_pretrained_state("alexnet", timeout=1.0)
    monkeypatch.delenv(settings.OFFLINE_ENV)

    def no_dns(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "create_connection", no_dns)
    state, reason = models.load_pretrained_state("alexnet", timeout=1.0)
    assert offline_state is None and state is None
    assert reason == "not in torch's hub cache, and no download: download.pytorch.org could not be " \
                     "reached (no network: the host name could not be resolved)"
    assert "not in torch's hub cache" in offline_reason
    assert scan_text(reason) == [] and scan_text(offline_reason) == []
    assert str(empty_hub) not in reason + offline_reason
