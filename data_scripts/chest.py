"""Fetch real chest X-rays: PneumoniaMNIST (MedMNIST v2/v3) with its published MD5 sums.

    python data_scripts/fetch.py chest            # through the course's fetcher
    python data_scripts/chest.py --sizes 64 128   # or directly, choosing the image sizes

PneumoniaMNIST holds 5,856 paediatric chest radiographs (Kermany et al. 2018), labelled
normal or pneumonia, centre-cropped and resized by MedMNIST (Yang et al. 2023) to 28, 64,
128 or 224 pixels, in MedMNIST's train/val/test splits (CC BY 4.0). Each file comes from
Zenodo, is verified against the MD5 that the ``medmnist`` package publishes, resumes a
partial download and appears under its final name only once verified. ``cxrlab.data.
load_chest()`` then uses it instead of the phantom stand-in.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cxrlab.data.chest import REAL_NAME, REAL_SIZES, real_file_name, real_files  # noqa: E402
from cxrlab.data.paths import dataset_dir  # noqa: E402
from data_scripts.download import ChecksumError, DownloadError, download_first  # noqa: E402

ZENODO = "https://zenodo.org/records/10519652/files/"
#: MD5 of each file, as published in medmnist 3.0.2's ``INFO["pneumoniamnist"]``.
PNEUMONIAMNIST_MD5 = {
    28: "28209eda62fecd6e6a2d98b1501bb15f",
    64: "8f4eceb4ccffa70c672198ea285246c6",
    128: "05b46931834c231683c68f40c47b2971",
    224: "d6a3c71de1b945ea11211b03746c1fe1",
}
#: Uncompressed pixel data of all 5,856 images, in MB (5,856 x size x size bytes).
PIXEL_MB = {s: round(5856 * s * s / 1e6) for s in PNEUMONIAMNIST_MD5}
DEFAULT_SIZES = (28, 64, 128)


def urls_for(size: int) -> list[str]:
    """Mirror URLs of the PneumoniaMNIST file at ``size`` pixels (Zenodo first)."""
    if size not in PNEUMONIAMNIST_MD5:
        raise ValueError(f"PneumoniaMNIST comes in sizes {', '.join(map(str, REAL_SIZES))}, not {size}")
    name = real_file_name(size)
    return [f"{ZENODO}{name}?download=1"]


def fetch_chest(timeout: float, sizes: tuple[int, ...] = DEFAULT_SIZES, urls: dict[int, list[str]] | None = None,
                progress: bool = True) -> str:
    """Put PneumoniaMNIST's ``.npz`` files (the given sizes) in the data folder.

    Returns where they came from. ``timeout``: seconds to wait on a mirror before giving
    up on it. ``urls``: mirrors per size (tests point these at local files). Raises
    DownloadError when no mirror answers and ChecksumError when the bytes are wrong (the
    partial file is then deleted, nothing is written under the final name).
    """
    bad = [s for s in sizes if s not in PNEUMONIAMNIST_MD5]
    if bad or not sizes:
        raise ValueError(f"sizes must be chosen from {REAL_SIZES}, got {sizes}")
    folder = dataset_dir(REAL_NAME)
    present = real_files(folder)
    wanted = [s for s in sizes if s not in present]
    if not wanted:
        return "already present"
    for size in wanted:
        mirrors = (urls or {}).get(size) or urls_for(size)
        download_first(mirrors, folder / real_file_name(size), f"md5:{PNEUMONIAMNIST_MD5[size]}",
                       timeout=timeout, progress=progress)
    source = "Zenodo record 10519652 (MedMNIST), MD5-verified"
    (folder / "SOURCE.json").write_text(json.dumps({"source": source, "sizes": sorted(real_files(folder))}))
    return source


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES),
                        help=f"image sizes to fetch, from {REAL_SIZES} (default {DEFAULT_SIZES}; "
                             f"MB of pixels each: {PIXEL_MB})")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait on a mirror (default 5)")
    args = parser.parse_args(argv)
    try:
        print(f"chest: {fetch_chest(args.timeout, tuple(args.sizes))}")
    except (DownloadError, ChecksumError, ValueError, OSError) as error:
        print(f"chest: NOT fetched: {error}\nchapters will use the phantom stand-in", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
