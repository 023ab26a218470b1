"""Fetch real chest X-rays: ChestMNIST and PneumoniaMNIST (MedMNIST v2/v3), MD5-verified.

    python data_scripts/fetch.py chest                               # through the course's fetcher
    python data_scripts/chest.py --sets chestmnist --sizes 64 128    # or directly

- **ChestMNIST**: NIH ChestX-ray14's 112,120 frontal radiographs of 30,805 patients (Wang et
  al. 2017), 14 text-mined findings (multi-label), NIH's official patient-wise split,
  resized by MedMNIST (Yang et al. 2023). Default sizes 64 and 128 px.
- **PneumoniaMNIST**: 5,856 paediatric radiographs (Kermany et al. 2018), normal or
  pneumonia. Default sizes 28, 64 and 128 px.

Both are CC BY 4.0, from MedMNIST's Zenodo record 10519652. Each file is verified against
the MD5 that medmnist 3.0.2 publishes in its ``info.py`` (read from the wheel; the course does
not depend on the package), resumes a partial download, shows a progress bar and appears under
its final name only once verified. ``cxrlab.data.load_chest()`` then uses it instead of the
phantom stand-in: ChestMNIST first, PneumoniaMNIST when only that is present.
"""

from __future__ import annotations

import argparse
import json
import sys

from cxrlab.data.chest import CHESTMNIST, PNEUMONIAMNIST, REAL_SIZES, real_file_name, real_files  # noqa: E402
from cxrlab.data.paths import dataset_dir  # noqa: E402
from data_scripts.download import ChecksumError, DownloadError, download_first  # noqa: E402

ZENODO = "https://zenodo.org/records/10519652/files/"
#: MD5 of each file, as published in medmnist 3.0.2's ``INFO[name]["MD5"]`` / ``["MD5_<size>"]``.
MD5 = {
    CHESTMNIST: {
        28: "02c8a6516a18b556561a56cbdd36c4a8",
        64: "9de6cd0b934ebb5b7426cfba5efbae16",
        128: "db107e5590b27930b62dbaf558aebee3",
        224: "45bd33e6f06c3e8cdb481c74a89152aa",
    },
    PNEUMONIAMNIST: {
        28: "28209eda62fecd6e6a2d98b1501bb15f",
        64: "8f4eceb4ccffa70c672198ea285246c6",
        128: "05b46931834c231683c68f40c47b2971",
        224: "d6a3c71de1b945ea11211b03746c1fe1",
    },
}
PNEUMONIAMNIST_MD5 = MD5[PNEUMONIAMNIST]
CHESTMNIST_MD5 = MD5[CHESTMNIST]
IMAGES = {CHESTMNIST: 112_120, PNEUMONIAMNIST: 5_856}
#: Uncompressed pixel data of every image, in MB (images x size x size bytes).
PIXEL_MB = {name: {s: round(count * s * s / 1e6) for s in REAL_SIZES} for name, count in IMAGES.items()}
DEFAULT_SIZES = {CHESTMNIST: (64, 128), PNEUMONIAMNIST: (28, 64, 128)}
SETS = (CHESTMNIST, PNEUMONIAMNIST)


def urls_for(size: int, name: str = PNEUMONIAMNIST) -> list[str]:
    """Mirror URLs of MedMNIST set ``name`` at ``size`` pixels (Zenodo)."""
    if name not in MD5:
        raise ValueError(f"unknown set {name!r}; choose from {SETS}")
    if size not in MD5[name]:
        raise ValueError(f"{name} comes in sizes {', '.join(map(str, REAL_SIZES))}, not {size}")
    return [f"{ZENODO}{real_file_name(size, name)}?download=1"]


def fetch_chest(timeout: float, sizes: tuple[int, ...] | dict[str, tuple[int, ...]] | None = None,
                urls: dict | None = None, progress: bool = True, sets: tuple[str, ...] = SETS) -> str:
    """Put the chosen sets' ``.npz`` files in the data folder; return where they came from.

    Args:
        timeout: seconds to wait on a mirror before giving up on it.
        sizes: image sizes to fetch, one tuple for every set or a dict per set (default
            ``DEFAULT_SIZES``).
        urls: mirrors per file, keyed ``(name, size)`` (tests point these at a local server);
            a plain ``size`` key means PneumoniaMNIST.
        progress: progress bar per file.
        sets: which of "chestmnist", "pneumoniamnist".

    Returns:
        A sentence naming the source, or "already present".

    Raises:
        ValueError: an unknown set or size. ChecksumError: a file's bytes are wrong (the
        partial file is deleted, nothing written under the final name). DownloadError: some
        file could not be fetched from any mirror (the others are kept).
    """
    unknown = [s for s in sets if s not in MD5]
    if unknown or not sets:
        raise ValueError(f"sets must be chosen from {SETS}, got {sets}")
    per_set = {name: (sizes.get(name, DEFAULT_SIZES[name]) if isinstance(sizes, dict)
                      else (DEFAULT_SIZES[name] if sizes is None else tuple(sizes))) for name in sets}
    for name, wanted in per_set.items():
        bad = [s for s in wanted if s not in MD5[name]]
        if bad or not wanted:
            raise ValueError(f"sizes of {name} must be chosen from {REAL_SIZES}, got {wanted}")
    fetched, errors = [], []
    for name, wanted in per_set.items():
        folder = dataset_dir(name)
        present = real_files(folder, name)
        missing = [s for s in wanted if s not in present]
        for size in missing:
            mirrors = (urls or {}).get((name, size)) or (urls or {}).get(size if name == PNEUMONIAMNIST else None) \
                or urls_for(size, name)
            try:
                download_first(mirrors, folder / real_file_name(size, name), f"md5:{MD5[name][size]}",
                               timeout=timeout, progress=progress)
                fetched.append(f"{name}_{size}")
            except DownloadError as error:
                errors.append(f"{name} {size} px: {error}")
        if missing and real_files(folder, name):
            (folder / "SOURCE.json").write_text(json.dumps({
                "source": "Zenodo record 10519652 (MedMNIST), MD5-verified", "sizes": sorted(real_files(folder, name))}))
    if errors:
        kept = f" (fetched: {', '.join(fetched)})" if fetched else ""
        raise DownloadError("\n".join(errors) + kept)
    return "Zenodo record 10519652 (MedMNIST), MD5-verified" if fetched else "already present"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS), help="which sets to fetch")
    parser.add_argument("--sizes", type=int, nargs="+",
                        help=f"image sizes, from {REAL_SIZES} (default {DEFAULT_SIZES}; MB of pixels: {PIXEL_MB})")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait on a mirror (default 5)")
    args = parser.parse_args(argv)
    try:
        print(f"chest: {fetch_chest(args.timeout, tuple(args.sizes) if args.sizes else None, sets=tuple(args.sets))}")
    except (DownloadError, ChecksumError, ValueError, OSError) as error:
        print(f"chest: NOT fetched: {error}\nchapters will use what is present, else the phantom stand-in",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
