"""The chest loader: phantom fallback that names itself, patient-level splits, the real path."""

import functools
import hashlib
import http.server
import json
import threading

import numpy as np
import pytest
import torch

from cxrlab.data import describe_source, load_chest, patient_split
from cxrlab.data.chest import REAL_CLASSES, ChestBundle, chest_source, real_file_name
from data_scripts import chest as chest_fetch
from data_scripts.download import ChecksumError


def test_fallback_is_the_phantom_set_and_says_so(empty_data_dir):
    bundle = load_chest(n=60, size=48, seed=1)
    assert isinstance(bundle, ChestBundle)
    assert bundle.is_standin and "phantom" in bundle.source and "fetch.py chest" in bundle.source
    assert "STAND-IN" in bundle.summary()
    assert chest_source().startswith("stand-in: synthetic phantom")
    assert describe_source("chest") == chest_source()
    assert bundle.classes == ["normal", "pneumonia", "nodule"]
    assert sum(bundle.sizes.values()) == 60
    x, y = bundle.train.tensors
    assert x.dtype == torch.float32 and x.shape[1:] == (1, 48, 48) and y.dtype == torch.int64
    assert 0 <= float(x.min()) and float(x.max()) <= 1


def test_splits_are_patient_level_and_metadata_lines_up(empty_data_dir):
    bundle = load_chest(n=90, size=32, seed=2, studies_per_patient=3)
    meta = bundle.metadata
    patients = [set(meta[s].patient_id) for s in ("train", "val", "test")]
    assert not (patients[0] & patients[1]) and not (patients[0] & patients[2]) and not (patients[1] & patients[2])
    for split in ("train", "val", "test"):
        labels = getattr(bundle, split).tensors[1].numpy()
        np.testing.assert_array_equal(meta[split].label.to_numpy(), labels)
    # every patient keeps all three studies together
    assert (meta["train"].groupby("patient_id").size() == 3).all()
    assert bundle.test_masks.shape == (len(bundle.test), 1, 32, 32) and bundle.test_masks.dtype == torch.bool
    has_mask = bundle.test_masks.flatten(1).any(1).numpy()
    np.testing.assert_array_equal(has_mask, bundle.test.tensors[1].numpy() > 0)
    assert not (bundle.test_masks & ~bundle.test_lungs).any()


def test_three_channels_repeat_the_grey_image(empty_data_dir):
    bundle = load_chest(n=30, size=32, channels=3)
    x = bundle.val.tensors[0]
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


@pytest.mark.parametrize("kwargs, words", [
    ({"source": "internet"}, "source must be one of"),
    ({"n": 2}, "at least 3"),
    ({"channels": 2}, "channels"),
])
def test_loader_bad_input(kwargs, words, empty_data_dir):
    with pytest.raises(ValueError, match=words):
        load_chest(**kwargs)


def test_real_source_missing_is_a_clear_error(empty_data_dir):
    with pytest.raises(FileNotFoundError, match="fetch.py chest"):
        load_chest(source="real")


def test_patient_split_bad_input():
    with pytest.raises(ValueError, match="sum below 1"):
        patient_split(["a", "b", "c"], [0, 1, 0], val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ValueError, match="at least 3 patients"):
        patient_split(["a", "a"], [0, 0])
    with pytest.raises(ValueError, match="differ in length"):
        patient_split(["a", "b"], [0])


def _fake_pneumoniamnist(path, size=28, seed=0):
    """A file laid out like MedMNIST's: uint8 images (N, s, s), labels (N, 1)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in (("train", 40), ("val", 10), ("test", 12)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (count, size, size), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(count) % 2).reshape(-1, 1).astype(np.uint8)
    np.savez_compressed(path, **arrays)
    return arrays


def test_real_path_is_used_when_present(empty_data_dir):
    folder = empty_data_dir / "pneumoniamnist"
    folder.mkdir()
    arrays = _fake_pneumoniamnist(folder / real_file_name(64), size=64)
    (folder / "SOURCE.json").write_text(json.dumps({"source": "a test file"}))
    assert chest_source().startswith("real PneumoniaMNIST")
    bundle = load_chest(size=32)
    assert not bundle.is_standin and bundle.classes == REAL_CLASSES
    assert "a test file" in bundle.source and "64 px file" in bundle.source
    assert bundle.sizes == {"train": 40, "val": 10, "test": 12}
    assert bundle.image_shape == (1, 32, 32)
    np.testing.assert_array_equal(bundle.test.tensors[1].numpy(), arrays["test_labels"].ravel())
    assert bundle.test_masks is None
    subset = load_chest(n=31, size=32)
    assert 25 <= sum(subset.sizes.values()) <= 36
    phantoms = load_chest(n=30, size=32, source="phantom")
    assert phantoms.is_standin


def test_damaged_real_file_says_how_to_fix(empty_data_dir):
    folder = empty_data_dir / "pneumoniamnist"
    folder.mkdir()
    (folder / real_file_name(28)).write_bytes(b"not an npz")
    with pytest.raises(ValueError, match="delete it"):
        load_chest(size=28)


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


def test_fetch_chest_from_a_local_mirror_verifies_md5(file_server, empty_data_dir, monkeypatch):
    root, base = file_server
    _fake_pneumoniamnist(root / "p28.npz")
    digest = hashlib.md5((root / "p28.npz").read_bytes()).hexdigest()
    monkeypatch.setitem(chest_fetch.PNEUMONIAMNIST_MD5, 28, digest)
    source = chest_fetch.fetch_chest(2.0, sizes=(28,), urls={28: [f"{base}/p28.npz"]}, progress=False)
    assert "MD5-verified" in source
    assert (empty_data_dir / "pneumoniamnist" / "pneumoniamnist.npz").is_file()
    assert chest_fetch.fetch_chest(2.0, sizes=(28,)) == "already present"
    assert load_chest(size=28).sizes["train"] == 40


def test_fetch_chest_rejects_wrong_bytes(file_server, empty_data_dir):
    root, base = file_server
    (root / "bad.npz").write_bytes(b"corrupted")
    with pytest.raises(ChecksumError):
        chest_fetch.fetch_chest(2.0, sizes=(64,), urls={64: [f"{base}/bad.npz"]}, progress=False)
    assert not (empty_data_dir / "pneumoniamnist" / real_file_name(64)).exists()
    with pytest.raises(ValueError, match="sizes"):
        chest_fetch.fetch_chest(2.0, sizes=(100,))


def test_published_checksums_and_urls():
    assert set(chest_fetch.PNEUMONIAMNIST_MD5) == {28, 64, 128, 224}
    assert all(len(v) == 32 for v in chest_fetch.PNEUMONIAMNIST_MD5.values())
    assert chest_fetch.urls_for(28)[0].endswith("pneumoniamnist.npz?download=1")
    assert chest_fetch.urls_for(128)[0].endswith("pneumoniamnist_128.npz?download=1")
