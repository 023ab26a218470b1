"""Errors raised by ``cxrlab.dicom``: each names the file, the problem and the way out."""

from __future__ import annotations


class DicomError(ValueError):
    """Base class: a DICOM file (or dataset) that ``cxrlab.dicom`` cannot use as it is."""


class NotDicomError(DicomError):
    """The file is not DICOM (no ``DICM`` marker after the 128-byte preamble, and no data set)."""


class NoPixelDataError(DicomError):
    """The DICOM file has no Pixel Data (7FE0,0010): a report or a presentation state, not an image."""


class MissingDecoderError(DicomError):
    """The pixel data is compressed and no installed package can decode it."""


class UnsupportedPhotometricError(DicomError):
    """The image is not grayscale (MONOCHROME1 / MONOCHROME2), e.g. RGB or PALETTE COLOR."""


class InvalidHeaderError(DicomError):
    """A header value that drives the pixels (rescale, LUT, window, padding, geometry) is unusable."""


class DicomWarning(UserWarning):
    """A header value was unusable and skipped (e.g. a NaN window); the note says what was used instead."""


def tag_name(keyword: str) -> str:
    """``'WindowCenter'`` -> ``'Window Center (0028,1050)'``: how errors name an attribute."""
    from pydicom.datadict import dictionary_description, tag_for_keyword

    tag = tag_for_keyword(keyword)
    if tag is None:
        return keyword
    return f"{dictionary_description(tag)} ({tag >> 16:04X},{tag & 0xFFFF:04X})"


__all__ = ["DicomError", "NotDicomError", "NoPixelDataError", "MissingDecoderError",
           "UnsupportedPhotometricError", "InvalidHeaderError", "DicomWarning", "tag_name"]
