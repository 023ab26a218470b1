"""Read a radiograph from a DICOM file into a display-ready array in [0, 1].

The grayscale display pipeline of DICOM PS3.3 C.11 (and C.7.6.3.1 for the stored values),
in order:

1. **stored values**: what the detector wrote, ``Bits Stored`` bits of each ``Bits
   Allocated`` container, unsigned or two's complement (Pixel Representation). Bits
   outside Bits Stored (an overlay plane, garbage) are masked off and signed values are
   sign-extended, whatever the transfer syntax (PS3.5 8.1.1): a JPEG 2000 codestream may
   still carry them;
2. **modality LUT** (PS3.3 C.11.1): Rescale Slope/Intercept or a Modality LUT Sequence,
   giving values in the modality's units;
3. **VOI LUT** (PS3.3 C.11.2): the file's window (Window Center/Width, possibly several
   alternatives; LINEAR, LINEAR_EXACT or SIGMOID) or its VOI LUT Sequence picks the range of
   values to show, or a window you pass does (:func:`cxrlab.dicom.window_level`);
4. **presentation**: MONOCHROME1 means "low values are white", so it is inverted here:
   in what ``load`` returns, brighter always means denser (bone white, air black).

Pixel Padding Value / Range Limit (PS3.3 C.7.5.1.1.2) mark pixels outside the detector
field; they take no part in a min-max stretch and are shown as :data:`PADDING_DISPLAY`
(0.0, black) in the output.

Every header value that drives the pixels is checked before it is used: a value that does
not parse, or that no formula can use (a NaN or zero slope, a LUT shorter than its
descriptor), raises :class:`~cxrlab.dicom.InvalidHeaderError` naming the attribute; an
unusable *window* is skipped (the next window, else min-max) with a note in
:attr:`DicomImage.notes` and a :class:`~cxrlab.dicom.DicomWarning`. Nothing non-finite is
ever returned.

The stages are computed in float32 in one fused pass where the standard's formulas are
affine (rescale followed by a LINEAR or LINEAR_EXACT window, or min-max); LUTs and the
SIGMOID function go through a table over the stored-value range. Both agree with pydicom's
``apply_modality_lut`` and ``apply_windowing`` (tested).
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import get_decoder
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from .errors import (
    DicomError,
    DicomWarning,
    InvalidHeaderError,
    MissingDecoderError,
    NoPixelDataError,
    NotDicomError,
    UnsupportedPhotometricError,
    tag_name,
)
from .window import VOI_FUNCTIONS, window_level

GRAYSCALE = ("MONOCHROME1", "MONOCHROME2")
PADDING_DISPLAY = 0.0
"""The display value of padding pixels (Pixel Padding Value / Range Limit): 0.0, black."""
PathLike = str | os.PathLike

# Data elements whose presence shows that a forced read (no preamble, no file meta) found a data set.
_PLAUSIBLE = (0x00080016, 0x00080018, 0x00080060, 0x00100010, 0x00280010, 0x7FE00010)


@dataclass
class DicomImage:
    """One radiograph at every stage of the display pipeline.

    Attributes:
        name: the file (or ``"<dataset in memory>"``), for messages.
        dataset: the pydicom dataset read.
        stored: (rows, cols) integers: the stored values, masked to Bits Stored and
            sign-extended (PS3.5 8.1.1).
        modality: (rows, cols) float64, after the modality LUT (modality units).
        display: (rows, cols) float32 in [0, 1], windowed, padding at ``PADDING_DISPLAY``,
            MONOCHROME1 inverted (1 = white = dense).
        voi: which window or LUT was used, in words.
        inverted: whether MONOCHROME1 / an INVERSE presentation LUT shape was undone.
        notes: header values that were unusable and what was used instead.
        padding: (rows, cols) bool mask of padding pixels, or None if the file declares none.
    """

    name: str
    dataset: Dataset
    stored: np.ndarray
    modality: np.ndarray
    display: np.ndarray
    voi: str
    inverted: bool
    notes: list[str] = field(default_factory=list)
    padding: np.ndarray | None = None

    @property
    def photometric(self) -> str:
        """The Photometric Interpretation (0028,0004), e.g. ``"MONOCHROME1"``."""
        return str(self.dataset.PhotometricInterpretation)


# ----------------------------------------------------------------------------- reading


def read_dataset(source: PathLike | Dataset, *, stop_before_pixels: bool = False) -> tuple[Dataset, str]:
    """Read a DICOM file (or take a dataset) and return ``(dataset, name)`` for messages.

    Files without the 128-byte preamble and file meta group (PS3.10 7.1), as old archives
    hold them, are read too: pydicom's forced read detects their encoding (implicit or
    explicit VR, byte order), which :func:`transfer_syntax` then reports.

    Args:
        source: a path to a DICOM file, or a pydicom Dataset (returned as it is).
        stop_before_pixels: skip the pixel data (faster when only the header is needed).

    Returns:
        ``(dataset, name)``: the dataset and the file name (or ``"<dataset in memory>"``).

    Raises:
        TypeError: ``source`` is neither a path nor a Dataset.
        FileNotFoundError, IsADirectoryError: the path is missing or a folder.
        NotDicomError: the file holds no DICOM data set at all.
        DicomError: the file is truncated or damaged.
    """
    if isinstance(source, Dataset):
        return source, str(getattr(source, "filename", None) or "<dataset in memory>")
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"expected a path to a DICOM file or a pydicom Dataset, got {type(source).__name__}")
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file (working directory {Path.cwd()}); check the path")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; pass one file, e.g. sorted(Path('{path}').glob('*.dcm'))[0]")
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError:
        ds = _forced_read(path, stop_before_pixels)
    except Exception as error:  # truncated or corrupt files raise many kinds of errors
        raise DicomError(f"{path} could not be read as DICOM ({type(error).__name__}: {error}); "
                         "the file may be truncated or damaged: copy it again from the source") from error
    return ds, str(path)


def _forced_read(path: Path, stop_before_pixels: bool) -> Dataset:
    """Read a file without preamble and file meta; NotDicomError if no data set is found."""
    refuse = NotDicomError(
        f"{path} is not a DICOM file: it has no 'DICM' marker after the 128-byte preamble, and "
        "no DICOM data set either (tried pydicom.dcmread(path, force=True)). Check that you "
        "picked the right file")
    try:
        ds = pydicom.dcmread(path, force=True, stop_before_pixels=stop_before_pixels)
        found = [tag for tag in _PLAUSIBLE if tag in ds]
        if not found:
            raise refuse
        str(ds[found[0]].value)  # parse one element: garbage fails here
    except NotDicomError:
        raise
    except Exception as error:
        raise refuse from error
    return ds


def transfer_syntax(ds: Dataset) -> UID:
    """The Transfer Syntax UID of ``ds``: its file meta's, else the encoding pydicom read it in.

    Args:
        ds: a dataset, with or without a file meta group (0002).

    Returns:
        The Transfer Syntax UID (PS3.5 10); for a file without file meta, Implicit VR Little
        Endian, Explicit VR Little Endian or Explicit VR Big Endian, as detected.

    Raises:
        InvalidHeaderError: neither the file meta nor the read encoding says how it is encoded.
    """
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax:
        return UID(str(syntax))
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit is None:
        implicit, little = getattr(ds, "is_implicit_VR", None), getattr(ds, "is_little_endian", None)
    if implicit is None or little is None:
        raise InvalidHeaderError(
            "the dataset has no Transfer Syntax UID (0002,0010) and was not read from a file; set "
            "ds.file_meta = pydicom.dataset.FileMetaDataset(); ds.file_meta.TransferSyntaxUID = "
            "pydicom.uid.ExplicitVRLittleEndian (or what the data is encoded in)")
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little else ExplicitVRBigEndian


# ----------------------------------------------------------------------------- header values


def _number(ds: Dataset, keyword: str, name: str, default: float | None = None, *,
            index: int | None = None) -> float | None:
    """A finite number from a DS/IS/US element; InvalidHeaderError naming the tag otherwise."""
    values = _numbers(ds, keyword, name, finite=True)
    if not values:
        return default
    if index is not None:
        return values[index]
    if len(values) > 1:
        raise InvalidHeaderError(f"{name}: {tag_name(keyword)} holds {len(values)} values where one is "
                                 "allowed; fix the header (e.g. keep the first value)")
    return values[0]


def _numbers(ds: Dataset, keyword: str, name: str, *, finite: bool = False) -> list[float]:
    """Every value of a numeric element as floats ([] if absent or empty)."""
    try:
        raw = ds.get(keyword)
    except Exception as error:  # pydicom parses DS/IS lazily and raises on bad text
        raise InvalidHeaderError(f"{name}: {tag_name(keyword)} could not be read ({error}); "
                                 "fix or remove it") from error
    if raw is None or raw == "" or (isinstance(raw, (list, tuple)) and len(raw) == 0):
        return []
    items = list(raw) if isinstance(raw, (list, tuple, pydicom.multival.MultiValue)) else [raw]
    out = []
    for item in items:
        try:
            value = float(item)
        except (TypeError, ValueError):
            raise InvalidHeaderError(f"{name}: {tag_name(keyword)} = {item!r} is not a number; "
                                     "fix or remove it") from None
        if finite and not math.isfinite(value):
            raise InvalidHeaderError(f"{name}: {tag_name(keyword)} = {item!r} is not a finite number; "
                                     "fix or remove it")
        out.append(value)
    return out


def _header_int(ds: Dataset, keyword: str, name: str, default: int | None = None) -> int:
    value = _number(ds, keyword, name, None if default is None else float(default))
    if value is None:
        raise InvalidHeaderError(f"{name}: {tag_name(keyword)} is missing; it is required for image pixels")
    if value != int(value):
        raise InvalidHeaderError(f"{name}: {tag_name(keyword)} = {value} is not a whole number")
    return int(value)


def as_pixel_sign(value: Any, signed: bool) -> int:
    """A 16-bit US-or-SS header value read with the sign the pixel data has (PS3.3 C.11.1.1).

    The first-mapped value of a LUT Descriptor and the Pixel Padding Value have VR US or SS
    depending on Pixel Representation. Files often declare the other one, so the 16-bit
    pattern is kept and read as two's complement exactly when ``signed``.

    Args:
        value: the value as read (int, possibly negative).
        signed: whether the values it is compared with are signed.

    Returns:
        The value in the range -32768..32767 if ``signed``, else 0..65535.
    """
    raw = int(value) & 0xFFFF
    return raw - 0x10000 if signed and raw >= 0x8000 else raw


# ----------------------------------------------------------------------------- checks and decoding


def check_image(ds: Dataset, name: str) -> None:
    """Raise a clear error if ``ds`` is not a grayscale image whose pixels can be decoded.

    Args:
        ds: the dataset.
        name: the file name, for messages.

    Raises:
        NoPixelDataError: no Pixel Data (7FE0,0010).
        UnsupportedPhotometricError: not MONOCHROME1/2 with one sample per pixel (PS3.3 C.7.6.3.1.2).
        MissingDecoderError: compressed with a syntax no installed plugin decodes.
        InvalidHeaderError: no transfer syntax can be determined.
    """
    if "PixelData" not in ds:
        other = [k for k in ("FloatPixelData", "DoubleFloatPixelData") if k in ds]
        what = f"only {other[0]}, which radiographs do not use" if other else "no Pixel Data (7FE0,0010)"
        sop = ds.get("SOPClassUID")
        kind = f" (SOP class: {sop.name})" if sop is not None and hasattr(sop, "name") else ""
        raise NoPixelDataError(f"{name} has {what}{kind}: it is not an image (perhaps a report or a "
                               "presentation state); pick the image files of the series")
    photometric = str(ds.get("PhotometricInterpretation", "") or "").strip()
    try:
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
    except (TypeError, ValueError):
        samples = 0
    if photometric not in GRAYSCALE or samples != 1:
        raise UnsupportedPhotometricError(
            f"{name} has Photometric Interpretation {photometric or 'missing'!r} with {samples} "
            "sample(s) per pixel; cxrlab.dicom reads grayscale radiographs (MONOCHROME1 or MONOCHROME2). "
            "Check that this is an X-ray image; for a colour image use ds.pixel_array and convert "
            "it yourself (e.g. pydicom.pixels.convert_color_space, then average the channels)"
        )
    syntax = transfer_syntax(ds)
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        raise MissingDecoderError(f"{name} is compressed with {syntax.name} ({syntax}), which pydicom "
                                  "cannot decode at all; convert it with dcmtk or gdcm "
                                  "(e.g. 'gdcmconv --raw in.dcm out.dcm')") from None
    if not decoder.is_available:
        needs = "; ".join(decoder.missing_dependencies) or "a decoder plugin"
        raise MissingDecoderError(
            f"{name} is compressed with {syntax.name} ({syntax}) and no installed package "
            f"can decode it. Install one of: {needs} (e.g. 'pip install pylibjpeg "
            "pylibjpeg-libjpeg pylibjpeg-openjpeg', or 'pip install python-gdcm'), then retry"
        )


@dataclass
class _Layout:
    """Image Pixel module values (PS3.3 C.7.6.3) that say how to read a stored value."""

    bits_allocated: int
    bits_stored: int
    high_bit: int
    signed: bool
    frames: int


def _layout(ds: Dataset, name: str) -> _Layout:
    allocated = _header_int(ds, "BitsAllocated", name)
    stored = _header_int(ds, "BitsStored", name, allocated)
    high = _header_int(ds, "HighBit", name, stored - 1)
    representation = _header_int(ds, "PixelRepresentation", name, 0)
    frames = _header_int(ds, "NumberOfFrames", name, 1) if ds.get("NumberOfFrames") not in (None, "") else 1
    if allocated not in (1, 8, 16, 32):
        raise InvalidHeaderError(f"{name}: {tag_name('BitsAllocated')} = {allocated}; grayscale pixels "
                                 "use 1 (a binary mask), 8, 16 or 32 (PS3.5 8.1.1); check the file")
    if not 1 <= stored <= allocated:
        raise InvalidHeaderError(f"{name}: {tag_name('BitsStored')} = {stored} must lie in 1..{allocated} "
                                 "(Bits Allocated); fix the header")
    if not stored - 1 <= high < allocated:
        raise InvalidHeaderError(f"{name}: {tag_name('HighBit')} = {high} must lie in {stored - 1}.."
                                 f"{allocated - 1} (Bits Stored - 1 .. Bits Allocated - 1); fix the header")
    if representation not in (0, 1):
        raise InvalidHeaderError(f"{name}: {tag_name('PixelRepresentation')} = {representation} must be "
                                 "0 (unsigned) or 1 (two's complement)")
    return _Layout(allocated, stored, high, representation == 1, max(frames, 1))


def normalise_bits(values: np.ndarray, bits_stored: int, high_bit: int, signed: bool) -> np.ndarray:
    """Keep only the ``bits_stored`` bits ending at ``high_bit``; sign-extend if ``signed``.

    What PS3.5 8.1.1 says a stored value is, whatever a decoder returned: bits above High Bit
    (an overlay plane, as old CR and some JPEG 2000 encoders leave them) and below the
    stored bits are dropped. Returns ``values`` itself when nothing needs changing (checked
    with one min/max), else a new array of the same dtype.

    Args:
        values: integer array as decoded (unsigned or signed container of Bits Allocated).
        bits_stored: Bits Stored (0028,0101).
        high_bit: High Bit (0028,0102).
        signed: Pixel Representation (0028,0103) is 1.

    Returns:
        The stored values: 0 .. 2**bits - 1, or -2**(bits-1) .. 2**(bits-1) - 1 if signed.
    """
    container = values.dtype.itemsize * 8
    shift = high_bit + 1 - bits_stored
    if bits_stored >= container and shift == 0:
        return values
    if shift == 0:
        lo, hi = (-(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1) if signed else (0, (1 << bits_stored) - 1)
        if values.size == 0 or (int(values.min()) >= lo and int(values.max()) <= hi):
            return values
    unsigned = values.view(np.dtype(f"u{values.dtype.itemsize}")) if values.dtype.kind == "i" else values
    out = unsigned >> shift if shift else unsigned.copy()
    out &= np.array((1 << bits_stored) - 1, dtype=out.dtype)
    if not signed:
        return out if values.dtype.kind == "u" else out.view(values.dtype)
    result = out.view(np.dtype(f"i{values.dtype.itemsize}"))
    sign = np.array(1 << (bits_stored - 1), dtype=result.dtype)
    if bits_stored < container:
        result ^= sign
        result -= sign
    return result


def _stored(ds: Dataset, name: str, frame: int | None, layout: _Layout) -> np.ndarray:
    """Decode one frame and normalise it to Bits Stored (never writes into ``ds``'s buffers)."""
    if layout.frames > 1:
        if frame is None:
            raise DicomError(f"{name} holds {layout.frames} frames; pass frame=i with 0 <= i < {layout.frames}")
        if not 0 <= frame < layout.frames:
            raise DicomError(f"{name}: frame={frame} is out of range; it has frames 0 to {layout.frames - 1}")
        index: int | None = frame
    else:
        if frame not in (None, 0):
            raise DicomError(f"{name} holds one frame; frame={frame} is out of range (use 0 or None)")
        index = None
    syntax = transfer_syntax(ds)
    decoder = get_decoder(syntax)
    options: dict[str, Any] = {"raw": True}
    if not syntax.is_compressed:
        options.update(view_only=True, correct_unused_bits=False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns about J2K precision; normalise_bits fixes it
            array, _ = decoder.as_array(ds, index=index, **options)
    except Exception as error:
        raise DicomError(f"{name}: its pixel data could not be decoded ({type(error).__name__}: {error}); "
                         "the file may be damaged, or its header (Rows, Columns, Bits Allocated) "
                         "may not match the data") from error
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2:
        raise DicomError(f"{name}: decoded pixel data has shape {array.shape}, not (rows, cols); "
                         "check Rows, Columns and Number of Frames")
    if array.dtype.kind not in "iu":
        raise DicomError(f"{name}: decoded pixel data has dtype {array.dtype}, not integers")
    return normalise_bits(array, layout.bits_stored, layout.high_bit, layout.signed)


# ----------------------------------------------------------------------------- LUTs


def _lut_table(ds: Dataset, item: Dataset, what: str, name: str) -> tuple[np.ndarray, int, int]:
    """(entries float64, number of entries, bits per entry) of a LUT item (PS3.3 C.11.1.1.1)."""
    try:
        descriptor = [int(v) for v in item.LUTDescriptor]
    except Exception as error:
        raise InvalidHeaderError(f"{name}: {what} {tag_name('LUTDescriptor')} could not be read ({error}); "
                                 "fix it or remove the LUT") from error
    if len(descriptor) != 3:
        raise InvalidHeaderError(f"{name}: {what} {tag_name('LUTDescriptor')} has {len(descriptor)} values, "
                                 "not 3 (entries, first mapped value, bits per entry)")
    count = (descriptor[0] & 0xFFFF) or 2 ** 16
    bits = descriptor[2]
    if not 1 <= bits <= 16:
        raise InvalidHeaderError(f"{name}: {what} {tag_name('LUTDescriptor')} says {bits} bits per entry; "
                                 "PS3.3 C.11.1.1.1 allows 8 to 16")
    data = item.get("LUTData")
    if data is None:
        raise InvalidHeaderError(f"{name}: {what} has no {tag_name('LUTData')}; remove the LUT or add its data")
    if isinstance(data, (bytes, bytearray)):
        order = "<" if transfer_syntax(ds).is_little_endian else ">"
        table = np.frombuffer(data, dtype="u1" if len(data) == count and bits <= 8 else f"{order}u2")
    else:
        table = np.asarray(data if isinstance(data, (list, tuple, pydicom.multival.MultiValue)) else [data])
    table = np.asarray(table, dtype=np.float64).ravel()
    if table.size < count:
        raise InvalidHeaderError(f"{name}: {what} {tag_name('LUTData')} holds {table.size} entries but its "
                                 f"{tag_name('LUTDescriptor')} declares {count}; the file is damaged")
    table = table[:count]
    if not np.isfinite(table).all():
        raise InvalidHeaderError(f"{name}: {what} {tag_name('LUTData')} holds non-finite entries")
    return table, count, bits


def _look_up(values: np.ndarray, table: np.ndarray, first_mapped: int) -> np.ndarray:
    """PS3.3 C.11.1 / C.11.2.1.1: values below the first mapped one take entry 0, past the end the last."""
    index = np.clip(np.rint(values).astype(np.int64) - first_mapped, 0, table.size - 1)
    return table[index]


# ----------------------------------------------------------------------------- the pipeline


@dataclass
class _Modality:
    """The modality stage: an affine rescale, or a LUT (PS3.3 C.11.1)."""

    slope: float = 1.0
    intercept: float = 0.0
    table: np.ndarray | None = None
    first_mapped: int = 0
    label: str = "identity"

    def apply(self, values: np.ndarray) -> np.ndarray:
        """float64 modality values of ``values`` (stored values)."""
        if self.table is not None:
            return _look_up(values, self.table, self.first_mapped)
        return values.astype(np.float64) * self.slope + self.intercept

    def range(self, lo: float, hi: float) -> tuple[float, float]:
        """The modality values reachable from stored values in [lo, hi]."""
        if self.table is not None:
            return float(self.table.min()), float(self.table.max())
        a, b = lo * self.slope + self.intercept, hi * self.slope + self.intercept
        return min(a, b), max(a, b)


def _modality(ds: Dataset, name: str, layout: _Layout) -> _Modality:
    items = ds.get("ModalityLUTSequence") or []
    if len(items) > 0:
        table, _, _ = _lut_table(ds, items[0], "Modality LUT Sequence item 1:", name)
        first = as_pixel_sign(items[0].LUTDescriptor[1], layout.signed)
        return _Modality(table=table, first_mapped=first, label="Modality LUT Sequence")
    slope = _number(ds, "RescaleSlope", name, 1.0)
    intercept = _number(ds, "RescaleIntercept", name, 0.0)
    if slope == 0:
        raise InvalidHeaderError(f"{name}: {tag_name('RescaleSlope')} is 0, which maps every pixel to the "
                                 "intercept; fix the header (1 if the pixels need no rescale)")
    return _Modality(slope=slope, intercept=intercept, label=f"rescale {slope:g} x + {intercept:g}")


@dataclass
class _Voi:
    """The VOI stage chosen: a window, a LUT, or min-max."""

    kind: str  # "LINEAR", "LINEAR_EXACT", "SIGMOID", "LUT" or "MINMAX"
    label: str
    center: float = 0.0
    width: float = 1.0
    table: np.ndarray | None = None
    first_mapped: int = 0


def _window_usable(center: float, width: float, function: str) -> str | None:
    """Why a window cannot be used (PS3.3 C.11.2.1.2), or None."""
    if not (math.isfinite(center) and math.isfinite(width)):
        return "not finite"
    if function == "LINEAR" and width < 1:
        return "width < 1, which LINEAR does not allow (PS3.3 C.11.2.1.2.1)"
    if width <= 0:
        return f"width <= 0, which {function} does not allow (PS3.3 C.11.2.1.3)"
    return None


def _file_voi(ds: Dataset, name: str, index: int, modality: _Modality, layout: _Layout,
              notes: list[str]) -> _Voi | None:
    """The file's VOI LUT item or window number ``index`` (or the next usable one); None if none."""
    lut_items = [item for item in (ds.get("VOILUTSequence") or []) if "LUTDescriptor" in item]
    centers = _numbers(ds, "WindowCenter", name)
    widths = _numbers(ds, "WindowWidth", name)
    if lut_items:
        if not 0 <= index < len(lut_items):
            raise DicomError(f"{name} has {len(lut_items)} VOI LUT(s); window_index must be 0 to {len(lut_items) - 1}")
        item = lut_items[index]
        what = f"VOI LUT Sequence item {index + 1}:"
        try:
            table, _, _ = _lut_table(ds, item, what, name)
        except InvalidHeaderError as error:
            notes.append(f"VOI LUT skipped: {error}")
        else:
            # the first mapped value is compared with modality values: signed if those can be negative
            lo, _ = modality.range(*_stored_range(layout))
            first = as_pixel_sign(item.LUTDescriptor[1], modality.table is None and lo < 0)
            explanation = str(item.get("LUTExplanation", "") or "").strip()
            label = f"VOI LUT Sequence item {index + 1} of {len(lut_items)}" + (f" ({explanation})" if explanation else "")
            return _Voi("LUT", label, table=table, first_mapped=first)
    if centers and widths:
        count = min(len(centers), len(widths))
        if len(centers) != len(widths):
            notes.append(f"{tag_name('WindowCenter')} has {len(centers)} values and {tag_name('WindowWidth')} "
                         f"{len(widths)}; the first {count} pairs are used")
        if not lut_items and not 0 <= index < count:
            raise DicomError(f"{name} has {count} window(s); window_index must be 0 to {count - 1}")
        function = str(ds.get("VOILUTFunction", "") or "LINEAR").strip().upper()
        if function not in VOI_FUNCTIONS:
            notes.append(f"{tag_name('VOILUTFunction')} {function!r} is not one of {', '.join(VOI_FUNCTIONS)}; "
                         "LINEAR is used (the default of PS3.3 C.11.2.1.3)")
            function = "LINEAR"
        order = [index] + [i for i in range(count) if i != index] if index < count else list(range(count))
        for i in order:
            c, w = centers[i], widths[i]
            why = _window_usable(c, w, function)
            if why is not None:
                notes.append(f"file window {i + 1} of {count} (center {c:g}, width {w:g}, {function}) skipped: {why}")
                continue
            label = f"file window {i + 1} of {count}: center {c:g}, width {w:g} ({function})"
            return _Voi(function, label, center=c, width=w)
    return None


def _stored_range(layout: _Layout) -> tuple[int, int]:
    if layout.signed:
        return -(1 << (layout.bits_stored - 1)), (1 << (layout.bits_stored - 1)) - 1
    return 0, (1 << layout.bits_stored) - 1


def _padding(ds: Dataset, name: str, stored: np.ndarray, layout: _Layout,
             notes: list[str]) -> np.ndarray | None:
    """Boolean mask of padding pixels (PS3.3 C.7.5.1.1.2), or None."""
    if ds.get("PixelPaddingValue") is None:
        if ds.get("PixelPaddingRangeLimit") is not None:
            notes.append(f"{tag_name('PixelPaddingRangeLimit')} without {tag_name('PixelPaddingValue')} "
                         "is ignored (PS3.3 C.7.5.1.1.2 requires both)")
        return None
    first = _number(ds, "PixelPaddingValue", name, index=0)
    if first is None:
        return None
    value = as_pixel_sign(first, layout.signed)
    limit = _number(ds, "PixelPaddingRangeLimit", name, index=0)
    other = as_pixel_sign(limit, layout.signed) if limit is not None else value
    lo, hi = min(value, other), max(value, other)
    mask = stored == lo if lo == hi else (stored >= lo) & (stored <= hi)
    return mask if mask.any() else None


def _render(ds: Dataset, name: str, stored: np.ndarray, layout: _Layout, modality: _Modality,
            window: tuple[float, float] | str | None, window_index: int, notes: list[str],
            padding: np.ndarray | None) -> tuple[np.ndarray, str, bool]:
    """Stored values -> float32 display in [0, 1] (VOI, padding, inversion); ``(display, label, inverted)``."""
    if isinstance(window, str):
        if window.strip().lower() != "minmax":
            raise ValueError(f"window={window!r} is not understood; use None, (center, width) or 'minmax'")
        voi = _Voi("MINMAX", "min-max of the image")
    elif window is not None:
        try:
            center, width = window
        except (TypeError, ValueError):
            raise ValueError(f"window must be (center, width), None or 'minmax', got {window!r}") from None
        window_level(0.0, center, width, "LINEAR")  # validates (ValueError naming the problem)
        voi = _Voi("LINEAR", f"window passed in: center {float(center):g}, width {float(width):g} (LINEAR)",
                   center=float(center), width=float(width))
    else:
        voi = _file_voi(ds, name, window_index, modality, layout, notes) or \
            _Voi("MINMAX", "min-max (the file has no usable window)" if notes else "min-max (the file has no window)")

    shape = str(ds.get("PresentationLUTShape", "IDENTITY") or "IDENTITY").strip().upper()
    inverted = str(ds.PhotometricInterpretation).strip() == "MONOCHROME1" or shape == "INVERSE"

    field = stored if padding is None else stored[~padding]
    if field.size == 0:
        notes.append("every pixel is padding; the image is shown black")
        return np.full(stored.shape, PADDING_DISPLAY, np.float32), voi.label, inverted
    affine = modality.table is None and voi.kind in ("LINEAR", "LINEAR_EXACT", "MINMAX") \
        and layout.bits_stored <= 24
    if affine:
        lo, hi = (int(field.min()), int(field.max())) if voi.kind == "MINMAX" else (0, 0)
        display = _affine_display(stored, modality, voi, lo, hi, inverted)
    else:
        display = _table_display(stored, modality, voi, int(stored.min()), int(stored.max()), inverted, field)
    if padding is not None:
        np.copyto(display, np.float32(PADDING_DISPLAY), where=padding)
    return display, voi.label, inverted


def _affine_display(stored: np.ndarray, modality: _Modality, voi: _Voi, lo: int, hi: int,
                    inverted: bool) -> np.ndarray:
    """One float32 pass: y = clip(a (x - x0) + b, 0, 1), with the rescale, window and inversion folded in.

    LINEAR (PS3.3 C.11.2.1.2.1) on m = s x + i: y = (m - (c - 0.5)) / (w - 1) + 0.5, clipped;
    LINEAR_EXACT (C.11.2.1.3.2): y = (m - c) / w + 0.5; min-max: y = (x - lo) / (hi - lo).
    ``x0`` is an integer stored value near the window's centre, so that ``x - x0`` is exact
    in float32 and the result keeps float32's relative precision.
    """
    s, i = modality.slope, modality.intercept
    if voi.kind == "MINMAX":
        if hi <= lo:
            flat = np.full(stored.shape, np.float32(1.0 if inverted else 0.0))
            return flat
        a, x0, b = 1.0 / (hi - lo), lo, 0.0
    elif voi.kind == "LINEAR" and voi.width == 1:  # an empty ramp: a threshold at c - 0.5
        m = stored.astype(np.float64) * s + i
        out = (m > voi.center - 0.5).astype(np.float32)
        return 1 - out if inverted else out
    else:
        center = voi.center - 0.5 if voi.kind == "LINEAR" else voi.center
        span = voi.width - 1 if voi.kind == "LINEAR" else voi.width
        a = s / span
        x0 = int(np.clip(round((center - i) / s), -(2 ** 31), 2 ** 31 - 1))
        b = (x0 * s + i - center) / span + 0.5
    if inverted:
        a, b = -a, 1.0 - b
    out = np.empty(stored.shape, dtype=np.float32)
    np.subtract(stored, np.float32(x0), out=out, dtype=np.float32)  # cast and shift in one pass
    out *= np.float32(a)
    if b:
        out += np.float32(b)
    np.clip(out, 0.0, 1.0, out=out)
    return out


def _table_display(stored: np.ndarray, modality: _Modality, voi: _Voi, lo: int, hi: int,
                   inverted: bool, field: np.ndarray) -> np.ndarray:
    """LUTs and SIGMOID: compute the pipeline in float64 for every stored value in [lo, hi], then look up."""
    if hi - lo > 2 ** 20:  # 32-bit data with a huge range: per pixel instead
        values, offset = stored.astype(np.float64), None
    else:
        values, offset = np.arange(lo, hi + 1, dtype=np.float64), lo
    m = modality.apply(values)
    if voi.kind == "LUT":
        table = voi.table
        y = _look_up(m, table, voi.first_mapped)
        t_lo, t_hi = float(table.min()), float(table.max())
        y = (y - t_lo) / (t_hi - t_lo) if t_hi > t_lo else np.zeros_like(y)
    elif voi.kind == "MINMAX":  # over the values the (non-padding) pixels take
        m_field = modality.apply(field)
        m_lo, m_hi = float(m_field.min()), float(m_field.max())
        y = (m - m_lo) / (m_hi - m_lo) if m_hi > m_lo else np.zeros_like(m)
    else:
        y = window_level(m, voi.center, voi.width, voi.kind)
    y = np.clip(y, 0.0, 1.0)
    if inverted:
        y = 1.0 - y
    y = y.astype(np.float32)
    if offset is None:
        return y
    index = stored.astype(np.int64 if stored.dtype.itemsize > 2 else np.int32)  # no wrap-around below
    if offset:
        index -= offset
    return np.take(y, index)


def _prepare(source: PathLike | Dataset, frame: int | None) -> tuple[Dataset, str, _Layout, np.ndarray, _Modality]:
    ds, name = read_dataset(source)
    check_image(ds, name)
    layout = _layout(ds, name)
    modality = _modality(ds, name, layout)
    stored = _stored(ds, name, frame, layout)
    return ds, name, layout, stored, modality


def _warn(name: str, notes: list[str]) -> None:
    if notes:
        warnings.warn(f"{name}: " + "; ".join(notes), DicomWarning, stacklevel=3)


def read_image(source: PathLike | Dataset, window: tuple[float, float] | str | None = None, *,
               window_index: int = 0, frame: int | None = None) -> DicomImage:
    """Read a grayscale radiograph and return it at every stage (see :class:`DicomImage`).

    Args:
        source: a DICOM file (with or without file meta) or a pydicom Dataset (not changed).
        window: ``None`` uses the file's own VOI (its VOI LUT Sequence, else its window
            number ``window_index`` of possibly several, skipping unusable ones, else
            min-max over the non-padding pixels); a ``(center, width)`` tuple in modality
            units overrides it (LINEAR, PS3.3 C.11.2.1.2); ``"minmax"`` stretches the range.
        window_index: which of the file's windows or VOI LUTs to prefer (0-based).
        frame: the frame of a multi-frame file (required there).

    Returns:
        A :class:`DicomImage`; its ``display`` is float32 (rows, cols) in [0, 1], finite,
        with padding pixels at :data:`PADDING_DISPLAY`.

    Raises:
        NotDicomError, NoPixelDataError, UnsupportedPhotometricError, MissingDecoderError:
            see :func:`check_image`.
        InvalidHeaderError: a rescale, LUT, padding or pixel-layout value is unusable (names the tag).
        DicomError: pixels that cannot be decoded, a frame or window_index out of range.
        ValueError: a ``window`` argument that is not understood.
    """
    ds, name, layout, stored, modality = _prepare(source, frame)
    notes: list[str] = []
    padding = _padding(ds, name, stored, layout, notes)
    display, label, inverted = _render(ds, name, stored, layout, modality, window, window_index, notes, padding)
    _warn(name, notes)
    return DicomImage(name=name, dataset=ds, stored=stored, modality=modality.apply(stored),
                      display=display, voi=label, inverted=inverted, notes=notes, padding=padding)


def load(source: PathLike | Dataset, window: tuple[float, float] | str | None = None, *,
         window_index: int = 0, frame: int | None = None) -> np.ndarray:
    """Read a grayscale radiograph: float32 (rows, cols) in [0, 1], brighter = denser.

    The fast path of :func:`read_image` (the same display, without the intermediate stages):
    stored values masked to Bits Stored, the modality LUT, the VOI (``window=(center, width)``
    overrides the file's; otherwise the file's window number ``window_index`` or its VOI LUT
    Sequence, skipping unusable ones with a :class:`DicomWarning`; otherwise min-max over
    non-padding pixels), padding pixels at :data:`PADDING_DISPLAY` (0, black), MONOCHROME1
    inverted (PS3.3 C.11, C.7.5.1.1.2, C.7.6.3.1.2).

    Args:
        source: a DICOM file (with or without file meta) or a pydicom Dataset (not changed).
        window: ``None``, ``(center, width)`` in modality units, or ``"minmax"``.
        window_index: which of the file's windows or VOI LUTs to prefer (0-based).
        frame: the frame of a multi-frame file (required there).

    Returns:
        float32 array (rows, cols), finite, in [0, 1].

    Raises:
        NotDicomError, NoPixelDataError, MissingDecoderError, UnsupportedPhotometricError,
        InvalidHeaderError, DicomError, ValueError: as :func:`read_image`.
    """
    ds, name, layout, stored, modality = _prepare(source, frame)
    notes: list[str] = []
    padding = _padding(ds, name, stored, layout, notes)
    display, _, _ = _render(ds, name, stored, layout, modality, window, window_index, notes, padding)
    _warn(name, notes)
    return display


__all__ = ["DicomImage", "read_dataset", "check_image", "read_image", "load", "GRAYSCALE", "PADDING_DISPLAY",
           "transfer_syntax", "normalise_bits", "as_pixel_sign"]
