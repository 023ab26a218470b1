"""Read a radiograph from a DICOM file into a display-ready array in [0, 1].

The display pipeline of DICOM PS3.3 C.11, in order:

1. **stored values** (what the detector wrote, ``BitsStored`` bits, signed or not);
2. **modality LUT**: Rescale Slope/Intercept or a Modality LUT Sequence, giving values in
   the modality's units (``pydicom.pixels.apply_modality_lut``);
3. **VOI LUT**: the file's window (Window Center/Width, possibly several alternatives;
   ``pydicom.pixels.apply_windowing``) or its VOI LUT Sequence picks the range of values
   to show, or a window you pass does (:func:`cxrlab.dicom.window_level`);
4. **presentation**: MONOCHROME1 means "low values are white", so it is inverted here:
   in what ``load`` returns, brighter always means denser (bone white, air black).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_modality_lut, apply_windowing, get_decoder

from .errors import DicomError, MissingDecoderError, NoPixelDataError, NotDicomError, UnsupportedPhotometricError
from .window import min_max, window_level

GRAYSCALE = ("MONOCHROME1", "MONOCHROME2")
PathLike = str | os.PathLike


@dataclass
class DicomImage:
    """One radiograph at every stage of the display pipeline.

    ``stored``: the pixel values as stored (integers); ``modality``: after the modality
    LUT (float64, modality units); ``display``: float32 (rows, cols) in [0, 1], windowed
    and with MONOCHROME1 inverted (1 = white = dense). ``voi`` says which window or LUT
    was used; ``inverted`` whether MONOCHROME1 / an INVERSE presentation LUT was undone.
    """

    name: str
    dataset: Dataset
    stored: np.ndarray
    modality: np.ndarray
    display: np.ndarray
    voi: str
    inverted: bool

    @property
    def photometric(self) -> str:
        """The Photometric Interpretation (0028,0004), e.g. ``"MONOCHROME1"``."""
        return str(self.dataset.PhotometricInterpretation)


def read_dataset(source: PathLike | Dataset, *, stop_before_pixels: bool = False) -> tuple[Dataset, str]:
    """Read a DICOM file (or take a dataset) and return ``(dataset, name)`` for messages.

    Raises FileNotFoundError, IsADirectoryError or NotDicomError, each naming the file
    and what to do.
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
        raise NotDicomError(
            f"{path} is not a DICOM file: it has no 'DICM' marker after the 128-byte preamble. "
            "Check that you picked the right file; if it is an old file without the preamble, "
            "read it with pydicom.dcmread(path, force=True) and pass the dataset instead"
        ) from None
    except Exception as error:  # truncated or corrupt files raise many kinds of errors
        raise DicomError(f"{path} could not be read as DICOM ({type(error).__name__}: {error}); "
                         "the file may be truncated or damaged: copy it again from the source") from error
    return ds, str(path)


def check_image(ds: Dataset, name: str) -> None:
    """Raise a clear DicomError if ``ds`` is not a grayscale image whose pixels can be decoded."""
    if "PixelData" not in ds:
        other = [k for k in ("FloatPixelData", "DoubleFloatPixelData") if k in ds]
        what = f"only {other[0]}, which radiographs do not use" if other else "no Pixel Data (7FE0,0010)"
        sop = getattr(ds, "SOPClassUID", None)
        kind = f" (SOP class: {sop.name})" if sop is not None and hasattr(sop, "name") else ""
        raise NoPixelDataError(f"{name} has {what}{kind}: it is not an image (perhaps a report or a "
                               "presentation state); pick the image files of the series")
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if photometric not in GRAYSCALE or samples != 1:
        raise UnsupportedPhotometricError(
            f"{name} has Photometric Interpretation {photometric or 'missing'!r} with {samples} "
            "sample(s) per pixel; cxrlab.dicom reads grayscale radiographs (MONOCHROME1 or MONOCHROME2). "
            "Check that this is an X-ray image; for a colour image use ds.pixel_array and convert "
            "it yourself (e.g. pydicom.pixels.convert_color_space, then average the channels)"
        )
    meta = getattr(ds, "file_meta", None)
    syntax = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    if syntax is not None and syntax.is_compressed:
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


def _pixels(ds: Dataset, name: str, frame: int | None) -> np.ndarray:
    try:
        stored = ds.pixel_array
    except Exception as error:
        raise DicomError(f"{name}: its pixel data could not be decoded ({type(error).__name__}: {error}); "
                         "the file may be damaged, or its header (Rows, Columns, Bits Allocated) "
                         "may not match the data") from error
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        if frame is None:
            raise DicomError(f"{name} holds {frames} frames; pass frame=i with 0 <= i < {frames}")
        if not 0 <= frame < frames:
            raise DicomError(f"{name}: frame={frame} is out of range; it has frames 0 to {frames - 1}")
        stored = stored[frame]
    elif frame not in (None, 0):
        raise DicomError(f"{name} holds one frame; frame={frame} is out of range (use 0 or None)")
    return stored


def _window_output_range(ds: Dataset) -> tuple[float, float]:
    """The range pydicom's ``apply_windowing`` maps onto (PS3.3 C.11.2.1.2: y_min..y_max).

    It is the range the modality LUT stage can produce: the LUT's bit depth if there is a
    Modality LUT Sequence, else the stored range (``BitsStored``, signed or not), rescaled.
    """
    if ds.get("ModalityLUTSequence"):
        return 0.0, float(2 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1)
    bits = int(ds.BitsStored)
    if int(ds.get("PixelRepresentation", 0)) == 0:
        y_min, y_max = 0.0, float(2 ** bits - 1)
    else:
        y_min, y_max = float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    if ds.get("RescaleSlope") is not None and ds.get("RescaleIntercept") is not None:
        slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
        y_min, y_max = y_min * slope + intercept, y_max * slope + intercept
    return y_min, y_max


def _lut_table(ds: Dataset, item: Dataset) -> np.ndarray:
    """The entries of a LUT item as float64 (LUT Data is US, or OW read as 16-bit words)."""
    count = int(item.LUTDescriptor[0]) or 2 ** 16
    data = item.LUTData
    if isinstance(data, bytes):
        little = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        order = ">" if little is not None and not little.is_little_endian else "<"
        data = np.frombuffer(data, dtype=f"{order}u2")
    table = np.asarray(data, dtype=np.float64).ravel()[:count]
    if table.size == 0:
        raise DicomError("a VOI LUT has no entries; pass window=(center, width) instead")
    return table


def _apply_lut(values: np.ndarray, table: np.ndarray, first_mapped: int) -> np.ndarray:
    """Look values up in a VOI LUT (PS3.3 C.11.2.1.1) and scale the result to [0, 1].

    Values below the first mapped value take the first entry, values past the end the
    last. pydicom 3.0's ``apply_voi`` indexes an 8-bit LUT with 8-bit integers, so a LUT
    with more than 256 entries (12-bit input, 8-bit output: the common case) wraps
    around; the look-up is therefore done here. The output is scaled by the LUT's own
    range, as Cornerstone and Horos do, because some devices declare more bits per
    entry (LUT Descriptor value 3) than their data uses.
    """
    index = np.clip(np.rint(values).astype(np.int64) - first_mapped, 0, table.size - 1)
    out = table[index]
    lo, hi = float(table.min()), float(table.max())
    return (out - lo) / (hi - lo) if hi > lo else np.zeros_like(out)


def _file_voi(ds: Dataset, modality: np.ndarray, name: str, index: int) -> tuple[np.ndarray, str] | None:
    """Apply the file's own VOI LUT Sequence or window number ``index``; None if it has neither."""
    lut_items = ds.get("VOILUTSequence") or []
    has_lut = len(lut_items) > 0 and "LUTDescriptor" in lut_items[0] and "LUTData" in lut_items[0]
    has_window = ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None
    if has_lut:
        if not 0 <= index < len(lut_items):
            raise DicomError(f"{name} has {len(lut_items)} VOI LUT(s); window_index must be 0 to {len(lut_items) - 1}")
        item = lut_items[index]
        table = _lut_table(ds, item)
        explanation = str(item.get("LUTExplanation", "") or "").strip()
        label = f"VOI LUT Sequence item {index + 1} of {len(lut_items)}" + (f" ({explanation})" if explanation else "")
        return _apply_lut(modality, table, int(item.LUTDescriptor[1])), label
    if has_window:
        centers = np.atleast_1d(np.asarray(ds.WindowCenter, dtype=float))
        widths = np.atleast_1d(np.asarray(ds.WindowWidth, dtype=float))
        count = min(len(centers), len(widths))
        if not 0 <= index < count:
            raise DicomError(f"{name} has {count} window(s); window_index must be 0 to {count - 1}")
        function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()
        try:
            out = apply_windowing(modality, ds, index=index)
        except ValueError as error:
            raise DicomError(f"{name}: its window {index + 1} (center {centers[index]:g}, width "
                             f"{widths[index]:g}, {function}) is invalid ({error}); pass "
                             "window=(center, width) or window='minmax'") from error
        y_min, y_max = _window_output_range(ds)
        label = (f"file window {index + 1} of {count}: center {centers[index]:g}, "
                 f"width {widths[index]:g} ({function})")
        return (np.asarray(out, dtype=np.float64) - y_min) / (y_max - y_min), label
    return None


def read_image(source: PathLike | Dataset, window: tuple[float, float] | str | None = None, *,
               window_index: int = 0, frame: int | None = None) -> DicomImage:
    """Read a grayscale radiograph and return it at every stage (see :class:`DicomImage`).

    ``window``: ``None`` uses the file's own VOI (its VOI LUT Sequence, else its window
    number ``window_index`` of possibly several, else min-max); a ``(center, width)``
    tuple in modality units overrides it (LINEAR, PS3.3 C.11.2.1.2); ``"minmax"``
    stretches the full range. ``frame`` picks one frame of a multi-frame file.
    """
    ds, name = read_dataset(source)
    check_image(ds, name)
    stored = _pixels(ds, name, frame)
    try:
        modality = np.asarray(apply_modality_lut(stored, ds), dtype=np.float64)
    except Exception as error:
        raise DicomError(f"{name}: its modality LUT / rescale could not be applied "
                         f"({type(error).__name__}: {error}); check Rescale Slope/Intercept "
                         "or the Modality LUT Sequence") from error

    if isinstance(window, str):
        if window.strip().lower() != "minmax":
            raise ValueError(f"window={window!r} is not understood; use None, (center, width) or 'minmax'")
        voi, label = min_max(modality), "min-max of the image"
    elif window is not None:
        try:
            center, width = window
        except (TypeError, ValueError):
            raise ValueError(f"window must be (center, width), None or 'minmax', got {window!r}") from None
        voi = window_level(modality, center, width, "LINEAR")
        label = f"window passed in: center {float(center):g}, width {float(width):g} (LINEAR)"
    else:
        found = _file_voi(ds, modality, name, window_index)
        voi, label = found if found is not None else (min_max(modality), "min-max (the file has no window)")

    shape = str(ds.get("PresentationLUTShape", "IDENTITY") or "IDENTITY").upper()
    inverted = str(ds.PhotometricInterpretation).strip() == "MONOCHROME1" or shape == "INVERSE"
    display = np.clip(voi, 0.0, 1.0)
    if inverted:
        display = 1.0 - display
    return DicomImage(name=name, dataset=ds, stored=stored, modality=modality,
                      display=display.astype(np.float32), voi=label, inverted=inverted)


def load(source: PathLike | Dataset, window: tuple[float, float] | str | None = None, *,
         window_index: int = 0, frame: int | None = None) -> np.ndarray:
    """Read a grayscale radiograph: float32 (rows, cols) in [0, 1], brighter = denser.

    Applies the modality LUT, then the VOI (``window=(center, width)`` overrides the
    file's; otherwise the file's window number ``window_index`` or its VOI LUT Sequence;
    otherwise min-max), then inverts MONOCHROME1. Raises NotDicomError,
    NoPixelDataError, MissingDecoderError or UnsupportedPhotometricError, each naming the
    file and the fix.
    """
    return read_image(source, window, window_index=window_index, frame=frame).display


__all__ = ["DicomImage", "read_dataset", "check_image", "read_image", "load", "GRAYSCALE"]
