"""The chest loader: multi-label bundles from ChestMNIST, PneumoniaMNIST or phantoms, each naming
itself; patient-level splits; the fetcher against a local server with MedMNIST's real layout."""

import functools
import hashlib
import http.server
import json
import threading

import numpy as np
import pytest
import torch

import cxrlab
from cxrlab.data import describe_source, load_chest, patient_split
from cxrlab.data.chest import (
    CHESTMNIST_CLASSES,
    PNEUMONIAMNIST_CLASSES,
    ChestBundle,
    available_source,
    chest_source,
    real_file_name,
)
from cxrlab.phantom import FINDINGS
from data_scripts import chest as chest_fetch
from data_scripts.download import ChecksumError, DownloadError


def test_fallback_is_the_phantom_set_and_says_so(empty_data_dir):
    bundle = load_chest(n=60, size=48, seed=1, enrichment=2)
    assert isinstance(bundle, ChestBundle) and bundle.dataset == "phantom" and bundle.display_name == "Phantom"
    assert bundle.is_standin and "phantom" in bundle.source and "fetch.py chest" in bundle.source
    assert "STAND-IN" in bundle.summary() and "6 findings" in bundle.summary() and "enrichment 2" in bundle.summary()
    assert chest_source().startswith("stand-in: synthetic phantom") and available_source() == "phantom"
    assert describe_source("chest") == chest_source()
    assert bundle.classes == list(FINDINGS) == bundle.findings
    assert sum(bundle.sizes.values()) == 60
    x, y = bundle.train.tensors
    assert x.dtype == torch.float32 and x.shape[1:] == (1, 48, 48)
    assert y.dtype == torch.float32 and y.shape == (len(x), 6) and set(y.unique().tolist()) <= {0.0, 1.0}
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    assert bundle.prevalence().shape == (6, 3)


def test_splits_are_patient_level_and_masks_line_up(empty_data_dir):
    bundle = load_chest(n=90, size=32, seed=2, studies_per_patient=3, enrichment=3)
    meta = bundle.metadata
    patients = [set(meta[s].patient_id) for s in ("train", "val", "test")]
    assert not (patients[0] & patients[1]) and not (patients[0] & patients[2]) and not (patients[1] & patients[2])
    assert (meta["train"].groupby("patient_id").size() == 3).all()
    assert bundle.patient_ids("test") is not None and "patients" in bundle.summary()
    assert set(meta["test"].columns) >= {"age", "sex", "view", "site", "findings"}
    masks = bundle.test_masks
    assert masks.shape == (len(bundle.test), 6, 32, 32) and masks.dtype == torch.bool
    # a finding has a mask exactly where the label says it is present
    np.testing.assert_array_equal(masks.flatten(2).any(2).numpy(), bundle.test.tensors[1].numpy() > 0)
    lesions = masks[:, [k for k, f in enumerate(FINDINGS) if f != "cardiomegaly"]].any(1)
    assert not (lesions & ~bundle.test_lungs[:, 0]).any()   # lung findings lie in the lungs


def test_three_channels_repeat_the_grey_image(empty_data_dir):
    x = load_chest(n=30, size=32, channels=3).val.tensors[0]
    assert x.shape[1] == 3 and torch.equal(x[:, 0], x[:, 2])


def test_patient_split_fractions_and_stratification():
    patients = np.repeat([f"p{i}" for i in range(100)], 2)
    labels = np.repeat(np.arange(100) % 2, 2)
    train, val, test = patient_split(patients, labels, val_fraction=0.2, test_fraction=0.3, seed=0)
    assert len(train) + len(val) + len(test) == 200
    assert len(np.unique(patients[test])) == 30 and len(np.unique(patients[val])) == 20
    assert labels[test].mean() == pytest.approx(0.5)
    assert not set(patients[train]) & set(patients[test])
    again = patient_split(patients, labels, val_fraction=0.2, test_fraction=0.3, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip((train, val, test), again))


def test_multi_label_split_deals_out_the_rare_finding():
    patients = np.arange(200).astype(str)
    labels = np.zeros((200, 2))
    labels[:, 0] = np.arange(200) % 2       # common
    labels[:20, 1] = 1                      # rare: 20 patients
    train, val, test = patient_split(patients, labels, val_fraction=0.25, test_fraction=0.25, seed=1)
    assert labels[test, 1].sum() == 5 and labels[val, 1].sum() == 5 and labels[train, 1].sum() == 10


@pytest.mark.parametrize("kwargs, words", [
    ({"source": "internet"}, "source must be one of"),
    ({"n": 2}, "at least 3"),
    ({"channels": 2}, "channels"),
    ({"enrichment": 0.5}, "enrichment"),
])
def test_loader_bad_input(kwargs, words, empty_data_dir):
    with pytest.raises(ValueError, match=words):
        load_chest(**kwargs)


@pytest.mark.parametrize("source", ["real", "chestmnist", "pneumoniamnist"])
def test_real_source_missing_is_a_clear_error(source, empty_data_dir):
    with pytest.raises(FileNotFoundError, match="fetch.py chest"):
        load_chest(source=source)


def test_patient_split_bad_input():
    with pytest.raises(ValueError, match="sum below 1"):
        patient_split(["a", "b", "c"], [0, 1, 0], val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ValueError, match="at least 3 patients"):
        patient_split(["a", "a"], [0, 0])
    with pytest.raises(ValueError, match="differ in length"):
        patient_split(["a", "b"], [0])


def _medmnist_file(path, findings, size, seed=0, counts=(("train", 40), ("val", 10), ("test", 12))):
    """A file laid out like MedMNIST's: uint8 images (N, s, s), uint8 labels (N, F)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in counts:
        arrays[f"{split}_images"] = rng.integers(0, 256, (count, size, size), dtype=np.uint8)
        labels = (rng.random((count, findings)) < 0.3).astype(np.uint8)
        labels[0], labels[1] = 1, 0           # every finding has a positive and a negative
        arrays[f"{split}_labels"] = labels
    np.savez_compressed(path, **arrays)
    return arrays


def test_pneumoniamnist_is_one_finding_when_only_it_is_present(empty_data_dir):
    folder = empty_data_dir / "pneumoniamnist"
    folder.mkdir()
    arrays = _medmnist_file(folder / real_file_name(64), 1, 64)
    (folder / "SOURCE.json").write_text(json.dumps({"source": "a test file"}))
    assert chest_source().startswith("real PneumoniaMNIST") and available_source() == "pneumoniamnist"
    bundle = load_chest(size=32)
    assert not bundle.is_standin and bundle.classes == PNEUMONIAMNIST_CLASSES and bundle.dataset == "pneumoniamnist"
    assert "a test file" in bundle.source and "64 px file" in bundle.source and "1 finding" in bundle.summary()
    assert bundle.sizes == {"train": 40, "val": 10, "test": 12} and bundle.image_shape == (1, 32, 32)
    np.testing.assert_array_equal(bundle.test.tensors[1].numpy(), arrays["test_labels"].astype(np.float32))
    assert bundle.test_masks is None and bundle.patient_ids() is None
    assert 25 <= sum(load_chest(n=31, size=32).sizes.values()) <= 36
    assert load_chest(n=30, size=32, source="phantom").is_standin


def test_damaged_real_file_says_how_to_fix(empty_data_dir):
    folder = empty_data_dir / "chestmnist"
    folder.mkdir()
    (folder / real_file_name(64, "chestmnist")).write_bytes(b"not an npz")
    with pytest.raises(ValueError, match="delete it"):
        load_chest(size=64)
    _medmnist_file(folder / real_file_name(64, "chestmnist"), 3, 64)   # 3 columns, not 14
    with pytest.raises(ValueError, match="14"):
        load_chest(size=64)


@pytest.fixture
def file_server(tmp_path):
    root = tmp_path / "mirror"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_chestmnist_fetched_from_a_local_server_is_what_the_chest_model_trains_on(
        file_server, empty_data_dir, monkeypatch, capsys):
    """The real path end to end: fetch (MD5-verified) -> banner -> load_chest -> chest_model(rt).data."""
    root, base = file_server
    urls = {}
    for size in (64, 128):
        _medmnist_file(root / f"c{size}.npz", 14, size, seed=size, counts=(("train", 24), ("val", 8), ("test", 8)))
        monkeypatch.setitem(chest_fetch.MD5[chest_fetch.CHESTMNIST], size,
                            hashlib.md5((root / f"c{size}.npz").read_bytes()).hexdigest())
        urls[("chestmnist", size)] = [f"{base}/c{size}.npz"]
    assert "MD5-verified" in chest_fetch.fetch_chest(2.0, urls=urls, progress=False, sets=("chestmnist",))
    folder = empty_data_dir / "chestmnist"
    assert sorted(p.name for p in folder.glob("*.npz")) == ["chestmnist_128.npz", "chestmnist_64.npz"]
    assert chest_fetch.fetch_chest(2.0, sets=("chestmnist",)) == "already present"

    monkeypatch.setenv("CXRLAB_OFFLINE", "1")
    rt = cxrlab.setup(seed=0, mode="smoke", data=("chest",))
    banner = capsys.readouterr().out
    assert "real ChestMNIST" in banner and "14 findings" in banner
    from cxrlab.chest_model import chest_model

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cm = chest_model(rt, progress=False)
    finally:
        torch.set_num_threads(threads)
    assert cm.data.dataset == "chestmnist" and cm.data.display_name == "ChestMNIST" and not cm.data.is_standin
    assert cm.classes == CHESTMNIST_CLASSES and len(cm.classes) == 14
    assert "ChestMNIST" in cm.data.summary() and "14 findings" in cm.data.summary()
    assert "ChestMNIST" in cm.summary() and cm.model(cm.data.test.tensors[0][:2]).shape == (2, 14)


def test_fetch_pneumoniamnist_from_a_local_mirror_verifies_md5(file_server, empty_data_dir, monkeypatch):
    root, base = file_server
    _medmnist_file(root / "p28.npz", 1, 28)
    monkeypatch.setitem(chest_fetch.PNEUMONIAMNIST_MD5, 28, hashlib.md5((root / "p28.npz").read_bytes()).hexdigest())
    source = chest_fetch.fetch_chest(2.0, sizes=(28,), urls={28: [f"{base}/p28.npz"]}, progress=False,
                                     sets=("pneumoniamnist",))
    assert "MD5-verified" in source
    assert (empty_data_dir / "pneumoniamnist" / "pneumoniamnist.npz").is_file()
    assert load_chest(size=28).sizes["train"] == 40


def test_fetch_chest_rejects_wrong_bytes_and_reports_unreachable(file_server, empty_data_dir):
    root, base = file_server
    (root / "bad.npz").write_bytes(b"corrupted")
    with pytest.raises(ChecksumError):
        chest_fetch.fetch_chest(2.0, sizes=(64,), urls={("chestmnist", 64): [f"{base}/bad.npz"]}, progress=False,
                                sets=("chestmnist",))
    assert not (empty_data_dir / "chestmnist" / real_file_name(64, "chestmnist")).exists()
    with pytest.raises(DownloadError, match="chestmnist 64"):
        chest_fetch.fetch_chest(1.0, sizes=(64,), urls={("chestmnist", 64): [f"{base}/absent.npz"]},
                                progress=False, sets=("chestmnist",))
    with pytest.raises(ValueError, match="sizes"):
        chest_fetch.fetch_chest(2.0, sizes=(100,))


def test_published_checksums_and_urls():
    """The MD5s are medmnist 3.0.2's (INFO["chestmnist"]["MD5_64"] etc.), 32 hex digits each."""
    assert chest_fetch.CHESTMNIST_MD5[64] == "9de6cd0b934ebb5b7426cfba5efbae16"
    assert chest_fetch.CHESTMNIST_MD5[128] == "db107e5590b27930b62dbaf558aebee3"
    for table in chest_fetch.MD5.values():
        assert set(table) == {28, 64, 128, 224} and all(len(v) == 32 for v in table.values())
    assert chest_fetch.urls_for(64, "chestmnist")[0] == \
        "https://zenodo.org/records/10519652/files/chestmnist_64.npz?download=1"
    assert chest_fetch.urls_for(28)[0].endswith("pneumoniamnist.npz?download=1")
    assert chest_fetch.DEFAULT_SIZES["chestmnist"] == (64, 128)
