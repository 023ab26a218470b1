"""De-identify a radiograph's DICOM header, following DICOM PS3.15 Annex E.

The Basic Application Level Confidentiality Profile (PS3.15 E.1) lists in Table E.1-1, for
every attribute that can identify a person, an action: remove it (X), empty it (Z),
replace it with a dummy (D) or replace a UID (U). The whole table is applied, at any depth
of nested sequences: :mod:`cxrlab.dicom.profile_table` holds its 652 rows and 3 repeating
groups, taken from dicom-anonymizer (generated from the standard; a test compares every
row). Compound actions: X/Z, X/D and X/Z/D remove (the attributes they name are Type 3 in
the DX and CR IODs; an X/Z or X/Z/D sequence is emptied instead, since the DX IOD requires
Acquisition Context Sequence, Type 2), Z/D empties, X/Z/U* keeps the sequence with its UIDs replaced and its
items cleaned; D writes a dummy of the attribute's VR (a sequence is cleaned item by item).

Two options of PS3.15 E.3 are applied (and declared in the output, PS3.15 E.1.1 and CID 7050):

- *Retain Longitudinal Temporal Information with Modified Dates* (E.3.6, code 113107):
  every date (DA) and the date part of every date-time (DT), at any depth, is shifted by
  the same whole number of days for one patient, so intervals between studies survive;
  times of day (TM, and the time part of DT) are therefore unchanged. The temporal
  attributes the option does not list (Patient's Birth Date and Time, and ten trial and
  scheduling date-times: ``NOT_SHIFTED``) follow the Basic Profile (removed or emptied).
  A value that cannot be read as a date is removed. Timezone Offset From UTC is removed.
- *Retain Patient Characteristics* (E.3.3, code 113108): sex, age, size, weight, ethnic
  group, smoking and pregnancy status are kept (``RETAINED``); age is capped at 90 years,
  as HIPAA's Safe Harbor asks, and computed from the birth date, which is emptied, when
  the file has no age. The option's "clean" attributes (allergies, patient state,
  pre-medication, special needs) are removed.

Not applied: Clean Descriptors (descriptions are removed, X, as the Basic Profile says),
Retain Device or Institution Identity, Retain UIDs, Retain Safe Private, Clean Pixel Data
(text burned into the pixels is not removed; a warning says so when the file declares it).

Also: UIDs are replaced consistently within a session (the same input UID always gets the
same new UID, PS3.5 B.2 ``2.25.`` form), private tags, curves (50xx) and overlays (60xx)
are removed, and bits outside Bits Stored in uncompressed pixel data (where overlays were
once embedded, PS3.5 8.1.1) are cleared; compressed pixel data that carries such bits is
written uncompressed with the bits cleared. Any remaining person name (PN) is emptied and
free text (LT, ST, UT) and attributes of unknown meaning (VR UN) are removed.
The source file (or dataset) is never modified; a new file is written.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
import uuid
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
import pydicom
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import BaseTag
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, UID_dictionary

from .errors import DicomError
from .profile_table import BASIC_PROFILE, REPEATING
from .read import normalise_bits, read_dataset, transfer_syntax

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

# Retain Patient Characteristics Option (PS3.15 Table E.1-1, column "Rtn. Pat. Chars. Opt."): K
RETAINED = frozenset({"PatientSex", "PatientAge", "PatientSize", "PatientWeight", "EthnicGroup",
                      "PatientSexNeutered", "PregnancyStatus", "SmokingStatus", "SelectorASValue"})
# Temporal attributes of Table E.1-1 that the Modified Dates option does not list: Basic Profile action
NOT_SHIFTED = frozenset({
    0x00100030, 0x00100032,  # Patient's Birth Date (Z), Patient's Birth Time (X)
    0x300A0736, 0x0040A110, 0x00120087, 0x00120086, 0x00160077, 0x00404050, 0x00404008, 0x00404010,
    0x00404005, 0x0040A112,
})
TEMPORAL_VRS = ("DA", "DT", "TM")
PSEUDONYM = frozenset({"PatientName", "PatientID", "StudyID"})
FREE_TEXT_VRS = ("LT", "ST", "UT")
FILE_META_REMOVE = ("SourceApplicationEntityTitle", "SendingApplicationEntityTitle",
                    "ReceivingApplicationEntityTitle", "PrivateInformationCreatorUID", "PrivateInformation")
# keyword views of the table, for readers
REMOVE = frozenset(keyword_for_tag(t) for t, a in BASIC_PROFILE.items() if a == "X" and keyword_for_tag(t))
EMPTY = frozenset(keyword_for_tag(t) for t, a in BASIC_PROFILE.items() if a == "Z" and keyword_for_tag(t))
_BINARY_VRS = ("OB", "OW", "OF", "OD", "OL", "OV", "UN")
_RETAINED_TAGS = frozenset(tag_for_keyword(k) for k in RETAINED)
_PSEUDONYM_TAGS = {tag_for_keyword(k): k for k in PSEUDONYM}
_DUMMY_TEXT = {"PN": "ANONYMOUS", "CS": "ANONYMIZED", "AE": "ANONYMIZED", "SH": "ANONYMIZED",
               "LO": "ANONYMIZED", "LT": "ANONYMIZED", "ST": "ANONYMIZED", "UT": "ANONYMIZED",
               "UC": "ANONYMIZED", "UR": "", "AS": "", "IS": "0", "DS": "0"}


def _action(tag: int) -> str | None:
    """The Table E.1-1 action for ``tag`` (repeating groups included), or None if it is not listed."""
    action = BASIC_PROFILE.get(tag)
    if action is not None:
        return action
    for value, mask, repeating in REPEATING:
        if tag & mask == value:
            return repeating
    return None


class DeidSession:
    """The secrets of one de-identification run: keeps pseudonyms, UIDs and date shifts consistent.

    Files de-identified with the same session get the same new UID for the same old UID,
    the same pseudonym for the same patient and the same date shift (in days, negative)
    for the same patient. ``secret`` (bytes) makes a run repeatable; by default it is
    random, so nobody without it can map pseudonyms back. Never store the secret (or
    ``uid_map``) next to the de-identified files.

    Args:
        secret: at least 16 bytes, or None for a random one.
        date_shift_days: a fixed shift for every patient (non-zero), or None for a keyed one.

    Raises:
        ValueError: a short or non-bytes secret, or a zero / non-integer shift.
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
        old = str(old).strip().rstrip("\x00")
        if old not in self._uids:
            self._uids[old] = f"2.25.{uuid.UUID(bytes=self._digest('uid', old)[:16], version=4).int}"
        return self._uids[old]

    def pseudonym(self, kind: str, value: str) -> str:
        """A short keyed pseudonym, e.g. ``ANON-3F9A0C21D4`` for a patient, ``S-...`` for a study.

        Patient values are normalised first (:func:`patient_key_text`), so spellings that
        differ only in case, spaces or trailing ``^`` get the same pseudonym.
        """
        prefix = {"patient": "ANON", "study": "S"}.get(kind, kind.upper())
        key = patient_key_text(value) if kind == "patient" else str(value)
        return f"{prefix}-{self._digest(kind, key).hex()[:10].upper()}"

    def date_shift(self, patient_key: str) -> int:
        """Days (negative, 30 to 1124 back) added to every date of this patient."""
        if self._fixed_shift is not None:
            return self._fixed_shift
        return -(30 + int.from_bytes(self._digest("date", patient_key)[:4], "big") % 1095)

    @property
    def uid_map(self) -> dict[str, str]:
        """A copy of old UID -> new UID so far: a re-identification key, keep it private."""
        return dict(self._uids)


def patient_key_text(value: Any) -> str:
    """A patient name or ID normalised for matching: upper case, single spaces, no trailing ``^``/spaces.

    ``"Müller^Hans^"``, ``"MÜLLER^HANS"`` and ``" müller ^ hans "`` give the same key (PS3.5
    6.2.1: trailing empty components and padding carry no meaning).
    """
    text = str(value or "").replace("\x00", "")
    groups = []
    for group in text.split("="):  # alphabetic, ideographic, phonetic representations
        parts = [re.sub(r"\s+", " ", part).strip() for part in group.split("^")]
        while parts and not parts[-1]:
            parts.pop()
        groups.append("^".join(parts))
    while groups and not groups[-1]:
        groups.pop()
    return "=".join(groups).upper()


def _patient_key(ds: Dataset) -> tuple[str, bool]:
    """``(key, from_id)``: the normalised Patient ID, else the normalised name and birth date."""
    patient_id = patient_key_text(_peek(ds, "PatientID"))
    if patient_id:
        return f"id:{patient_id}", True
    return f"name:{patient_key_text(_peek(ds, 'PatientName'))}|{str(_peek(ds, 'PatientBirthDate')).strip()}", False


def _shift_date(value: str, days: int, vr: str = "DT") -> str | None:
    """Shift a DA (YYYYMMDD, or the old YYYY.MM.DD) or DT (YYYY[MM[DD[hhmmss...]]]) value by ``days``.

    A DT of lower precision (PS3.5 Table 6.2-1) moves by the nearest whole number of months
    (YYYYMM) or years (YYYY). None if the value cannot be read (a DA needs all 8 digits).
    """
    text = value.strip().rstrip("\x00")
    if len(text) >= 10 and text[4] == "." and text[7] == ".":  # ACR-NEMA style date
        text = text[:4] + text[5:7] + text[8:]
    digits = len(text) - len(text.lstrip("0123456789"))
    if vr == "DA" and (digits != 8 or len(text) != 8):
        return None
    try:
        if digits >= 8:
            day = dt.datetime.strptime(text[:8], "%Y%m%d").date()
            return (day + dt.timedelta(days=days)).strftime("%Y%m%d") + text[8:]
        if digits >= 6:
            year, month = int(text[:4]), int(text[4:6])
            if not 1 <= month <= 12:
                return None
            months = year * 12 + month - 1 + round(days / 30.44)
            return f"{months // 12:04d}{months % 12 + 1:02d}" + text[6:]
        if digits >= 4:
            return f"{int(text[:4]) + round(days / 365.25):04d}" + text[4:]
    except ValueError:
        return None
    return None


def _age_years(birth: str, on: str) -> int | None:
    try:
        b = dt.datetime.strptime(birth.strip()[:8], "%Y%m%d").date()
        d = dt.datetime.strptime(on.strip()[:8], "%Y%m%d").date()
    except ValueError:
        return None
    years = d.year - b.year - ((d.month, d.day) < (b.month, b.day))
    return years if 0 <= years < 150 else None


_TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC",
                       "UI", "UR", "UT"})


def _element(tag: int, vr: str, value: Any) -> DataElement | RawDataElement:
    """A new element for a value cxrlab made (ASCII text, a UID, empty): encoded once, here.

    Text values are stored already encoded (PS3.5 6.2: padded to even length with a space, a
    UID with NUL), so pydicom writes them as they are; anything else is a DataElement.
    """
    if vr in _TEXT_VRS and (value is None or isinstance(value, (str, list))):
        texts = [] if value is None else value if isinstance(value, list) else [value]
        try:
            data = "\\".join(texts).encode("ascii")
        except UnicodeEncodeError:
            return DataElement(tag, vr, value, validation_mode=pydicom.config.IGNORE)
        if len(data) % 2:
            data += b"\x00" if vr == "UI" else b" "
        return RawDataElement(BaseTag(tag), vr, len(data), data, 0, False, True)
    return DataElement(tag, vr, value, validation_mode=pydicom.config.IGNORE)


def _peek(ds: Dataset, keyword: str, default: Any = "") -> Any:
    """The value of ``keyword`` in ``ds`` read without parsing the element in place.

    pydicom parses a raw element the first time it is accessed and keeps the parsed one,
    which it then has to encode again when writing. Text values are decoded here from the
    raw bytes, US values unpacked; the element stays raw.
    """
    tag = tag_for_keyword(keyword)
    stored = ds.get_item(tag) if tag is not None and tag in ds._dict else None
    if stored is None:
        return default
    if not getattr(stored, "is_raw", False):
        return stored.value if stored.value is not None else default
    vr = stored.VR or dictionary_VR(tag)
    if vr == "US":
        data = stored.value or b""
        return int.from_bytes(data[:2], "little" if stored.is_little_endian else "big") if len(data) >= 2 else default
    if vr in _TEXT_VRS:
        texts = _texts(stored)
        return "\\".join(texts) if texts else default
    return ds[tag].value


def _method_codes(implicit: bool, little: bool) -> DataElement | RawDataElement:
    """De-identification Method Code Sequence (0012,0064) with the CID 7050 codes of ``METHOD_CODES``.

    Encoded once per call as the file is (defined lengths, PS3.5 7.5), so that writing it
    costs no more than copying; a big-endian file gets a parsed sequence instead.
    """
    if not little:
        items = [Dataset({BaseTag(t): _element(t, vr, v) for t, vr, v in
                          ((0x00080100, "SH", value), (0x00080102, "SH", "DCM"), (0x00080104, "LO", meaning))})
                 for value, meaning in METHOD_CODES]
        return DataElement(0x00120064, "SQ", DicomSequence(items))

    def element(tag: int, vr: str, text: str) -> bytes:
        data = text.encode("ascii")
        data += b" " * (len(data) % 2)
        head = (tag >> 16).to_bytes(2, "little") + (tag & 0xFFFF).to_bytes(2, "little")
        if implicit:
            return head + len(data).to_bytes(4, "little") + data
        return head + vr.encode() + len(data).to_bytes(2, "little") + data

    value = b""
    for code, meaning in METHOD_CODES:
        body = element(0x00080100, "SH", code) + element(0x00080102, "SH", "DCM") + element(0x00080104, "LO", meaning)
        value += b"\xfe\xff\x00\xe0" + len(body).to_bytes(4, "little") + body
    return RawDataElement(BaseTag(0x00120064), "SQ", len(value), value, 0, implicit, True)


def _texts(stored: Any) -> list[str]:
    """The string values of a raw or parsed text/DA/DT/UI element, without pydicom's conversion."""
    value = stored.value
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("latin-1").rstrip("\x00 ")
        return [part.strip() for part in text.split("\\")] if text else []
    if value is None:
        return []
    if isinstance(value, (list, tuple, MultiValue)):
        return [str(v).strip() for v in value]
    return [str(value).strip()]


class _Cleaner:
    """Applies Table E.1-1 and the two options to a dataset, in place, at any depth.

    Elements are decided on from their tag and VR. A value is only read where the action
    needs it (dates, UIDs, a Z on a possibly empty value), straight from the raw bytes, and
    changed elements are replaced by new ones: the elements kept as they are stay raw and
    are written back byte for byte, as in a plain read-and-save.
    """

    def __init__(self, session: DeidSession, shift: int, pseudonyms: dict[str, str]) -> None:
        self.session, self.shift, self.pseudonyms = session, shift, pseudonyms
        self.removed: list[str] = []
        self.emptied: list[str] = []
        self.pseudonymised: list[str] = []
        self.dates_shifted: list[str] = []
        self.dummies: list[str] = []
        self.uids: set[str] = set()
        self.private = 0

    def clean(self, ds: Dataset, prefix: str = "") -> None:
        store = ds._dict  # tag -> RawDataElement or DataElement (pydicom's own storage)
        for key in list(store):
            tag = int(key)
            if (tag >> 16) & 1:  # odd group: private (PS3.5 7.8)
                del store[key]
                self.private += 1
                continue
            vr = getattr(store[key], "VR", None)
            if vr is None or vr == "UN":
                try:
                    vr = dictionary_VR(tag).split(" or ")[0]
                except KeyError:
                    vr = "UN"
            if tag in _RETAINED_TAGS:
                continue
            if tag in _PSEUDONYM_TAGS:
                self._pseudonymise(ds, key, tag, vr, prefix)
            elif vr in TEMPORAL_VRS and tag not in NOT_SHIFTED:
                if vr != "TM":  # a whole-day shift leaves times of day as they are
                    self._temporal(ds, key, tag, vr, prefix)
            elif tag >> 24 in (0x50, 0x60):
                self._remove(ds, key, tag, prefix)  # curves and overlays (burned-in text, graphics)
            else:
                action = _action(tag)
                if action is not None:
                    self._apply(ds, key, tag, vr, prefix, action)
                elif vr == "SQ":
                    self._recurse(ds, key, tag, prefix)
                elif vr == "UI":
                    self._replace_uids(ds, key, tag)
                elif vr == "PN":
                    self._empty(ds, key, tag, vr, prefix)
                elif vr in FREE_TEXT_VRS or vr == "UN":
                    self._remove(ds, key, tag, prefix)  # free text, and unknown meaning: cannot be vetted

    @staticmethod
    def _name(prefix: str, tag: int) -> str:
        return prefix + (keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})")

    def _remove(self, ds: Dataset, key: Any, tag: int, prefix: str) -> None:
        del ds._dict[key]
        self.removed.append(self._name(prefix, tag))

    def _empty(self, ds: Dataset, key: Any, tag: int, vr: str, prefix: str) -> None:
        stored = ds._dict[key]
        if vr == "SQ":
            if len(ds[key].value or []):
                ds._dict[key] = DataElement(tag, "SQ", DicomSequence())
                self.emptied.append(self._name(prefix, tag))
            return
        if stored.value in (None, b"", "") or (vr not in _BINARY_VRS and not any(_texts(stored))):
            return
        ds._dict[key] = _element(tag, vr, b"" if vr in _BINARY_VRS else None)
        self.emptied.append(self._name(prefix, tag))

    def _recurse(self, ds: Dataset, key: Any, tag: int, prefix: str) -> None:
        name = self._name(prefix, tag)
        for index, item in enumerate(ds[key].value or []):
            self.clean(item, f"{name}[{index}].")

    def _pseudonymise(self, ds: Dataset, key: Any, tag: int, vr: str, prefix: str) -> None:
        keyword = _PSEUDONYM_TAGS[tag]
        if keyword == "StudyID":
            value = self.pseudonyms["study"]
        elif prefix == "":  # the patient of this file: PatientName and PatientID
            value = self.pseudonyms["patient"]
        else:
            texts = _texts(ds._dict[key])
            if not any(texts):
                return
            value = self.session.pseudonym("patient", "\\".join(texts))
        ds._dict[key] = _element(tag, vr, value)
        self.pseudonymised.append(self._name(prefix, tag))

    def _apply(self, ds: Dataset, key: Any, tag: int, vr: str, prefix: str, action: str) -> None:
        """One Table E.1-1 action. Compound codes: X/Z, X/D and X/Z/D remove (X: the attributes
        they name are Type 3 in the radiograph IODs), except that an X/Z or X/Z/D sequence is
        emptied (Z), as Acquisition Context Sequence must stay present in a DX file; Z/D
        empties; X/Z/U* keeps the sequence with its UIDs replaced and its items cleaned."""
        if action == "U" or (action in ("X/Z/U*", "D") and vr == "UI"):
            self._replace_uids(ds, key, tag)
        elif vr == "SQ" and action in ("X/Z/U*", "D"):
            self._recurse(ds, key, tag, prefix)
        elif action in ("X/Z", "X/Z/D") and vr == "SQ":  # keep a Type 2 sequence present, empty
            self._empty(ds, key, tag, vr, prefix)
        elif action.startswith("X"):
            self._remove(ds, key, tag, prefix)
        elif action == "D":
            self._dummy(ds, key, tag, vr, prefix)
        else:  # Z, Z/D: zero length
            self._empty(ds, key, tag, vr, prefix)

    def _dummy(self, ds: Dataset, key: Any, tag: int, vr: str, prefix: str) -> None:
        stored = ds._dict[key]
        if vr in TEMPORAL_VRS:
            self._remove(ds, key, tag, prefix)  # a temporal value the option does not shift
            return
        if stored.value in (None, b"", ""):
            return
        if vr in _DUMMY_TEXT:
            value: Any = _DUMMY_TEXT[vr]
        elif vr in ("US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"):
            value = 0
        else:  # binary data: nothing safe to put in it
            value = b""
        ds._dict[key] = _element(tag, vr, value)
        self.dummies.append(self._name(prefix, tag))

    def _replace_uids(self, ds: Dataset, key: Any, tag: int) -> None:
        old = _texts(ds._dict[key])
        new = []
        for text in old:
            text = text.rstrip("\x00")
            if text and text not in UID_dictionary:  # keep standard UIDs (SOP classes, syntaxes)
                self.uids.add(text)
                text = self.session.uid(text)
            new.append(text)
        if new != old:
            ds._dict[key] = _element(tag, "UI", new if len(new) > 1 else new[0])

    def _temporal(self, ds: Dataset, key: Any, tag: int, vr: str, prefix: str) -> None:
        """Modified Dates option: DA and DT move by the patient's shift (TM is kept by ``clean``)."""
        values = _texts(ds._dict[key])
        if not any(values):
            return
        shifted = [_shift_date(v, self.shift, vr) if v else "" for v in values]
        if any(s is None for s in shifted):
            self._remove(ds, key, tag, prefix)  # a date that cannot be read cannot be shifted
            return
        ds._dict[key] = _element(tag, vr, shifted if len(shifted) > 1 else shifted[0])
        self.dates_shifted.append(self._name(prefix, tag))


def clear_unused_bits(ds: Dataset) -> int:
    """Clear the bits outside Bits Stored in ``ds``'s uncompressed pixel data; return how many pixels changed.

    PS3.5 8.1.1: only the Bits Stored bits ending at High Bit hold the pixel value; older
    files embed overlay planes (burned-in annotations, PS3.3 C.9.2 retired usage) in the
    others. Unsigned values get them zeroed, signed values sign-extended. Works on
    ``ds.PixelData`` in place (call it on a copy). Compressed data is decoded and, if
    any pixel carries such bits, rewritten uncompressed (Explicit VR Little Endian).

    Args:
        ds: a dataset with Pixel Data (7FE0,0010) and its Image Pixel module.

    Returns:
        The number of pixel values that changed (0 if none, or no pixel data).
    """
    allocated, stored = _peek(ds, "BitsAllocated", None), _peek(ds, "BitsStored", None)
    if "PixelData" not in ds or allocated is None or stored is None:
        return 0
    allocated, stored = int(allocated), int(stored)
    high = int(_peek(ds, "HighBit", stored - 1))
    signed = int(_peek(ds, "PixelRepresentation", 0) or 0) == 1
    if allocated not in (8, 16, 32) or (stored == allocated and high == allocated - 1):
        return 0
    syntax = transfer_syntax(ds)
    if syntax.is_compressed:
        if high == stored - 1 and _codestream_precision(ds) <= stored:
            return 0  # every codestream declares at most Bits Stored bits: nothing above High Bit
        try:
            from pydicom.pixels import get_decoder

            array, _ = get_decoder(syntax).as_array(ds, raw=True)
        except Exception:
            return 0  # not decodable here: the reader refuses it too; nothing to rewrite
        fixed = normalise_bits(array, stored, high, signed)
        changed = int(np.count_nonzero(fixed != array))
        if changed:
            ds.PixelData = np.ascontiguousarray(fixed).astype(fixed.dtype.newbyteorder("<")).tobytes()
            ds["PixelData"].VR = "OB" if allocated == 8 else "OW"
            ds["PixelData"].is_undefined_length = False
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            if "NumberOfFrames" not in ds and array.ndim == 3:
                ds.NumberOfFrames = array.shape[0]
        return changed
    order = "<" if syntax.is_little_endian else ">"
    stored_pixels = ds._dict[BaseTag(0x7FE00010)]
    data = stored_pixels.value if isinstance(stored_pixels.value, (bytes, bytearray)) else ds.PixelData
    itemsize = allocated // 8
    usable = len(data) - len(data) % itemsize
    array = np.frombuffer(data, dtype=f"{order}{'i' if signed else 'u'}{itemsize}", count=usable // itemsize)
    fixed = normalise_bits(array, stored, high, signed)
    if fixed is array:
        return 0
    if high + 1 != stored:  # retired layout: keep the values where they were, only clear the rest
        mask = ((1 << stored) - 1) << (high + 1 - stored)
        unsigned = array.view(f"{order}u{itemsize}")
        fixed = (unsigned & np.array(mask, dtype=unsigned.dtype)).view(array.dtype)
    changed = int(np.count_nonzero(fixed != array))
    if changed:
        ds.PixelData = fixed.astype(array.dtype).tobytes() + bytes(data[usable:])
    return changed


def _codestream_precision(ds: Dataset) -> int:
    """The largest sample precision the JPEG / JPEG-LS / JPEG 2000 frames declare (a large number if unknown)."""
    from pydicom.encaps import generate_frames
    from pydicom.pixels.utils import _get_jpg_parameters, get_j2k_parameters

    unknown = 1 << 30
    try:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        precision = 0
        for frame in generate_frames(ds.PixelData, number_of_frames=frames):
            head = bytes(frame[:4096])
            if head[:2] == b"\xff\x4f" or head[4:8] == b"jP  ":
                found = get_j2k_parameters(head).get("precision")
            elif head[:2] == b"\xff\xd8":
                found = _get_jpg_parameters(head).get("precision")
            else:
                return unknown  # RLE and others: only decoding tells
            if not found:
                return unknown
            precision = max(precision, int(found))
        return precision or unknown
    except Exception:
        return unknown


def deidentify_dataset(source: Dataset, session: DeidSession | None = None, *,
                       name: str = "<dataset in memory>") -> tuple[Dataset, dict[str, Any]]:
    """A de-identified copy of ``source`` (PS3.15 E.1 and the options above) and the report.

    The in-memory core of :func:`deidentify`: ``source`` is not changed (a deep copy is
    cleaned). The report has no destination and holds no PHI.

    Args:
        source: a dataset, with or without file meta (the encoding pydicom read it in is kept).
        session: keeps UIDs, pseudonyms and date shifts consistent (default: a new one).
        name: how messages name the source.

    Returns:
        ``(dataset, report)``; see :func:`deidentify` for the report's keys.

    Raises:
        InvalidHeaderError: a dataset without file meta that was not read from a file.
    """
    syntax = transfer_syntax(source)
    ds = copy.deepcopy(source)
    if getattr(ds, "file_meta", None) is None:
        ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    return _deidentify_in_place(ds, session or DeidSession(), name)


def _deidentify_in_place(ds: Dataset, session: DeidSession, name: str) -> tuple[Dataset, dict[str, Any]]:
    patient_key, from_id = _patient_key(ds)
    pseudonyms = {"patient": session.pseudonym("patient", patient_key),
                  "study": session.pseudonym("study", str(_peek(ds, "StudyInstanceUID") or name))}
    warnings: list[str] = []
    if not from_id:
        warnings.append("PatientID is empty: the patient is recognised by the normalised name and birth "
                        "date, so one person with differently spelt names gets two pseudonyms; fill "
                        "PatientID at the source if you can")
    age_note = None
    age = str(_peek(ds, "PatientAge") or "").strip()
    if not age:
        years = _age_years(str(_peek(ds, "PatientBirthDate") or ""),
                           str(_peek(ds, "StudyDate") or _peek(ds, "ContentDate") or ""))
        if years is not None:
            ds._dict[BaseTag(0x00101010)] = _element(0x00101010, "AS", f"{min(years, 90):03d}Y")
            age_note = "PatientAge computed from the birth date before removing it"
    elif age.upper().endswith("Y") and age[:-1].isdigit() and int(age[:-1]) > 89:
        ds._dict[BaseTag(0x00101010)] = _element(0x00101010, "AS", "090Y")
        age_note = "PatientAge over 89 capped at 090Y"
    if str(_peek(ds, "BurnedInAnnotation")).strip().upper() == "YES":
        warnings.append("BurnedInAnnotation is YES: the pixels show text that may identify the patient; "
                        "this profile does not clean pixel data (Clean Pixel Data Option)")

    cleaner = _Cleaner(session, session.date_shift(patient_key), pseudonyms)
    cleaner.clean(ds)
    cleared = clear_unused_bits(ds)
    if cleared:
        warnings.append(f"{cleared} pixel(s) carried bits outside Bits Stored (an embedded overlay, "
                        "PS3.5 8.1.1); they were cleared")
    if "PatientName" not in ds:
        ds.PatientName = pseudonyms["patient"]
    if "PatientID" not in ds:
        ds.PatientID = pseudonyms["patient"]
    store = ds._dict
    store[BaseTag(0x00120062)] = _element(0x00120062, "CS", "YES")  # Patient Identity Removed
    store[BaseTag(0x00120063)] = _element(0x00120063, "LO", list(PROFILE))  # De-identification Method
    syntax = ds.file_meta.TransferSyntaxUID  # the encoding the copy is written in (see _save)
    store[BaseTag(0x00120064)] = _method_codes(syntax == pydicom.uid.ImplicitVRLittleEndian,
                                               syntax != pydicom.uid.ExplicitVRBigEndian)
    store[BaseTag(0x00280303)] = _element(0x00280303, "CS", "MODIFIED" if cleaner.dates_shifted else "UNMODIFIED")

    meta = ds.file_meta
    for keyword in FILE_META_REMOVE:
        if keyword in meta:
            del meta[keyword]
            cleaner.removed.append(f"file_meta.{keyword}")
    for source, target in ((0x00080018, 0x00020003), (0x00080016, 0x00020002)):  # SOP Instance / Class UID
        if source in store:
            meta._dict[BaseTag(target)] = _element(target, "UI", _texts(store[BaseTag(source)])[0])
    meta._dict[BaseTag(0x00020012)] = _element(0x00020012, "UI", str(PYDICOM_IMPLEMENTATION_UID))
    meta._dict[BaseTag(0x00020013)] = _element(0x00020013, "SH", f"PYDICOM {pydicom.__version__}"[:16])
    report = {
        "source": name,
        "profile": "; ".join(PROFILE),
        "table": f"PS3.15 Table E.1-1, {len(BASIC_PROFILE)} attributes and {len(REPEATING)} repeating groups",
        "patient_pseudonym": pseudonyms["patient"],
        "study_pseudonym": pseudonyms["study"],
        "removed": sorted(set(cleaner.removed)),
        "emptied": sorted(set(cleaner.emptied)),
        "pseudonymised": sorted(set(cleaner.pseudonymised)),
        "dummies": sorted(set(cleaner.dummies)),
        "dates_shifted": sorted(set(cleaner.dates_shifted)),
        "date_shift_days": cleaner.shift,
        "uids_replaced": len(cleaner.uids),
        "private_tags_removed": cleaner.private,
        "overlay_bits_cleared": cleared,
        "age": age_note,
        "pixel_data_unchanged": cleared == 0,  # clear_unused_bits is the only step that touches pixels
        "warnings": warnings,
    }
    return ds, report


def deidentify(src: str | os.PathLike | Dataset, dst: str | os.PathLike, session: DeidSession | None = None, *,
               overwrite: bool = False) -> dict[str, Any]:
    """Write a de-identified copy of DICOM file (or dataset) ``src`` to ``dst``; return what was changed.

    Applies PS3.15 Table E.1-1 in full with the Modified Dates and Patient Characteristics
    options (see the module's docstring). Files without file meta (old archives) are read
    in the encoding pydicom detects and written with a file meta group in that encoding.

    Args:
        src: a DICOM file, or a dataset (e.g. ``pydicom.dcmread(path, force=True)``); never changed.
        dst: the new file (its folder must exist).
        session: keeps UIDs, pseudonyms and date shifts consistent across files (one
            session per run; by default a new one per call).
        overwrite: replace an existing ``dst``.

    Returns:
        A JSON-ready report: ``source``, ``destination``, ``profile``, ``table``, the
        pseudonyms, the attributes ``removed``, ``emptied``, ``pseudonymised``,
        ``dummies`` and ``dates_shifted`` (names, never values: it holds no PHI),
        ``date_shift_days``, ``uids_replaced``, ``private_tags_removed``,
        ``overlay_bits_cleared``, ``pixel_data_unchanged`` and ``warnings``.

    Raises:
        ValueError: ``dst`` is the source file. FileExistsError: ``dst`` exists.
        FileNotFoundError: ``src`` or ``dst``'s folder is missing.
        NotDicomError, DicomError: ``src`` cannot be read.
    """
    dst_path = Path(dst)
    if isinstance(src, Dataset):
        source_path = Path(src.filename) if isinstance(getattr(src, "filename", None), str) else None
    else:
        source_path = Path(src)
    if source_path is not None and dst_path.exists() and dst_path.resolve() == source_path.resolve():
        raise ValueError(f"dst is the source file {source_path}; de-identification writes a NEW file, "
                         "choose another path (e.g. a folder 'deidentified/')")
    if dst_path.exists() and not overwrite:
        raise FileExistsError(f"{dst_path} already exists; pass overwrite=True or choose another name")
    if not dst_path.parent.is_dir():
        raise FileNotFoundError(f"folder {dst_path.parent} does not exist; create it first")
    if isinstance(src, Dataset):
        ds, report = deidentify_dataset(src, session, name=str(source_path or "<dataset in memory>"))
    else:
        ds, name = read_dataset(src)  # our own copy: cleaned in place
        if getattr(ds, "file_meta", None) is None or not ds.file_meta.get("TransferSyntaxUID"):
            syntax = transfer_syntax(ds)
            ds.file_meta = ds.file_meta if getattr(ds, "file_meta", None) is not None else FileMetaDataset()
            ds.file_meta.TransferSyntaxUID = syntax
        ds, report = _deidentify_in_place(ds, session or DeidSession(), name)
    _save(ds, dst_path)
    report["destination"] = str(dst_path)
    return report


def _save(ds: Dataset, path: Path) -> None:
    syntax = ds.file_meta.TransferSyntaxUID
    try:
        ds.save_as(path, enforce_file_format=True, implicit_vr=syntax == pydicom.uid.ImplicitVRLittleEndian,
                   little_endian=syntax != pydicom.uid.ExplicitVRBigEndian) if not syntax.is_compressed and \
            syntax != pydicom.uid.DeflatedExplicitVRLittleEndian else ds.save_as(path, enforce_file_format=True)
    except Exception as error:
        if path.exists():
            path.unlink()
        raise DicomError(f"the de-identified copy could not be written to {path} ({type(error).__name__}: "
                         f"{error}); the source may hold values pydicom cannot encode") from error


def deidentify_folder(src_dir: str | os.PathLike, dst_dir: str | os.PathLike,
                      session: DeidSession | None = None, *, pattern: str = "*.dcm",
                      overwrite: bool = False) -> list[dict[str, Any]]:
    """De-identify every file matching ``pattern`` in ``src_dir`` into ``dst_dir`` with one session.

    Output files are named by their new SOP Instance UID, so names leak nothing.

    Args:
        src_dir: the folder of DICOM files (not changed).
        dst_dir: the output folder (created; must not be ``src_dir``).
        session: one session for the whole folder (default: a new one).
        pattern: which files to take (glob).
        overwrite: replace existing outputs.

    Returns:
        One report per file (see :func:`deidentify`), in sorted order of the source names.

    Raises:
        NotADirectoryError, FileNotFoundError, ValueError: a missing, empty or same folder.
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
        ds, name = read_dataset(path)
        sop = _peek(ds, "SOPInstanceUID", None)
        target = dst_dir / (f"{session.uid(str(sop))}.dcm" if sop else f"{session.pseudonym('file', path.name)}.dcm")
        if target.exists() and not overwrite:
            raise FileExistsError(f"{target} already exists; pass overwrite=True or choose another folder")
        if getattr(ds, "file_meta", None) is None or not ds.file_meta.get("TransferSyntaxUID"):
            syntax = transfer_syntax(ds)
            ds.file_meta = ds.file_meta if getattr(ds, "file_meta", None) is not None else FileMetaDataset()
            ds.file_meta.TransferSyntaxUID = syntax
        ds, report = _deidentify_in_place(ds, session, name)
        _save(ds, target)
        report["destination"] = str(target)
        reports.append(report)
    return reports


def _element_texts(ds: Dataset, charsets: list[str]) -> Iterable[str]:
    """Every text a dataset holds, decoded: values of text VRs, and UN/OB bytes decoded as text."""
    for elem in ds.iterall():
        if elem.tag == 0x7FE00010 or elem.VR == "SQ":
            continue
        value = elem.value
        if isinstance(value, (bytes, bytearray)):
            if elem.VR in ("OB", "OW", "OF", "OD", "OL", "OV") and len(value) > 4096:
                continue
            for encoding in charsets:
                try:
                    yield bytes(value).decode(encoding, errors="ignore")
                except LookupError:
                    continue
        elif isinstance(value, (list, tuple, MultiValue)):
            yield "\\".join(str(v) for v in value)
        elif value is not None:
            yield str(value)


def find_values(path: str | os.PathLike, values: Iterable[str]) -> list[str]:
    """Which of ``values`` occur anywhere in DICOM file ``path``, pixel data excluded.

    Two searches, so that no encoding hides a value: (1) the decoded values of every data
    element (file meta, every sequence item, private tags; pydicom decodes the file's
    Specific Character Set, PS3.5 6.1, and inflates Deflated files), and (2) the raw bytes
    of the file (inflated if deflated) for the value encoded in UTF-8, in Latin-1 and in
    the file's own character set. The pixel data value is left out because image bytes can
    match a short string by chance. Matching is case-sensitive; values shorter than 3
    characters are skipped (too many chance hits).

    Args:
        path: a DICOM file.
        values: the strings to look for (names, IDs, dates, ...).

    Returns:
        The values found, in the order given (each once).

    Raises:
        FileNotFoundError, NotDicomError, DicomError: as :func:`read_dataset`.
    """
    ds, _ = read_dataset(path)
    raw = Path(path).read_bytes()
    syntax = transfer_syntax(ds)
    if syntax == pydicom.uid.DeflatedExplicitVRLittleEndian:
        start = raw.find(b"DICM")
        body = raw[132:] if start == 128 else raw
        meta_end = _file_meta_end(body)
        try:
            raw = body[:meta_end] + zlib.decompress(body[meta_end:], -zlib.MAX_WBITS)
        except zlib.error:
            pass
    if "PixelData" in ds:
        pixels = ds.PixelData
        at = raw.rfind(pixels) if len(pixels) > 16 else -1
        if at >= 0:
            raw = raw[:at] + raw[at + len(pixels):]
    charsets = _python_charsets(ds)
    texts = "\x00".join(_element_texts(ds, charsets + ["utf-8", "latin-1"]))
    if getattr(ds, "file_meta", None) is not None:
        texts += "\x00" + "\x00".join(_element_texts(ds.file_meta, ["utf-8", "latin-1"]))
    found = []
    for value in dict.fromkeys(str(v) for v in values):
        if len(value) < 3:
            continue
        if value in texts or any(_encoded(value, c) in raw for c in charsets + ["utf-8", "latin-1"]):
            found.append(value)
    return found


def _encoded(value: str, charset: str) -> bytes:
    try:
        return value.encode(charset)
    except (UnicodeEncodeError, LookupError):
        return value.encode("utf-8")


def _python_charsets(ds: Dataset) -> list[str]:
    from pydicom.charset import convert_encodings

    declared = ds.get("SpecificCharacterSet") or ["ISO_IR 6"]
    declared = [declared] if isinstance(declared, str) else list(declared)
    try:
        return list(dict.fromkeys(convert_encodings(declared)))
    except Exception:
        return ["latin-1"]


def _file_meta_end(body: bytes) -> int:
    """Offset after the file meta group (explicit VR little endian, group 0002) in ``body``."""
    offset = 0
    while offset + 8 <= len(body) and body[offset:offset + 2] == b"\x02\x00":
        vr = body[offset + 4:offset + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT", b"UC", b"UR"):
            length = int.from_bytes(body[offset + 8:offset + 12], "little")
            offset += 12 + length
        else:
            length = int.from_bytes(body[offset + 6:offset + 8], "little")
            offset += 8 + length
    return offset


def compare_headers(before: str | os.PathLike | Dataset, after: str | os.PathLike | Dataset,
                    keywords: Iterable[str] | None = None) -> "pd.DataFrame":
    """A table of top-level attributes before and after de-identification.

    Columns: ``attribute``, ``vr`` (value representation), ``before``, ``after`` and
    ``change`` (kept, removed, emptied, shifted, replaced, added). Pixel data and sequences are summarised,
    not printed. ``keywords``
    limits the rows (default: every attribute in either header, in tag order).

    Args:
        before, after: the files (or datasets) to compare.
        keywords: the attributes to show, or None for all.

    Returns:
        A pandas DataFrame, one row per attribute.

    Raises:
        FileNotFoundError, NotDicomError, DicomError: as :func:`read_dataset`.
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


__all__ = ["DeidSession", "deidentify", "deidentify_dataset", "deidentify_folder", "find_values",
           "compare_headers", "clear_unused_bits", "patient_key_text", "PROFILE", "REMOVE", "EMPTY", "PSEUDONYM",
           "RETAINED", "NOT_SHIFTED"]
