"""data_scripts: downloads from a local HTTP server on 127.0.0.1 (no internet needed)."""

import hashlib
import http.server
import socket
import threading
import time

import numpy as np
import pytest

from data_scripts import fetch, mnist_wheel
from data_scripts.download import ChecksumError, DownloadError, download, download_first, reachable

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict = {}
    ranges: list = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        header = self.headers.get("Range")
        self.ranges.append(header)
        if header:
            start = int(header.split("=")[1].split("-")[0])
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.files = {"/data.bin": PAYLOAD}
    _Handler.ranges = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler
    httpd.shutdown()


def md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_verifies_and_renames(server, tmp_path):
    base, _ = server
    dest = download(f"{base}/data.bin", tmp_path / "data.bin", md5(PAYLOAD), progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "data.bin.part").exists()


def test_bad_checksum_leaves_no_file(server, tmp_path):
    base, _ = server
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        download(f"{base}/data.bin", tmp_path / "data.bin", md5(b"something else"), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_partial_download_is_resumed_with_a_range_request(server, tmp_path):
    base, handler = server
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD[:40_000])
    download(f"{base}/data.bin", tmp_path / "data.bin", md5(PAYLOAD), progress=False)
    assert handler.ranges == ["bytes=40000-"]
    assert (tmp_path / "data.bin").read_bytes() == PAYLOAD


def test_unreachable_mirror_is_skipped_fast(server, tmp_path):
    base, _ = server
    dead = f"http://127.0.0.1:{_closed_port()}/data.bin"
    start = time.perf_counter()
    dest = download_first([dead, f"{base}/data.bin"], tmp_path / "d.bin", md5(PAYLOAD), timeout=2, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert time.perf_counter() - start < 5
    assert not reachable(dead, timeout=1)


def test_every_mirror_down_is_a_download_error(tmp_path):
    dead = f"http://127.0.0.1:{_closed_port()}/x"
    with pytest.raises(DownloadError, match="no mirror reachable"):
        download_first([dead], tmp_path / "x", md5(b""), timeout=1, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_fetch_mnist_from_local_mirror(server, tmp_path, monkeypatch, empty_data_dir):
    base, handler = server
    rng = np.random.default_rng(0)
    from cxrlab.data import load_mnist, write_idx

    served, checksums = {}, {}
    for name, shape in [("train-images-idx3-ubyte.gz", (120, 28, 28)), ("train-labels-idx1-ubyte.gz", (120,)),
                        ("t10k-images-idx3-ubyte.gz", (30, 28, 28)), ("t10k-labels-idx1-ubyte.gz", (30,))]:
        array = (np.arange(shape[0]) % 10).astype(np.uint8) if len(shape) == 1 else rng.integers(0, 256, shape, dtype=np.uint8)
        write_idx(tmp_path / name, array)
        served[f"/mnist/{name}"] = (tmp_path / name).read_bytes()
        checksums[name] = hashlib.md5(served[f"/mnist/{name}"]).hexdigest()
    handler.files = served
    monkeypatch.setattr(fetch, "MNIST_MD5", checksums)
    source = fetch.fetch_mnist(timeout=2, mirrors=[f"{base}/mnist/"], use_wheel=False)
    assert "mirror" in source
    bundle = load_mnist(val_size=10)
    assert not bundle.is_standin and bundle.sizes == {"train": 110, "val": 10, "test": 30}
    assert fetch.fetch_mnist(timeout=2, mirrors=[f"{base}/mnist/"]) == "already present"


def test_wheel_fallback_rejects_a_corrupted_array_and_writes_nothing(tmp_path):
    arrays = {
        "train_images": np.zeros((60000, 28, 28), dtype=np.uint8),
        "train_labels": np.repeat(np.arange(10, dtype=np.uint8), 6000),
        "test_images": np.zeros((10000, 28, 28), dtype=np.uint8),
        "test_labels": np.repeat(np.arange(10, dtype=np.uint8), 1000),
    }
    folder = tmp_path / "mnist"
    with pytest.raises(mnist_wheel.VerificationError, match="SHA-256"):
        mnist_wheel.write_mnist(arrays, folder, "test")
    assert not folder.exists() or list(folder.iterdir()) == []


def test_wheel_verification_checks_class_counts(monkeypatch):
    labels = np.repeat(np.arange(10, dtype=np.uint8), 6000)
    arrays = {"train_images": np.zeros(1, np.uint8), "train_labels": labels,
              "test_images": np.zeros(1, np.uint8), "test_labels": labels[:10000]}
    digests = {k: hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest() for k, v in arrays.items()}
    monkeypatch.setattr(mnist_wheel, "EXPECTED_SHA256", digests)
    with pytest.raises(mnist_wheel.VerificationError, match="class counts"):
        mnist_wheel.verify_arrays(arrays)


def test_cli_lists_sources_and_rejects_unknown_names(capsys, empty_data_dir):
    assert fetch.main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "mnist" in out and "stand-in" in out
    with pytest.raises(SystemExit):
        fetch.main(["imagenet"])
