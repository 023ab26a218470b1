"""DICOM: reading a real radiograph to a model input, and de-identifying a folder.

Baselines are seed 000's functions, re-typed here in substance: ``load_dicom_xray`` (getattr
on the window tags, no MONOCHROME1, torchvision resize) and ``anonymise_dicom_metadata``
(nine tags overwritten with a string, then saved). They do less than cxrlab (the seed's
reader shows a MONOCHROME1 chest inverted, its anonymiser leaves dates, UIDs and private
tags), so a ratio below 1 is the price of doing it right; the note says what each does.
"""

from __future__ import annotations

import tempfile
import tracemalloc
from pathlib import Path

import numpy as np

from .common import Row, median_time

SEED_PHI_TAGS = ["PatientName", "PatientID", "PatientBirthDate", "PatientSex", "InstitutionName",
                 "ReferringPhysicianName", "StudyDescription", "OperatorsName", "StudyID"]


def seed_load_dicom_xray(path: str, size: int = 224):
    """Seed 000's reader (its window logic as written), resized to a (1, size, size) tensor."""
    import pydicom
    import torch
    import torchvision.transforms.functional as TF

    ds = pydicom.dcmread(path)
    pixels = ds.pixel_array.astype(np.float32)
    pixels = pixels * float(getattr(ds, "RescaleSlope", 1.0)) + float(getattr(ds, "RescaleIntercept", 0.0))
    centre = getattr(ds, "WindowCenter", pixels.mean())
    width = getattr(ds, "WindowWidth", pixels.std() * 4)
    centre = float(centre[0] if isinstance(centre, pydicom.multival.MultiValue) else centre)
    width = float(width[0] if isinstance(width, pydicom.multival.MultiValue) else width)
    low = centre - width / 2
    pixels = (np.clip(pixels, low, low + width) - low) / (width + 1e-8)
    return TF.resize(torch.from_numpy(pixels).unsqueeze(0), [size, size], antialias=True)


def cxrlab_load(path: str, size: int = 224):
    from cxrlab.dicom import load, to_model_input

    return to_model_input(load(path), size, channels=1)


def seed_anonymise(src: Path, dst: Path) -> None:
    import pydicom

    ds = pydicom.dcmread(src)
    for tag in SEED_PHI_TAGS:
        if hasattr(ds, tag):
            setattr(ds, tag, "ANONYMISED")
    ds.save_as(dst)


def _peak_mib(fn) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2 ** 20
    finally:
        tracemalloc.stop()


def run(*, tiny: bool = False, repeats: int = 3) -> list[Row]:
    from pydicom.data import get_testdata_file

    from cxrlab.dicom import DeidSession, deidentify_folder, fake_identity, write_dx
    from cxrlab.phantom import generate

    rows = []
    for name in ("RG1_UNCR.dcm", "RG1_J2KR.dcm"):
        path = get_testdata_file(name)
        if path is None:
            raise FileNotFoundError(f"{name} not found: pip install pydicom-data")
        seed_s = median_time(lambda: seed_load_dicom_xray(path), repeats)
        ours_s = median_time(lambda: cxrlab_load(path), repeats)
        seed_mem, ours_mem = _peak_mib(lambda: seed_load_dicom_xray(path)), _peak_mib(lambda: cxrlab_load(path))
        rows.append(Row("dicom", f"{name} to a 224x224 model input", "seed 000 load_dicom_xray",
                        1000 * seed_s, 1000 * ours_s, "ms/file", higher_is_better=False,
                        note=f"peak Python memory {seed_mem:.0f} MiB (seed) vs {ours_mem:.0f} MiB (cxrlab); "
                             "the seed ignores MONOCHROME1, so its chest comes out inverted"))
    n_files = 10 if tiny else 200
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        phantoms = generate(n_files, size=256, seed=3, progress=False)
        for i in range(n_files):
            write_dx(src / f"study{i:03d}.dcm", phantoms.images[i], identity=fake_identity(i))

        def seed_folder():
            out = Path(tempfile.mkdtemp(dir=tmp))
            for f in sorted(src.glob("*.dcm")):
                seed_anonymise(f, out / f.name)

        def ours_folder():
            out = Path(tempfile.mkdtemp(dir=tmp))
            deidentify_folder(src, out, DeidSession())

        seed_s = median_time(seed_folder, repeats, warmup=False)
        ours_s = median_time(ours_folder, repeats, warmup=False)
    rows.append(Row("dicom", f"de-identify a folder of {n_files} phantom DICOM files", "seed 000 anonymise (9 tags)",
                    n_files / seed_s, n_files / ours_s, "files/s", higher_is_better=True,
                    note="cxrlab applies the PS3.15 Basic Profile (dates, UIDs, private tags, sequences); "
                         "the seed overwrites 9 tags and keeps the rest"))
    return rows
