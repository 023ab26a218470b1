"""Fetch the real NIH ChestX-ray14 metadata table into ``$CXRLAB_DATA/nih14/``.

    python data_scripts/nih_table.py            # fetch (about 29 MB from the package index)
    python data_scripts/nih_table.py --check    # verify what is on disk

The table ``Data_Entry_2017_v2020.csv.gz`` (112,120 images: age, sex, view, findings)
ships inside the ``torchxrayvision`` wheel. The wheel is fetched with ``pip download
--no-deps`` into a temporary folder (never installed), the member is extracted, its
SHA-256 checked, and only then renamed into place. Exit status 0 on success, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from cxrlab.data.nih_table import FILENAME, SHA256, nih_table_path  # noqa: E402
from data_scripts.download import file_digest, pip_download_wheel  # noqa: E402

WHEEL = "torchxrayvision==1.5.7"
MEMBER = f"torchxrayvision/data/{FILENAME}"


class VerificationError(RuntimeError):
    """The extracted table does not have the expected SHA-256; nothing was written."""


def fetch(dest: Path | None = None, timeout: float = 15.0, wheel: Path | None = None) -> Path:
    """Put the verified table at ``dest`` (default: the data folder); return its path.

    ``wheel``: use an already downloaded wheel instead of calling pip. An existing file with
    the right checksum is kept as it is.
    """
    dest = Path(dest) if dest is not None else nih_table_path()
    if dest.is_file() and file_digest(dest, "sha256") == SHA256:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        tmp_path = Path(tmp)
        wheel = wheel or pip_download_wheel(WHEEL, tmp_path, timeout)
        with zipfile.ZipFile(wheel) as archive:
            if MEMBER not in archive.namelist():
                raise VerificationError(f"{wheel.name} does not contain {MEMBER}")
            part = tmp_path / (FILENAME + ".part")
            with archive.open(MEMBER) as src, open(part, "wb") as out:
                for block in iter(lambda: src.read(1 << 20), b""):
                    out.write(block)
        digest = file_digest(part, "sha256")
        if digest != SHA256:
            raise VerificationError(f"{MEMBER}: SHA-256 {digest} differs from {SHA256}; nothing written")
        os.replace(part, dest)
    (dest.parent / "SOURCE.json").write_text(json.dumps(
        {"source": f"{WHEEL} wheel on PyPI, SHA-256-verified", "sha256": SHA256}))
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only verify the file on disk")
    parser.add_argument("--wheel", type=Path, help="use this downloaded torchxrayvision wheel")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds pip waits on the network")
    args = parser.parse_args(argv)
    path = nih_table_path()
    if args.check:
        ok = path.is_file() and file_digest(path, "sha256") == SHA256
        print(f"{path}: {'OK' if ok else 'missing or wrong checksum'}")
        return 0 if ok else 1
    try:
        print(f"nih14 table: {fetch(path, args.timeout, args.wheel)}")
        return 0
    except (subprocess.SubprocessError, OSError, VerificationError) as error:
        print(f"nih14 table NOT fetched ({type(error).__name__}): {error}; chapter 10 runs without it",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
