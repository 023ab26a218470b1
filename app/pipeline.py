"""What the demo app does with a file, without any user interface: check, de-identify in
memory, window, audit. Every step is a ``cxrlab`` function; this module only joins them.

The original file is held in memory only. De-identification (``cxrlab.dicom.deidentify``,
which reads and writes paths) runs on anonymous in-memory files (Linux ``memfd_create``:
no name in any folder, gone when closed); where the system lacks them, on a private
temporary folder that is deleted at once. Nothing here logs a value of the original
header: the app shows it masked, and the audit log refuses it (``forbidden_values``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue

from cxrlab.audit import AuditLog, sha256_pixels, verify_audit_log
from cxrlab.dicom import (
    DicomError,
    DicomImage,
    MissingDecoderError,
    NoPixelDataError,
    NotDicomError,
    UnsupportedPhotometricError,
    check_image,
    deidentify,
    read_image,
)

MAX_UPLOAD_MB = 64  #: larger files are refused before they are parsed
#: attributes that identify a patient, a study or a site (PS3.15 E.1-1), shown masked
IDENTIFYING = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientAge", "PatientAddress",
               "OtherPatientIDs", "AccessionNumber", "StudyDate", "StudyTime", "StudyID", "StudyInstanceUID",
               "InstitutionName", "InstitutionAddress", "ReferringPhysicianName", "OperatorsName",
               "PerformingPhysicianName", "StationName", "DeviceSerialNumber")
#: attributes whose original values the audit log must refuse (dates, times, sex, age and short
#: study numbers identify no one alone, and short numbers would match inside the log's hashes)
FORBIDDEN = ("PatientName", "PatientID", "OtherPatientIDs", "PatientBirthDate", "PatientAddress", "AccessionNumber",
             "InstitutionName", "InstitutionAddress", "ReferringPhysicianName", "OperatorsName",
             "PerformingPhysicianName", "StudyInstanceUID", "StationName", "DeviceSerialNumber")
#: window presets: name -> how to pick (center, width) from the image's own modality values
WINDOW_PRESETS = ("File's window (VOI)", "Full range (min-max)", "Lung (wide)", "Soft tissue (narrow)")
NOTHING_STORED = "Nothing was stored: no file was written and no audit record was made."


class InputError(ValueError):
    """A file the app cannot use; the message says why and what to do (and holds no PHI)."""


@dataclass
class Study:
    """One uploaded study after de-identification.

    ``dataset``: the de-identified header and pixels. ``masked_original``: rows
    (attribute, original masked, after de-identification). ``report``: what
    ``deidentify`` changed. ``study_id``: the study's pseudonym. ``input_sha256``: hash of
    the stored pixels. ``forbidden``: the original identifying values (memory only, for
    the audit log's refusal list; never shown, never written).
    """

    dataset: Dataset
    masked_original: list[dict[str, str]]
    report: dict
    study_id: str
    input_sha256: str
    forbidden: list[str] = field(repr=False)
    in_memory: bool = True


def mask(value: object) -> str:
    """A value hidden but for its length: ``'•••••••• (8 characters)'``; empty stays ``'(empty)'``."""
    text = str(value).strip()
    if not text:
        return "(empty)"
    return "•" * min(len(text), 12) + f" ({len(text)} character{'s' if len(text) != 1 else ''})"


@contextlib.contextmanager
def _memory_files(data: bytes) -> Iterator[tuple[Path, Path, bool]]:
    """(source path holding ``data``, empty destination path, in_memory) for path-based tools."""
    if hasattr(os, "memfd_create") and Path("/proc/self/fd").is_dir():
        src, dst = os.memfd_create("cxrlab-upload"), os.memfd_create("cxrlab-deidentified")
        try:
            os.write(src, data)
            yield Path(f"/proc/self/fd/{src}"), Path(f"/proc/self/fd/{dst}"), True
        finally:
            os.close(src)
            os.close(dst)
        return
    with tempfile.TemporaryDirectory(prefix="cxrlab-app-") as folder:  # pragma: no cover - not Linux
        os.chmod(folder, 0o700)
        src, dst = Path(folder) / "upload.dcm", Path(folder) / "deidentified.dcm"
        src.write_bytes(data)
        yield src, dst, False


def _forbidden_parts(text: str, *, person: bool) -> list[str]:
    """The value and, for a person name, each name part; hex-like values under 8 characters
    are left out (they would be found inside the log's SHA-256 strings by chance)."""
    parts = [text.strip()] + ([p for p in text.replace("^", " ").split()] if person else [])
    return [p for p in parts if len(p) >= 3 and not (len(p) < 8 and all(c in "0123456789abcdefABCDEF" for c in p))]


def _explain(error: Exception) -> str:
    if isinstance(error, NotDicomError):
        return ("This file is not DICOM (no 'DICM' marker after the 128-byte preamble). Upload a radiograph "
                "exported from the PACS as a .dcm file; photos, screenshots, PNG or JPEG files are not accepted.")
    if isinstance(error, NoPixelDataError):
        return ("This DICOM file holds no image (no Pixel Data): perhaps a report, a structured document or a "
                "presentation state. Upload the image file of the series.")
    if isinstance(error, UnsupportedPhotometricError):
        return ("This DICOM file is a colour image (e.g. an RGB photo or screenshot), not a grayscale "
                "radiograph (MONOCHROME1/MONOCHROME2). Upload the X-ray image itself.")
    if isinstance(error, MissingDecoderError):
        return ("This DICOM file is compressed with a syntax no installed decoder reads. Install the "
                "decoders (pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg) or export it uncompressed.")
    return ("This file could not be read as DICOM (it may be truncated or damaged): copy it again from the "
            "source and retry.")


def open_study(data: bytes, *, max_mb: float = MAX_UPLOAD_MB) -> Study:
    """Check an uploaded file and de-identify it in memory.

    Args:
        data: the file's bytes, as uploaded.
        max_mb: files larger than this many megabytes (10^6 bytes) are refused unread.
    Returns:
        The :class:`Study` (de-identified dataset, masked summary of the original).
    Raises:
        InputError: empty, too large, not DICOM, no pixel data, colour, undecodable.
    """
    if not isinstance(data, (bytes, bytearray)) or len(data) == 0:
        raise InputError("The file is empty. Upload a DICOM radiograph (.dcm).")
    if len(data) > max_mb * 1e6:
        raise InputError(f"The file is {len(data) / 1e6:.1f} MB; this demo accepts at most {max_mb:g} MB. "
                         "Upload a single radiograph, not a whole study archive.")
    with _memory_files(bytes(data)) as (src, dst, in_memory):
        try:
            original = pydicom.dcmread(src)
            check_image(original, "upload")
            report = deidentify(src, dst, overwrite=True)
            clean = pydicom.dcmread(dst)
            pixels = clean.pixel_array
        except InvalidDicomError as error:
            raise InputError(_explain(NotDicomError(str(error)))) from None
        except DicomError as error:
            raise InputError(_explain(error)) from None
        except Exception as error:  # noqa: BLE001 - truncated files raise many kinds of errors
            raise InputError(_explain(error)) from None
    rows, forbidden = [], []
    for keyword in IDENTIFYING:
        if keyword not in original:
            continue
        value = original.data_element(keyword).value
        text = "\\".join(map(str, value)) if isinstance(value, (list, MultiValue)) else str(value)
        if keyword in FORBIDDEN:
            forbidden.extend(_forbidden_parts(text, person=original.data_element(keyword).VR == "PN"))
        after = clean.get(keyword)
        rows.append({"attribute": keyword, "original (masked)": mask(text),
                     "de-identified": "(removed)" if after is None else (str(after) or "(empty)")})
    return Study(dataset=clean, masked_original=rows, report=report, study_id=report["study_pseudonym"],
                 input_sha256=sha256_pixels(pixels), forbidden=sorted(set(forbidden)),
                 in_memory=in_memory)


def header_table(ds: Dataset, limit: int = 60) -> list[dict[str, str]]:
    """The de-identified header as rows (tag, attribute, value), pixel data and sequences summarised."""
    rows = []
    for element in ds:
        if element.tag == 0x7FE00010:
            value = f"<{len(element.value)} bytes of pixel data>"
        elif element.VR == "SQ":
            value = f"<sequence, {len(element.value)} item(s)>"
        elif element.VR in ("OB", "OW", "OF", "UN"):
            value = f"<{element.VR} data>"
        else:
            value = str(element.value)
            value = value if len(value) <= limit else value[:limit - 3] + "..."
        rows.append({"tag": f"({element.tag.group:04X},{element.tag.element:04X})",
                     "attribute": element.keyword or element.name, "value": value})
    return rows


def window(ds: Dataset, preset: str) -> DicomImage:
    """The radiograph windowed by ``preset`` (one of WINDOW_PRESETS); MONOCHROME1 is inverted
    (``cxrlab.dicom.read_image``), so 1 = white = dense in every case."""
    if preset not in WINDOW_PRESETS:
        raise ValueError(f"window preset must be one of {WINDOW_PRESETS}, got {preset!r}")
    if preset == WINDOW_PRESETS[0]:
        return read_image(ds)
    if preset == WINDOW_PRESETS[1]:
        return read_image(ds, "minmax")
    base = read_image(ds, "minmax")
    low, median, high = np.percentile(base.modality, [1, 50, 99])
    spread = max(float(high - low), 1e-6)
    width = 1.5 * spread if preset == WINDOW_PRESETS[2] else 0.5 * spread
    return read_image(ds, (float(median), width))


def audit(path: str | os.PathLike, study: Study, *, model_version: str, weights_sha256: str,
          output: dict, extra: dict | None = None) -> tuple[dict, int]:
    """Append one record to the hash-chained audit log at ``path``; return (record, records in the
    verified chain). The log refuses any original identifying value of ``study``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    log = AuditLog(path, model_version=model_version, weights_sha256=weights_sha256, forbidden_values=study.forbidden)
    record = log.record(study_id=study.study_id, input_sha256=study.input_sha256, output=output, extra=extra)
    return record, verify_audit_log(path)
