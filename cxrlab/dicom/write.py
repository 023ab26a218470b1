"""Write a radiograph array as a DX (digital X-ray) or CR DICOM file with a valid header.

The header holds what a modality would write for a chest PA: the Patient, General Study,
General Series, DX Series, General Equipment, General Image, Image Pixel, DX Anatomy
Imaged, DX Image, DX Detector, VOI LUT and SOP Common modules (PS3.3 A.26 and A.2).
Pass an ``identity`` (e.g. from :func:`cxrlab.dicom.fake_identity`) to fill the
patient, staff and site attributes with realistic (invented) PHI, including a nested
sequence and a private block, as real files carry them.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.sr.codedict import codes as sr_codes
from pydicom.uid import UID, ExplicitVRLittleEndian, JPEG2000Lossless, RLELossless, generate_uid

SOP_CLASSES = {
    "DX": UID("1.2.840.10008.5.1.4.1.1.1.1"),  # Digital X-Ray Image Storage - For Presentation
    "CR": UID("1.2.840.10008.5.1.4.1.1.1"),    # Computed Radiography Image Storage
}
COMPRESSION = {"rle": RLELossless, "jpeg2000": JPEG2000Lossless}
PRIVATE_CREATOR = "CXRLAB FAKE PACS 1.0"

# Attributes of `identity` that go to the top level of the dataset as they are.
_IDENTITY_KEYWORDS = (
    "PatientName", "PatientID", "IssuerOfPatientID", "OtherPatientIDs", "PatientBirthDate",
    "PatientSex", "PatientAge", "PatientAddress", "PatientTelephoneNumbers", "AdditionalPatientHistory",
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "ReferringPhysicianName",
    "PerformingPhysicianName", "OperatorsName", "StationName", "Manufacturer", "ManufacturerModelName",
    "DeviceSerialNumber", "DetectorID", "AccessionNumber", "StudyID", "StudyDate", "StudyTime",
    "StudyDescription", "ImageComments",
)


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _stored_values(image: np.ndarray, bits_stored: int, photometric: str) -> np.ndarray:
    """Floats in [0, 1] -> unsigned integers (MONOCHROME1 flipped); integers checked and kept."""
    if np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all() or image.min() < 0 or image.max() > 1:
            raise ValueError("a float image must hold finite values in [0, 1] (1 = dense = white); "
                             f"got {float(np.nanmin(image)):.3g} to {float(np.nanmax(image)):.3g}. "
                             "Pass integers to store raw detector values instead")
        top = 2 ** bits_stored - 1
        stored = np.rint(image * top).astype(np.uint16)
        return top - stored if photometric == "MONOCHROME1" else stored
    if np.issubdtype(image.dtype, np.integer):
        signed = np.issubdtype(image.dtype, np.signedinteger) and image.min() < 0
        lo, hi = (-(2 ** (bits_stored - 1)), 2 ** (bits_stored - 1) - 1) if signed else (0, 2 ** bits_stored - 1)
        if image.min() < lo or image.max() > hi:
            raise ValueError(f"integer pixel values {int(image.min())} to {int(image.max())} do not fit in "
                             f"{bits_stored} {'signed' if signed else 'unsigned'} bits; raise bits_stored (<= 16)")
        return image.astype(np.int16 if signed else np.uint16)
    raise ValueError(f"image must hold floats in [0, 1] or integers, got dtype {image.dtype}")


def write_dx(path: str | os.PathLike, image: np.ndarray, *, identity: Mapping[str, Any] | None = None,
             modality: str | None = None, photometric: str = "MONOCHROME2", bits_stored: int = 12,
             window: tuple[float, float] | Sequence[tuple[float, float]] | str | None = "full",
             rescale: tuple[float, float] = (1.0, 0.0), view: str = "PA",
             pixel_spacing_mm: float = 0.15, compress: str | None = None,
             study_uid: str | None = None, series_uid: str | None = None, instance_number: int = 1,
             extra: Mapping[str, Any] | None = None, overwrite: bool = False) -> Path:
    """Write ``image`` as a chest radiograph DICOM file at ``path`` and return the path.

    ``image``: (rows, cols) floats in [0, 1] (1 = dense = white), scaled to ``bits_stored``
    bits (MONOCHROME1 files store the flipped values, as CR readers do); or integers,
    stored as they are (negative ones as signed pixels). ``modality``: ``"DX"`` or ``"CR"``.
    ``window``: ``"full"`` writes the window that maps the stored range back to [0, 1]
    exactly; ``(center, width)`` or a list of them (modality units) writes those; ``None``
    writes none. ``rescale = (slope, intercept)`` goes to Rescale Slope/Intercept.
    ``compress``: ``None``, ``"rle"`` (RLE Lossless) or ``"jpeg2000"`` (lossless).
    ``extra``: keyword -> value set last (e.g. ``VOILUTFunction``). Never overwrites an
    existing file unless ``overwrite=True``. The header follows the DX (PS3.3 A.26) or CR
    (A.2) IOD closely enough that dciodvfy reports no error (tested).

    Args:
        path: the new file; its folder must exist.
        image: (rows, cols) floats in [0, 1] or integers (see above).
        identity: as described above, and so are ``modality``, ``photometric``,
            ``bits_stored``, ``window``, ``rescale``, ``view``, ``pixel_spacing_mm``,
            ``compress``, ``study_uid``, ``series_uid``, ``instance_number``, ``extra`` and
            ``overwrite``.

    Returns:
        ``path`` as a Path.

    Raises:
        FileExistsError: the file exists (and ``overwrite`` is False).
        FileNotFoundError: its folder does not exist.
        ValueError: an image, modality, photometric, bit depth, window, rescale or
            compression that is not allowed (each message names the fix).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True or choose another name")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"folder {path.parent} does not exist; create it first (path.parent.mkdir(parents=True))")
    if modality is not None and str(modality).upper() not in SOP_CLASSES:
        raise ValueError(f"modality must be 'DX' or 'CR' (or None to choose), got {modality!r}")
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ValueError(f"photometric must be 'MONOCHROME1' or 'MONOCHROME2', got {photometric!r}")
    if isinstance(bits_stored, bool) or not isinstance(bits_stored, int) or not 8 <= bits_stored <= 16:
        raise ValueError(f"bits_stored must be an integer from 8 to 16, got {bits_stored!r}")
    if compress is not None and compress not in COMPRESSION:
        raise ValueError(f"compress must be None or one of {', '.join(COMPRESSION)}, got {compress!r}")
    array = np.asarray(image)
    if array.ndim != 2 or min(array.shape) < 2:
        raise ValueError(f"image must be one 2-D radiograph (rows, cols), got shape {array.shape}")
    stored = _stored_values(array, bits_stored, photometric)
    slope, intercept = (float(v) for v in rescale)
    if slope == 0:
        raise ValueError("rescale slope must not be 0")
    plain = stored.dtype.kind == "u" and (slope, intercept) == (1.0, 0.0)
    if modality is None:
        modality = "DX" if plain else "CR"
    modality = str(modality).upper()
    if modality == "DX" and not plain:
        raise ValueError("a DX For Presentation image needs unsigned pixels and rescale (1, 0) (PS3.3 "
                         "C.8.11.3.1.3); pass modality='CR' (or None) for signed or rescaled pixels")

    who = dict(identity or {})
    today = dt.date.today().strftime("%Y%m%d")
    study_date, study_time = str(who.get("StudyDate", today)), str(who.get("StudyTime", "120000"))
    entropy = [str(who.get("AccessionNumber", "")), str(who.get("PatientID", "")), study_date, study_time]
    study_uid = UID(study_uid) if study_uid else generate_uid(entropy_srcs=entropy if who else None)
    series_uid = UID(series_uid) if series_uid else generate_uid(entropy_srcs=[str(study_uid), "series", modality])
    sop_uid = generate_uid(entropy_srcs=[str(series_uid), "instance", str(instance_number), path.name])

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = SOP_CLASSES[modality]
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    # SOP Common
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID, ds.SOPInstanceUID = SOP_CLASSES[modality], sop_uid
    ds.InstanceCreationDate, ds.InstanceCreationTime = study_date, study_time
    # Patient (Type 2: present, possibly empty)
    ds.PatientName, ds.PatientID = "", ""
    ds.PatientBirthDate, ds.PatientSex = "", ""
    # General Study
    ds.StudyInstanceUID = study_uid
    ds.StudyDate, ds.StudyTime = study_date, study_time
    ds.ReferringPhysicianName, ds.StudyID, ds.AccessionNumber = "", "", ""
    # General Series / DX Series
    ds.Modality = modality
    ds.SeriesInstanceUID, ds.SeriesNumber = series_uid, 1
    ds.SeriesDate, ds.SeriesTime = study_date, study_time
    ds.BodyPartExamined, ds.ViewPosition = "CHEST", str(view).upper()
    ds.PresentationIntentType = "FOR PRESENTATION"
    # General Equipment
    ds.Manufacturer = ""
    # General Image / General Acquisition
    ds.InstanceNumber = int(instance_number)
    ds.PatientOrientation = ["L", "F"]
    ds.ContentDate, ds.ContentTime = study_date, study_time
    ds.AcquisitionDate, ds.AcquisitionTime = study_date, study_time
    ds.AcquisitionDateTime = f"{study_date}{study_time}.000000"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    # DX Anatomy Imaged
    ds.ImageLaterality = "U"
    # codes of DICOM CID 4031 (anatomic region) and CID 4010 (DX view), SNOMED CT (SCT), from
    # pydicom's code dictionary, which is generated from PS3.16 (the old SRT designator is deprecated)
    chest = sr_codes.SCT.Chest
    ds.AnatomicRegionSequence = DicomSequence([_code(chest.value, chest.scheme_designator, chest.meaning)])
    view = sr_codes.SCT.PosteroAnterior if ds.ViewPosition == "PA" else sr_codes.SCT.AnteroPosterior
    ds.ViewCodeSequence = DicomSequence([_code(view.value, view.scheme_designator, view.meaning)])
    ds.ViewCodeSequence[0].ViewModifierCodeSequence = DicomSequence()  # Type 2 (PS3.3 C.8.11.5)
    if modality == "DX":
        ds.PositionerType = ""  # Type 2 (DX Positioning, PS3.3 C.8.11.5)
        ds.AcquisitionContextSequence = DicomSequence()  # Type 2 (Acquisition Context, PS3.3 C.7.6.14)
    # DX Image
    ds.PixelIntensityRelationship = "LOG"
    ds.PixelIntensityRelationshipSign = 1 if photometric == "MONOCHROME1" else -1
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = f"{intercept:g}", f"{slope:g}", "US"
    ds.PresentationLUTShape = "INVERSE" if photometric == "MONOCHROME1" else "IDENTITY"
    # DX Detector and acquisition
    ds.DetectorType = "SCINTILLATOR"
    ds.ImagerPixelSpacing = [f"{pixel_spacing_mm:g}", f"{pixel_spacing_mm:g}"]
    ds.PixelSpacing = [f"{pixel_spacing_mm:g}", f"{pixel_spacing_mm:g}"]
    ds.KVP, ds.ExposureTime, ds.XRayTubeCurrent = "120", "8", "250"
    ds.DistanceSourceToDetector = "1800"
    # Image Pixel
    ds.set_pixel_data(stored, photometric, bits_stored)
    # VOI LUT
    if isinstance(window, str):
        if window != "full":
            raise ValueError(f"window must be 'full', None, (center, width) or a list of them, got {window!r}")
        # PS3.3 C.11.2.1.2.1: center 2**(b-1) and width 2**b map 0 .. 2**b - 1 onto 0 .. 1 exactly
        middle = 0 if int(ds.PixelRepresentation) == 1 else 2 ** (bits_stored - 1)
        windows = [(middle * slope + intercept, 2 ** bits_stored * abs(slope))]
    elif window is None:
        windows = []
    elif np.ndim(window) == 1:
        windows = [tuple(window)]
    else:
        windows = [tuple(w) for w in window]
    if windows:
        if any(len(w) != 2 or float(w[1]) <= 0 for w in windows):
            raise ValueError(f"each window must be (center, width) with width > 0, got {windows}")
        centers = [f"{float(c):g}" for c, _ in windows]
        widths = [f"{float(w):g}" for _, w in windows]
        ds.WindowCenter = centers if len(centers) > 1 else centers[0]
        ds.WindowWidth = widths if len(widths) > 1 else widths[0]

    if who:
        _add_identity(ds, who)
    for keyword, value in (extra or {}).items():
        setattr(ds, keyword, value)
    if compress is not None:
        if compress == "jpeg2000" and min(stored.shape) < 32:
            raise ValueError(f"JPEG 2000 needs an image of at least 32 x 32 pixels, got {stored.shape}; "
                             "use compress='rle' or None for small images")
        try:
            ds.compress(COMPRESSION[compress])
        except RuntimeError as error:
            raise ValueError(f"could not compress as {COMPRESSION[compress].name}: {error}; install "
                             "pylibjpeg-rle / pylibjpeg-openjpeg, or pass compress=None") from error
    ds.save_as(path, enforce_file_format=True)
    return path


def _add_identity(ds: Dataset, who: Mapping[str, Any]) -> None:
    """Put the identity's PHI where real files carry it: top level, a sequence, a private block."""
    for keyword in _IDENTITY_KEYWORDS:
        if keyword in who:
            setattr(ds, keyword, who[keyword])
    # Order information, nested as in a modality worklist (PS3.3 C.4.10)
    request = Dataset()
    request.RequestedProcedureID = str(who.get("RequestedProcedureID", ""))
    request.AccessionNumber = str(who.get("AccessionNumber", ""))
    request.RequestedProcedureDescription = str(who.get("StudyDescription", ""))
    request.ScheduledProcedureStepID = f"SPS{str(who.get('RequestedProcedureID', ''))[-5:]}"
    ds.RequestAttributesSequence = DicomSequence([request])
    if "OtherPatientIDs" in who:
        other = Dataset()
        other.PatientID = str(who["OtherPatientIDs"])
        other.IssuerOfPatientID = "NATIONAL HEALTH REGISTER"
        other.TypeOfPatientID = "TEXT"
        ds.OtherPatientIDsSequence = DicomSequence([other])
    # Vendors often copy identifiers into private tags, which de-identification must drop.
    block = ds.private_block(0x0029, PRIVATE_CREATOR, create=True)
    block.add_new(0x10, "LO", str(who.get("PatientID", "")))
    block.add_new(0x11, "LO", str(who.get("PatientName", "")).replace("^", " "))
    block.add_new(0x12, "DA", str(who.get("PatientBirthDate", "")))


__all__ = ["write_dx", "SOP_CLASSES", "PRIVATE_CREATOR"]
