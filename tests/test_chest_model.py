"""The shared chest model: trains in smoke mode, caches, reloads without training, keys change."""

import numpy as np
import pytest
import torch

import cxrlab
from cxrlab import chest
from cxrlab.audit import sha256_weights
from cxrlab.data import load_chest


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """One private data folder for the module; one torch thread (tiny tensors, busy CI CPUs)."""
    folder = tmp_path_factory.mktemp("data")
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CXRLAB_DATA", str(folder))
        patch.setenv("CXRLAB_OFFLINE", "1")  # never probe the network for ImageNet weights
        torch.set_num_threads(1)
        yield folder
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def rt(cache_dir):
    return cxrlab.setup(seed=0, mode="smoke", data=("chest",), quiet=True)


@pytest.fixture(scope="module")
def tiny(cache_dir):
    return load_chest(n=24, size=32, seed=0, source="phantom")


@pytest.fixture(scope="module")
def trained(rt, tiny):
    return chest.chest_model(rt, data=tiny, progress=False)


def test_trains_caches_and_reloads_without_training(rt, tiny, trained, cache_dir, monkeypatch):
    first = trained
    assert not first.from_cache and first.history.epochs == chest.chest_config(rt)["epochs"]
    assert first.cache_path.is_file() and first.cache_path.parent == cache_dir / "models"
    assert first.cache_path.name == f"chest-smoke-0-{first.version}.pt"
    assert not first.model.training and first.image_size == 32
    assert first.classes == ["normal", "pneumonia", "nodule"] and first.data is tiny
    # the hash an audit log records for this model (cxrlab.audit), so a logged prediction names its weights
    assert len(first.weights_sha256) == 64 and first.weights_sha256 == sha256_weights(first.model)
    assert "random initialisation" in first.weights_source

    def no_training(*args, **kwargs):
        raise AssertionError("the cached model should have been loaded, not trained")

    with monkeypatch.context() as patch:
        patch.setattr(chest, "fit", no_training)
        second = chest.chest_model(rt, data=tiny, progress=False)
    assert second.from_cache and second.weights_sha256 == first.weights_sha256
    assert second.version == first.version and second.history.train_loss == first.history.train_loss
    x = tiny.test.tensors[0]
    with torch.no_grad():
        assert torch.allclose(first.model(x), second.model(x), atol=1e-5)


def test_changed_data_retrain_and_damage_each_train_anew(rt, tiny, trained, capsys):
    other = load_chest(n=24, size=32, seed=1, source="phantom")
    changed = chest.chest_model(rt, data=other, progress=False)
    assert not changed.from_cache
    assert changed.version != trained.version and changed.cache_path != trained.cache_path
    changed.cache_path.write_bytes(b"damaged")
    again = chest.chest_model(rt, data=other, progress=False)
    assert not again.from_cache and "training again" in capsys.readouterr().out
    retrained = chest.chest_model(rt, data=other, retrain=True, progress=False)
    assert not retrained.from_cache and retrained.cache_path == changed.cache_path


def test_model_takes_images_in_unit_range_and_checks_shape(trained, tiny):
    cm = trained
    mean = cm.model.mean.flatten()
    np.testing.assert_allclose(mean.numpy(), tiny.train.tensors[0].mean(dim=(0, 2, 3)).numpy(), rtol=1e-5)
    assert cm.model.input_size == cm.image_size
    cells = cm.image_size // {1: 4, 2: 8, 3: 16, 4: 32}[int(_stage_of(cm.model)[-1])]
    assert cells >= chest.MIN_CAM_CELLS or _stage_of(cm.model) == "layer1"
    with pytest.raises(ValueError, match="expects"):
        cm.model(torch.zeros(2, 3, 32, 32))


def test_report_has_every_class_and_sane_values(trained, tiny):
    cm = trained
    report = chest.chest_report(cm, "test")
    assert list(report.index) == ["normal", "pneumonia", "nodule", "overall"]
    assert report.loc["overall", "support"] == len(tiny.test)
    assert report.loc[["normal", "pneumonia", "nodule"], "support"].sum() == len(tiny.test)
    assert ((report.accuracy >= 0) & (report.accuracy <= 1)).all()
    with pytest.raises(ValueError, match="split"):
        chest.chest_report(cm, "holdout")


def test_bad_arguments(rt):
    with pytest.raises(TypeError, match="cxrlab.setup"):
        chest.chest_model("cpu")
    with pytest.raises(TypeError, match="ChestBundle"):
        chest.chest_model(rt, data=(torch.zeros(1), torch.zeros(1)))


def test_config_per_mode():
    quick = cxrlab.setup(mode="quick", quiet=True, data=())
    full = cxrlab.setup(mode="full", quiet=True, data=())
    assert chest.chest_config(full)["size"] == 224
    assert chest.chest_config(quick)["size"] < chest.chest_config(full)["size"]


def test_grad_cam_layer_follows_the_input_size():
    import torchvision

    from cxrlab.chest import ChestNet

    net = ChestNet(torchvision.models.resnet18(num_classes=3), torch.zeros(3), torch.ones(3))
    expected = {32: "layer1", 55: "layer1", 56: "layer2", 64: "layer2", 111: "layer2", 112: "layer3",
                128: "layer3", 223: "layer3", 224: "layer4", 512: "layer4"}
    for size, stage in expected.items():
        net.input_size = size
        assert _stage_of(net) == stage == net.target_stage, size
        assert net.target_layer is getattr(net.backbone, stage)[-1]
    x = torch.rand(2, 3, 64, 64)
    net.input_size = 64
    shapes = []
    handle = net.target_layer.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape)) and None)
    net.eval()(x)
    handle.remove()
    assert shapes[0][-2:] == (8, 8)  # at least MIN_CAM_CELLS cells per side


def _stage_of(net) -> str:
    return next(name for name in ("layer1", "layer2", "layer3", "layer4")
                if net.target_layer is getattr(net.backbone, name)[-1])
