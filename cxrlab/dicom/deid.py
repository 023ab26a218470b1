"""De-identify a radiograph's DICOM header, following DICOM PS3.15 Annex E.

The Basic Application Level Confidentiality Profile (PS3.15 E.1, Table E.1-1) lists,
for every attribute that can identify a person, an action: remove it (X), empty it (Z),
replace it with a dummy (D) or replace a UID (U). This module applies it to the
attributes a chest radiograph carries, plus two options (PS3.15 E.3):

- *Retain Longitudinal Temporal Information with Modified Dates*: every date is shifted
  by the same number of days for one patient (so intervals between studies survive),
  times of day are kept;
- *Retain Patient Characteristics*: sex, age, size and weight are kept (age is capped
  at 90 years, as HIPAA's Safe Harbor asks, and computed from the birth date, which is
  removed, when the file has no age).

Also: UIDs are replaced consistently within a session (the same input UID always gets
the same new UID), private tags and overlays are removed, nested sequences are cleaned
item by item, any remaining person name is emptied, and free text (LT, ST, UT) and
attributes of unknown meaning (VR UN) are removed.
The pixel data is not touched: text burned into the pixels is not removed (that is the
Clean Pixel Data option, not applied here; a warning says so when the file declares it).
The source file is never modified; a new file is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID_dictionary

from .read import read_dataset

if TYPE_CHECKING:
    import pandas as pd

# De-identification Method (0012,0063) is LO: at most 64 characters per value, several values
PROFILE = ("DICOM PS3.15 E.1 Basic Application Confidentiality Profile",
           "Retain Longitudinal Temporal Information Modified Dates Option",
           "Retain Patient Characteristics Option", "cxrlab.dicom.deidentify")
# PS3.16 CID 7050 "De-identification Method"
METHOD_CODES = (("113100", "Basic Application Confidentiality Profile"),
                ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
                ("113108", "Retain Patient Characteristics Option"))

# PS3.15 Table E.1-1 actions for the attributes a radiograph header may carry.
REMOVE = frozenset({
    # patient
    "OtherPatientIDs", "OtherPatientIDsSequence", "OtherPatientNames", "PatientBirthName",
    "PatientMotherBirthName", "PatientAddress", "PatientTelephoneNumbers", "PatientBirthTime",
    "PatientInsurancePlanCodeSequence", "MilitaryRank", "BranchOfService", "MedicalRecordLocator",
    "Occupation", "EthnicGroup", "CountryOfResidence", "RegionOfResidence", "PatientReligiousPreference",
    "AdditionalPatientHistory", "PatientComments", "MedicalAlerts", "Allergies", "PatientState",
    "IssuerOfPatientID", "AdmissionID", "ReferencedPatientSequence",
    # site, staff and device
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "InstitutionCodeSequence",
    "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers",
    "ReferringPhysicianIdentificationSequence", "PhysiciansOfRecord", "PerformingPhysicianName",
    "PerformingPhysicianIdentificationSequence", "NameOfPhysiciansReadingStudy", "OperatorsName",
    "OperatorIdentificationSequence", "RequestingPhysician", "ConsultingPhysicianName", "StationName",
    "DeviceSerialNumber", "DetectorID", "PlateID", "CassetteID", "GantryID", "TimezoneOffsetFromUTC",
    "ResponsiblePerson", "ResponsibleOrganization",
    # order, descriptions and free text
    "RequestAttributesSequence", "ReferencedStudySequence", "ReferencedPerformedProcedureStepSequence",
    "RequestedProcedureID", "RequestedProcedureDescription", "ScheduledProcedureStepID",
    "PerformedProcedureStepID", "PerformedProcedureStepDescription", "ReasonForTheRequestedProcedure",
    "FillerOrderNumberImagingServiceRequest", "PlacerOrderNumberImagingServiceRequest",
    "StudyDescription", "SeriesDescription", "ProtocolName", "ImageComments", "StudyComments",
    "AcquisitionComments", "DerivationDescription", "PersonName", "DataSetTrailingPadding",
})
EMPTY = frozenset({"AccessionNumber", "ReferringPhysicianName", "PatientBirthDate", "ContentCreatorName"})
PSEUDONYM = frozenset({"PatientName", "PatientID", "StudyID"})
FREE_TEXT_VRS = ("LT", "ST", "UT")
FILE_META_REMOVE = ("SourceApplicationEntityTitle", "SendingApplicationEntityTitle",
                    "ReceivingApplicationEntityTitle", "PrivateInformationCreatorUID", "PrivateInformation")


class DeidSession:
    """The secrets of one de-identification run: keeps pseudonyms, UIDs and date shifts consistent.

    Files de-identified with the same session get the same new UID for the same old UID,
    the same pseudonym for the same patient and the same date shift (in days, negative)
    for the same patient. ``secret`` (bytes) makes a run repeatable; by default it is
    random, so nobody without it can map pseudonyms back. Never store the secret (or
    ``uid_map``) next to the de-identified files.
    """

    def __init__(self, secret: bytes | None = None, *, date_shift_days: int | None = None) -> None:
        if secret is not None and (not isinstance(secret, bytes) or len(secret) < 16):
            raise ValueError("secret must be bytes, at least 16 of them (e.g. secrets.token_bytes(32))")
        if date_shift_days is not None and (not isinstance(date_shift_days, int) or date_shift_days == 0):
            raise ValueError(f"date_shift_days must be a non-zero whole number of days, got {date_shift_days!r}")
        self._secret = secret or secrets.token_bytes(32)
        self._fixed_shift = date_shift_days
        self._uids: dict[str, str] = {}

    def _digest(self, purpose: str, value: str) -> bytes:
        return hmac.new(self._secret, f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()

    def uid(self, old: str) -> str:
        """The new UID for ``old``: ``2.25.<UUID as an integer>`` (PS3.5 B.2), the same within the session."""
        old = str(old).strip()
        if old not in self._uids:
            self._uids[old] = f"2.25.{uuid.UUID(bytes=self._digest('uid', old)[:16], version=4).int}"
        return self._uids[old]

    def pseudonym(self, kind: str, value: str) -> str:
        """A short keyed pseudonym, e.g. ``ANON-3F9A0C21D4`` for a patient, ``S-...`` for a study."""
        prefix = {"patient": "ANON", "study": "S"}.get(kind, kind.upper())
        return f"{prefix}-{self._digest(kind, str(value)).hex()[:10].upper()}"

    def date_shift(self, patient_key: str) -> int:
        """Days (negative, 30 to 1124 back) added to every date of this patient."""
        if self._fixed_shift is not None:
            return self._fixed_shift
        return -(30 + int.from_bytes(self._digest("date", patient_key)[:4], "big") % 1095)

    @property
    def uid_map(self) -> dict[str, str]:
        """A copy of old UID -> new UID so far: a re-identification key, keep it private."""
        return dict(self._uids)


def _shift_date(value: str, days: int) -> str | None:
    """Shift a DA (YYYYMMDD, or the old YYYY.MM.DD) or DT (YYYYMMDDHHMMSS...) value by ``days``."""
    text = value.strip()
    if len(text) >= 10 and text[4] == "." and text[7] == ".":  # ACR-NEMA style date
        text = text[:4] + text[5:7] + text[8:]
    try:
        day = dt.datetime.strptime(text[:8], "%Y%m%d").date()
    except ValueError:
        return None
    return (day + dt.timedelta(days=days)).strftime("%Y%m%d") + text[8:]


def _age_years(birth: str, on: str) -> int | None:
    try:
        b = dt.datetime.strptime(birth.strip()[:8], "%Y%m%d").date()
        d = dt.datetime.strptime(on.strip()[:8], "%Y%m%d").date()
    except ValueError:
        return None
    years = d.year - b.year - ((d.month, d.day) < (b.month, b.day))
    return years if 0 <= years < 150 else None


class _Cleaner:
    def __init__(self, session: DeidSession, shift: int, pseudonyms: dict[str, str]) -> None:
        self.session, self.shift, self.pseudonyms = session, shift, pseudonyms
        self.removed: list[str] = []
        self.emptied: list[str] = []
        self.pseudonymised: list[str] = []
        self.dates_shifted: list[str] = []
        self.uids: set[str] = set()
        self.private = 0

    def clean(self, ds: Dataset, prefix: str = "") -> None:
        for elem in list(ds):
            tag = elem.tag
            name = prefix + (elem.keyword or f"({tag.group:04X},{tag.element:04X})")
            if tag.is_private:
                del ds[tag]
                self.private += 1
            elif (tag.group & 0xFF00) in (0x5000, 0x6000) or elem.keyword in REMOVE:
                del ds[tag]  # curves and overlays (may hold burned-in text), and X attributes
                self.removed.append(name)
            elif elem.keyword in PSEUDONYM:
                if elem.keyword == "StudyID":
                    elem.value = self.pseudonyms["study"]
                elif prefix == "":  # the patient of this file: PatientName and PatientID
                    elem.value = self.pseudonyms["patient"]
                else:
                    elem.value = self.session.pseudonym("patient", str(elem.value))
                self.pseudonymised.append(name)
            elif elem.keyword in EMPTY:
                if elem.value not in (None, "", b""):
                    elem.value = DicomSequence() if elem.VR == "SQ" else ""
                    self.emptied.append(name)
            elif elem.VR == "SQ":
                for index, item in enumerate(elem.value):
                    self.clean(item, f"{name}[{index}].")
            elif elem.VR == "UI":
                self._replace_uids(elem)
            elif elem.VR in ("DA", "DT"):
                self._shift(ds, elem, name)
            elif elem.VR == "PN":
                if str(elem.value or ""):
                    elem.value = ""
                    self.emptied.append(name)
            elif elem.VR in FREE_TEXT_VRS or elem.VR == "UN":
                del ds[tag]  # free text, and attributes of unknown meaning (VR UN): cannot be vetted
                self.removed.append(name)

    def _replace_uids(self, elem: DataElement) -> None:
        values = list(elem.value) if isinstance(elem.value, MultiValue) else [elem.value]
        new = []
        for value in values:
            text = str(value or "").strip()
            if text and text not in UID_dictionary:  # keep standard UIDs (SOP classes, syntaxes)
                self.uids.add(text)
                text = self.session.uid(text)
            new.append(text)
        elem.value = new if len(new) > 1 else new[0]

    def _shift(self, ds: Dataset, elem: DataElement, name: str) -> None:
        values = list(elem.value) if isinstance(elem.value, MultiValue) else [elem.value]
        if not any(str(v or "").strip() for v in values):
            return
        shifted = [_shift_date(str(v), self.shift) if str(v or "").strip() else "" for v in values]
        if any(s is None for s in shifted):
            del ds[elem.tag]  # a date that cannot be read cannot be shifted: remove it
            self.removed.append(name)
            return
        elem.value = shifted if len(shifted) > 1 else shifted[0]
        self.dates_shifted.append(name)


def deidentify(src: str | os.PathLike, dst: str | os.PathLike, session: DeidSession | None = None, *,
               overwrite: bool = False) -> dict[str, Any]:
    """Write a de-identified copy of DICOM file ``src`` to ``dst``; return what was changed.

    ``src`` is never modified. ``session`` keeps UIDs, pseudonyms and date shifts
    consistent across files (one session per run; by default a new one per call).
    The report (JSON-ready) names the attributes removed, emptied, pseudonymised and
    shifted, but never their original values: it holds no PHI.
    """
    src_path, dst_path = Path(src), Path(dst)
    ds, name = read_dataset(src_path)
    if dst_path.exists() and dst_path.resolve() == src_path.resolve():
        raise ValueError(f"dst is the source file {src_path}; de-identification writes a NEW file, "
                         "choose another path (e.g. a folder 'deidentified/')")
    if dst_path.exists() and not overwrite:
        raise FileExistsError(f"{dst_path} already exists; pass overwrite=True or choose another name")
    if not dst_path.parent.is_dir():
        raise FileNotFoundError(f"folder {dst_path.parent} does not exist; create it first")
    session = session or DeidSession()
    pixels_before = hashlib.sha256(ds.PixelData).hexdigest() if "PixelData" in ds else None

    patient_key = str(ds.get("PatientID", "") or "") or f"{ds.get('PatientName', '')}|{ds.get('PatientBirthDate', '')}"
    pseudonyms = {"patient": session.pseudonym("patient", patient_key),
                  "study": session.pseudonym("study", str(ds.get("StudyInstanceUID", "") or name))}
    warnings: list[str] = []
    age_note = None
    if not str(ds.get("PatientAge", "") or "").strip():
        years = _age_years(str(ds.get("PatientBirthDate", "") or ""),
                           str(ds.get("StudyDate", "") or ds.get("ContentDate", "") or ""))
        if years is not None:
            ds.PatientAge = f"{min(years, 90):03d}Y"
            age_note = "PatientAge computed from the birth date before removing it"
    elif str(ds.PatientAge).strip().upper().endswith("Y") and str(ds.PatientAge).strip()[:-1].isdigit():
        if int(str(ds.PatientAge).strip()[:-1]) > 89:
            ds.PatientAge = "090Y"
            age_note = "PatientAge over 89 capped at 090Y"
    if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
        warnings.append("BurnedInAnnotation is YES: the pixels show text that may identify the patient; "
                        "this profile does not clean pixel data (Clean Pixel Data Option)")

    cleaner = _Cleaner(session, session.date_shift(patient_key), pseudonyms)
    cleaner.clean(ds)
    if "PatientName" not in ds:
        ds.PatientName = pseudonyms["patient"]
    if "PatientID" not in ds:
        ds.PatientID = pseudonyms["patient"]
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = list(PROFILE)
    codes = []
    for value, meaning in METHOD_CODES:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
        codes.append(item)
    ds.DeidentificationMethodCodeSequence = DicomSequence(codes)
    ds.LongitudinalTemporalInformationModified = "MODIFIED" if cleaner.dates_shifted else "UNMODIFIED"

    meta = ds.file_meta
    for keyword in FILE_META_REMOVE:
        if keyword in meta:
            del meta[keyword]
            cleaner.removed.append(f"file_meta.{keyword}")
    if "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"PYDICOM {pydicom.__version__}"[:16]
    ds.save_as(dst_path, enforce_file_format=True)

    check = pydicom.dcmread(dst_path)
    pixels_after = hashlib.sha256(check.PixelData).hexdigest() if "PixelData" in check else None
    return {
        "source": str(src_path),
        "destination": str(dst_path),
        "profile": "; ".join(PROFILE),
        "patient_pseudonym": pseudonyms["patient"],
        "study_pseudonym": pseudonyms["study"],
        "removed": sorted(set(cleaner.removed)),
        "emptied": sorted(set(cleaner.emptied)),
        "pseudonymised": sorted(set(cleaner.pseudonymised)),
        "dates_shifted": sorted(set(cleaner.dates_shifted)),
        "date_shift_days": cleaner.shift,
        "uids_replaced": len(cleaner.uids),
        "private_tags_removed": cleaner.private,
        "age": age_note,
        "pixel_data_unchanged": pixels_before == pixels_after,
        "warnings": warnings,
    }


def deidentify_folder(src_dir: str | os.PathLike, dst_dir: str | os.PathLike,
                      session: DeidSession | None = None, *, pattern: str = "*.dcm",
                      overwrite: bool = False) -> list[dict[str, Any]]:
    """De-identify every file matching ``pattern`` in ``src_dir`` into ``dst_dir`` with one session.

    Output files are named by their new SOP Instance UID, so names leak nothing. Returns
    one report per file (see :func:`deidentify`), in sorted order of the source names.
    """
    src_dir, dst_dir = Path(src_dir), Path(dst_dir)
    if not src_dir.is_dir():
        raise NotADirectoryError(f"{src_dir} is not a folder of DICOM files; check the path")
    files = sorted(p for p in src_dir.glob(pattern) if p.is_file())
    if not files:
        raise FileNotFoundError(f"no files matching {pattern!r} in {src_dir}; check the folder or pass pattern='*'")
    dst_dir.mkdir(parents=True, exist_ok=True)
    if dst_dir.resolve() == src_dir.resolve():
        raise ValueError("dst_dir is the source folder; write the de-identified files to another folder")
    session = session or DeidSession()
    reports = []
    for path in files:
        sop = read_dataset(path, stop_before_pixels=True)[0].get("SOPInstanceUID")
        target = dst_dir / (f"{session.uid(str(sop))}.dcm" if sop else f"{session.pseudonym('file', path.name)}.dcm")
        reports.append(deidentify(path, target, session, overwrite=overwrite))
    return reports


def find_values(path: str | os.PathLike, values: Iterable[str]) -> list[str]:
    """Which of ``values`` occur anywhere in the bytes of DICOM file ``path``, pixel data excluded.

    A byte-level check that trusts no parser: if a name, ID or date is still in the file,
    in any attribute, sequence, private tag or padding, it is found. The pixel data value
    is left out because image bytes can match a short string by chance. Matching is
    case-sensitive; values shorter than 3 characters are skipped (too many chance hits).
    """
    raw = Path(path).read_bytes()
    ds, _ = read_dataset(path)
    if "PixelData" in ds:
        pixels = ds.PixelData
        start = raw.rfind(pixels)
        if start >= 0:
            raw = raw[:start] + raw[start + len(pixels):]
    found = []
    for value in dict.fromkeys(str(v) for v in values):
        if len(value) >= 3 and value.encode("utf-8") in raw:
            found.append(value)
    return found


def compare_headers(before: str | os.PathLike | Dataset, after: str | os.PathLike | Dataset,
                    keywords: Iterable[str] | None = None) -> "pd.DataFrame":
    """A table of top-level attributes before and after de-identification.

    Columns: ``attribute``, ``vr`` (value representation), ``before``, ``after`` and
    ``change`` (kept, removed, emptied, shifted, replaced, added). Pixel data and sequences are summarised,
    not printed. ``keywords``
    limits the rows (default: every attribute in either header, in tag order).
    """
    import pandas as pd

    old, _ = read_dataset(before, stop_before_pixels=True) if not isinstance(before, Dataset) else (before, "")
    new, _ = read_dataset(after, stop_before_pixels=True) if not isinstance(after, Dataset) else (after, "")

    def show(ds: Dataset, tag: int) -> str | None:
        if tag not in ds:
            return None
        elem = ds[tag]
        if elem.VR == "SQ":
            return f"<sequence, {len(elem.value)} item(s)>"
        if elem.tag == 0x7FE00010 or elem.VR in ("OB", "OW", "UN"):
            return f"<{elem.VR} data>"
        text = str(elem.value)
        return text if len(text) <= 60 else text[:57] + "..."

    tags = sorted({e.tag for e in old} | {e.tag for e in new})
    if keywords is not None:
        wanted = set(keywords)
        tags = [t for t in tags if (old[t].keyword if t in old else new[t].keyword) in wanted]
    rows = []
    for tag in tags:
        a, b = show(old, tag), show(new, tag)
        keyword = (old[tag] if tag in old else new[tag]).keyword or f"({tag.group:04X},{tag.element:04X})"
        if a is None:
            change = "added"
        elif b is None:
            change = "removed"
        elif a == b:
            change = "kept"
        elif b in ("", "<sequence, 0 item(s)>"):
            change = "emptied"
        elif (old[tag].VR if tag in old else "") in ("DA", "DT"):
            change = "shifted"
        else:
            change = "replaced"
        vr = (old[tag] if tag in old else new[tag]).VR
        rows.append({"attribute": keyword, "vr": vr, "before": a, "after": b, "change": change})
    return pd.DataFrame(rows, columns=["attribute", "vr", "before", "after", "change"])


__all__ = ["DeidSession", "deidentify", "deidentify_folder", "find_values", "compare_headers",
           "PROFILE", "REMOVE", "EMPTY", "PSEUDONYM"]
