"""DICOM: a real radiograph to a model input, and de-identifying a folder, side by side with peers.

Reading (``cxrlab.dicom.load`` + ``to_model_input``, the chest radiograph RG1 of pydicom-data
to a 1 x 224 x 224 input) is compared with

- **the pydicom decode limit**: ``pydicom.dcmread``, ``ds.pixel_array``, ``astype(float32)``
  and one antialiased bilinear resize (torch), with nothing else: no modality LUT, no
  window, no MONOCHROME1, no padding. It is the floor of what the hardware must do;
- **a typical tutorial pipeline**: getattr on the window tags, float arithmetic, torchvision
  resize, no MONOCHROME1 (its chest comes out inverted).

Peak memory is tracemalloc's peak (numpy and pydicom allocations; the torch buffers of
these pipelines are all small), as a multiple of the float32 image.

De-identification of one folder of 200 DX files (phantom radiographs, 256 x 256, with an
invented identity in each header) is compared, on the same files in one run, with
**dicognito 0.19** (its default ``Anonymizer``), **pydicom/deid 0.4** (``replace_identifiers``
with its default recipe, private tags removed), **a bare pydicom read-and-save round
trip** (the floor: read every file, write it back) and **a typical tutorial anonymiser**
(nine tags overwritten). cxrlab applies the whole PS3.15 Table E.1-1 with two options.
Timings are interleaved (tool by tool within each repeat) and the median is reported. Each
time is the CPU time of this process (``time.process_time``), with torch on one thread: the
course machines are shared, and wall time there measures the other users' load as much as
the code (on an idle machine the two agree, as every step here is single-threaded).
"""

from __future__ import annotations

import statistics
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from .common import Row

TUTORIAL_PHI_TAGS = ["PatientName", "PatientID", "PatientBirthDate", "PatientSex", "InstitutionName",
                     "ReferringPhysicianName", "StudyDescription", "OperatorsName", "StudyID"]


def tutorial_load_dicom_xray(path: str, size: int = 224):
    """A typical tutorial reader (its window logic as commonly written), resized to (1, size, size)."""
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


def pydicom_decode_limit(path: str, size: int = 224):
    """pydicom's decode, float32 and one antialiased resize: nothing else."""
    import pydicom
    import torch
    import torch.nn.functional as F

    pixels = pydicom.dcmread(path).pixel_array.astype(np.float32)
    return F.interpolate(torch.from_numpy(pixels)[None, None], size=(size, size), mode="bilinear",
                         align_corners=False, antialias=True)[0]


def cxrlab_load(path: str, size: int = 224):
    from cxrlab.dicom import load, to_model_input

    return to_model_input(load(path), size, channels=1)


def tutorial_anonymise(src: Path, dst: Path) -> None:
    import pydicom

    ds = pydicom.dcmread(src)
    for tag in TUTORIAL_PHI_TAGS:
        if hasattr(ds, tag):
            setattr(ds, tag, "ANONYMISED")
    ds.save_as(dst)


def _peak_mib(fn: Callable[[], object]) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2 ** 20
    finally:
        tracemalloc.stop()


def _interleaved(tools: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median CPU seconds per tool, the tools taking turns within each repeat (noise hits all alike)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    times: dict[str, list[float]] = {name: [] for name in tools}
    try:
        for _ in range(repeats):
            for name, fn in tools.items():
                start = time.process_time()
                fn()
                times[name].append(time.process_time() - start)
    finally:
        torch.set_num_threads(threads)
    return {name: statistics.median(values) for name, values in times.items()}


def _read_rows(repeats: int) -> list[Row]:
    import pydicom
    from pydicom.data import get_testdata_file

    rows = []
    for name in ("RG1_UNCR.dcm", "RG1_J2KR.dcm"):
        path = get_testdata_file(name)
        if path is None:
            raise FileNotFoundError(f"{name} not found: pip install pydicom-data")
        for fn in (pydicom_decode_limit, cxrlab_load, tutorial_load_dicom_xray):
            fn(path)  # warm-up
        timed = _interleaved({"limit": lambda: pydicom_decode_limit(path), "cxrlab": lambda: cxrlab_load(path),
                              "tutorial": lambda: tutorial_load_dicom_xray(path)}, repeats)
        rows.append(Row("dicom", f"{name} to a 224x224 model input", "the pydicom decode limit",
                        1000 * timed["limit"], 1000 * timed["cxrlab"], "ms/file", higher_is_better=False,
                        note="the limit: dcmread + pixel_array + float32 + one antialiased resize, nothing "
                             "else; cxrlab adds Bits Stored masking, rescale, window, padding, MONOCHROME1"))
        rows.append(Row("dicom", f"{name} to a 224x224 model input", "a typical tutorial pipeline",
                        1000 * timed["tutorial"], 1000 * timed["cxrlab"], "ms/file", higher_is_better=False,
                        note="the tutorial reader ignores MONOCHROME1, so its chest comes out inverted"))
        if name == "RG1_UNCR.dcm":
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            image_mib = int(ds.Rows) * int(ds.Columns) * 4 / 2 ** 20
            limit_mem = _peak_mib(lambda: pydicom_decode_limit(path)) / image_mib
            ours_mem = _peak_mib(lambda: cxrlab_load(path)) / image_mib
            rows.append(Row("dicom", f"{name}: peak memory / float32 image ({image_mib:.1f} MiB)",
                            "the pydicom decode limit", limit_mem, ours_mem, "x image", higher_is_better=False,
                            note="tracemalloc peak of the whole read, file bytes included; the goal is <= 2x"))
    return rows


def _deid_rows(n_files: int, repeats: int) -> list[Row]:
    import pydicom

    from cxrlab.dicom import DeidSession, deidentify_folder, fake_identity, write_dx
    from cxrlab.phantom import generate

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        phantoms = generate(n_files, size=256, seed=3, progress=False)
        for i in range(n_files):
            write_dx(src / f"study{i:03d}.dcm", phantoms.images[i], identity=fake_identity(i))
        files = sorted(src.glob("*.dcm"))

        def fresh() -> Path:
            return Path(tempfile.mkdtemp(dir=tmp))

        def ours():
            deidentify_folder(src, fresh(), DeidSession())

        def round_trip():
            out = fresh()
            for f in files:
                pydicom.dcmread(f).save_as(out / f.name)

        def tutorial():
            out = fresh()
            for f in files:
                tutorial_anonymise(f, out / f.name)

        def dicognito_folder():
            from dicognito.anonymizer import Anonymizer

            out, anonymizer = fresh(), Anonymizer()
            for f in files:
                ds = pydicom.dcmread(f)
                anonymizer.anonymize(ds)
                ds.save_as(out / f.name)

        def deid_folder():
            from deid.dicom import replace_identifiers
            from deid.logger import bot

            bot.level = 0  # its progress messages are not part of the work
            replace_identifiers([str(f) for f in files], save=True, output_folder=str(fresh()),
                                remove_private=True)

        tools = {"cxrlab": ours, "round trip": round_trip, "tutorial": tutorial}
        for name, fn in (("dicognito", dicognito_folder), ("deid", deid_folder)):
            try:
                __import__({"dicognito": "dicognito", "deid": "deid.dicom"}[name])
                tools[name] = fn
            except ImportError:
                pass
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            timed = _interleaved(tools, repeats)
        what = f"de-identify a folder of {n_files} DX files"
        ours_rate = n_files / timed["cxrlab"]
        if "dicognito" in timed:
            rows.append(Row("dicom", what, "dicognito 0.19", n_files / timed["dicognito"], ours_rate, "files/s",
                            higher_is_better=True, note="dicognito: its default Anonymizer (PS3.15-inspired, "
                            "random replacements); goal >= 1.5x"))
        if "deid" in timed:
            rows.append(Row("dicom", what, "pydicom/deid 0.4", n_files / timed["deid"], ours_rate, "files/s",
                            higher_is_better=True, note="deid: replace_identifiers, default recipe, private "
                            "tags removed"))
        rows.append(Row("dicom", what, "a bare pydicom read-and-save round trip", n_files / timed["round trip"],
                        ours_rate, "files/s", higher_is_better=True,
                        note="the floor: read and write back, no change; goal >= 0.5x"))
        rows.append(Row("dicom", what, "a typical tutorial pipeline (9 tags)", n_files / timed["tutorial"],
                        ours_rate, "files/s", higher_is_better=True,
                        note="cxrlab applies all of PS3.15 Table E.1-1 (652 rows) with two options; the "
                             "tutorial overwrites 9 tags and keeps dates, UIDs and private tags"))
    return rows


def run(*, tiny: bool = False, repeats: int = 3) -> list[Row]:
    """The read-path and de-identification rows (``tiny``: 10 files instead of 200)."""
    return _read_rows(1 if tiny else max(repeats, 5)) + _deid_rows(10 if tiny else 200, repeats)

