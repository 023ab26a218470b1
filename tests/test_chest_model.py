"""The shared chest model: multi-label, trains on what load_chest() returns, caches, reloads
without training, and its cache key follows the data."""

import numpy as np
import pytest
import torch

import cxrlab
from cxrlab import chest_model as chest
from cxrlab.audit import sha256_weights
from cxrlab.data import load_chest
from cxrlab.nets.chest import MIN_CAM_CELLS, ChestNet
from cxrlab.phantom import FINDINGS


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
    return load_chest(n=40, size=32, seed=0, source="phantom", enrichment=3)


@pytest.fixture(scope="module")
def trained(rt, tiny):
    return chest.chest_model(rt, data=tiny, progress=False)


def test_trains_caches_and_reloads_without_training(rt, tiny, trained, cache_dir, monkeypatch):
    first = trained
    assert not first.from_cache and first.history.epochs == chest.chest_config(rt)["epochs"]
    assert first.cache_path.is_file() and first.cache_path.parent == cache_dir / "models"
    assert first.cache_path.name == f"chest-smoke-0-{first.version}.pt"
    assert not first.model.training and first.image_size == 32
    assert first.classes == list(FINDINGS) and first.data is tiny and first.model.classes == first.classes
    assert len(first.weights_sha256) == 64 and first.weights_sha256 == sha256_weights(first.model)
    assert "random initialisation" in first.weights_source
    # the loss it was trained with: BCE with pos_weight = negatives / positives per finding
    assert first.history.loss == "weighted_bce"
    y = tiny.train.tensors[1]
    expected = ((len(y) - y.sum(0)) / y.sum(0).clamp_min(1)).clamp(max=first.config["max_pos_weight"])
    np.testing.assert_allclose(first.pos_weight.to_numpy(), expected.numpy(), rtol=1e-5)

    def no_training(*args, **kwargs):
        raise AssertionError("the cached model should have been loaded, not trained")

    with monkeypatch.context() as patch:
        patch.setattr(chest, "train_chest", no_training)
        second = chest.chest_model(rt, data=tiny, progress=False)
    assert second.from_cache and second.weights_sha256 == first.weights_sha256
    assert second.version == first.version and second.history.train_loss == first.history.train_loss
    x = tiny.test.tensors[0]
    with torch.no_grad():
        assert torch.allclose(first.model(x), second.model(x), atol=1e-5)


def test_default_data_is_what_load_chest_finds(rt, monkeypatch):
    seen = {}

    def fake_load_chest(**kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop here")

    monkeypatch.setattr(chest, "load_chest", fake_load_chest)
    with pytest.raises(RuntimeError, match="stop here"):
        chest.chest_model(rt, progress=False)
    assert seen["source"] == "auto"                       # nothing hard-coded
    cfg = chest.chest_config(rt)
    assert seen["enrichment"] == cfg["enrichment"] and seen["lesion_contrast"] == cfg["lesion_contrast"]


def test_changed_data_retrain_and_damage_each_train_anew(rt, tiny, trained, capsys):
    other = load_chest(n=40, size=32, seed=1, source="phantom", enrichment=3)
    assert chest.data_fingerprint(other) != chest.data_fingerprint(tiny)
    changed = chest.chest_model(rt, data=other, progress=False)
    assert not changed.from_cache
    assert changed.version != trained.version and changed.cache_path != trained.cache_path
    changed.cache_path.write_bytes(b"damaged")
    again = chest.chest_model(rt, data=other, progress=False)
    assert not again.from_cache and "training again" in capsys.readouterr().out
    retrained = chest.chest_model(rt, data=other, retrain=True, progress=False)
    assert not retrained.from_cache and retrained.cache_path == changed.cache_path


def test_predictions_are_independent_sigmoids(trained, tiny):
    probs, labels = trained.predict("test")
    assert probs.shape == labels.shape == (len(tiny.test), 6)
    with torch.no_grad():
        logits = trained.model(tiny.test.tensors[0])
    torch.testing.assert_close(probs, torch.sigmoid(logits), atol=1e-5, rtol=1e-5)
    assert (probs.sum(1) != 1).any()                       # not a softmax
    with pytest.raises(ValueError, match="split"):
        trained.predict("holdout")


def test_model_takes_images_in_unit_range_and_checks_shape(trained, tiny):
    cm = trained
    np.testing.assert_allclose(cm.model.mean.flatten().numpy(), tiny.train.tensors[0].mean(dim=(0, 2, 3)).numpy(),
                               rtol=1e-5)
    assert cm.model.input_size == cm.image_size
    with pytest.raises(ValueError, match="expects"):
        cm.model(torch.zeros(2, 3, 32, 32))


def test_report_has_every_finding_and_sane_values(trained, tiny):
    report = chest.chest_report(trained, "test", n_resamples=50)
    assert list(report.index) == list(FINDINGS) + ["macro average"]
    rows = report.loc[list(FINDINGS)]
    np.testing.assert_array_equal(rows.positives.to_numpy(dtype=int), tiny.test.tensors[1].sum(0).numpy().astype(int))
    auroc = rows.auroc.dropna()
    assert ((auroc >= 0) & (auroc <= 1)).all()
    assert (rows.interval_unit == "patients").all()
    assert report.loc["cardiomegaly", "CheXNet AUROC (published)"] == "0.925"


def test_bad_arguments(rt):
    with pytest.raises(TypeError, match="cxrlab.setup"):
        chest.chest_model("cpu")
    with pytest.raises(TypeError, match="ChestBundle"):
        chest.chest_model(rt, data=(torch.zeros(1), torch.zeros(1)))


def test_config_per_mode_names_its_factors():
    quick = cxrlab.setup(mode="quick", quiet=True, data=())
    full = cxrlab.setup(mode="full", quiet=True, data=())
    assert chest.chest_config(full)["size"] == 224 and chest.chest_config(full)["enrichment"] == 1.0
    assert chest.chest_config(quick)["size"] < chest.chest_config(full)["size"]
    for cfg in (chest.chest_config(quick), chest.chest_config(full)):
        assert {"enrichment", "lesion_contrast", "loss", "epochs", "max_pos_weight"} <= set(cfg)


def test_grad_cam_layer_follows_the_input_size():
    import torchvision

    net = ChestNet(torchvision.models.resnet18(num_classes=3), torch.zeros(3), torch.ones(3))
    expected = {32: "layer1", 55: "layer1", 56: "layer2", 64: "layer2", 111: "layer2", 112: "layer3",
                128: "layer3", 223: "layer3", 224: "layer4", 512: "layer4"}
    for size, stage in expected.items():
        net.input_size = size
        assert stage == net.target_stage, size
        assert net.target_layer is getattr(net.backbone, stage)[-1]
    x = torch.rand(2, 3, 64, 64)
    net.input_size = 64
    shapes = []
    handle = net.target_layer.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape)) and None)
    net.eval()(x)
    handle.remove()
    assert shapes[0][-2:] == (8, 8) and 8 >= MIN_CAM_CELLS
