"""Every file of pydicom's test data and of pydicom-data: a finite image in [0, 1] or a DicomError.

``pydicom.data.get_testdata_files("*")`` lists pydicom's own test files and those of the
``pydicom-data`` package (153 files here, from many vendors, modalities and transfer
syntaxes, including broken ones on purpose). For each file:

- ``load`` returns a float32 (rows, cols) image, finite, in [0, 1] (frame 0 of a multi-frame
  file), or raises a ``DicomError`` subclass; any other exception fails the test;
- each file that loads is de-identified, and ``find_values`` must find none of its person
  names (and their components), identifiers or dates (DA, DT) in the copy.

The whole corpus is run (about 8 s of CPU time, 20-45 s wall on this shared 2-core machine;
most of it decoding the JPEG 2000
radiographs RG1/RG3); the counts are printed (``pytest -s``).
"""

import collections
import os
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.multival import MultiValue

from cxrlab import dicom

IDENTIFIERS = ("PatientID", "OtherPatientIDs", "AccessionNumber", "StudyID", "IssuerOfPatientID",
               "MedicalRecordLocator", "AdmissionID", "RequestedProcedureID", "PerformedProcedureStepID")


def corpus() -> list[str]:
    from pydicom.data import get_testdata_files

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom-data warns that it cannot download its extra files
        return sorted(f for f in get_testdata_files("*") if os.path.isfile(f))


def phi_of(path: str) -> list[str]:
    """Person names (and components), identifiers and dates anywhere in the file."""
    ds = pydicom.dcmread(path, force=True)
    values = set()
    for elem in ds.iterall():
        items = list(elem.value) if isinstance(elem.value, MultiValue) else [elem.value]
        if elem.VR == "PN":
            for item in items:
                text = str(item or "")
                values.add(text)
                values.update(part for part in text.replace("=", "^").split("^") if len(part.strip()) > 2)
        elif elem.VR in ("DA", "DT") or elem.keyword in IDENTIFIERS:
            values.update(str(item) for item in items if item)
    return sorted(v for v in values if len(v.strip()) >= 3)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_every_corpus_file_loads_or_is_refused_clearly_and_deidentifies_without_leaks(tmp_path):
    files = corpus()
    if len(files) < 100:
        pytest.skip(f"only {len(files)} test files: install pydicom-data for the full corpus")
    counts: collections.Counter = collections.Counter()
    wrong, leaks = {}, {}
    checked = 0
    for index, path in enumerate(files):
        name = Path(path).name
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    image = dicom.load(path)
                except dicom.DicomError as error:
                    if "frames; pass frame=" not in str(error):
                        raise
                    image = dicom.load(path, frame=0)
        except dicom.DicomError as error:
            counts[f"refused: {type(error).__name__}"] += 1
            continue
        except Exception as error:  # the test's point: nothing else may escape
            wrong[name] = f"{type(error).__name__}: {error}"
            continue
        if not (image.dtype == np.float32 and image.ndim == 2 and np.isfinite(image).all()
                and image.min() >= 0 and image.max() <= 1):
            wrong[name] = f"bad image: {image.dtype} {image.shape} {np.nanmin(image)}..{np.nanmax(image)}"
            continue
        counts["loaded"] += 1
        phi = phi_of(path)
        checked += len(dicom.find_values(path, phi))
        out = tmp_path / f"{index}.dcm"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # a fixed secret makes the new UIDs and pseudonyms repeatable: with a random one, a
            # short PHI value (StudyID "4900") now and then turned up by chance inside a fresh
            # 39-digit UID (2.25.2198...4900...), about once in 200 runs for that file
            dicom.deidentify(path, out, dicom.DeidSession(b"corpus-test-secret-0123"))
        found = dicom.find_values(out, phi)
        if found:
            leaks[name] = found
    print(f"\ncorpus: {len(files)} files; " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
          + f"; leaks {len(leaks)}; PHI values found in the sources {checked}")
    assert wrong == {}
    assert leaks == {}
    assert counts["loaded"] >= 50 and checked >= 200  # the check is meaningful: PHI was there to find
