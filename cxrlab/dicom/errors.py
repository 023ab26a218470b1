"""Errors raised by ``cxrlab.dicom``: each names the file, the problem and the way out."""

from __future__ import annotations


class DicomError(ValueError):
    """Base class: a DICOM file (or dataset) that ``cxrlab.dicom`` cannot use as it is."""


class NotDicomError(DicomError):
    """The file is not DICOM (no ``DICM`` marker after the 128-byte preamble)."""


class NoPixelDataError(DicomError):
    """The DICOM file has no Pixel Data (7FE0,0010): a report or a presentation state, not an image."""


class MissingDecoderError(DicomError):
    """The pixel data is compressed and no installed package can decode it."""


class UnsupportedPhotometricError(DicomError):
    """The image is not grayscale (MONOCHROME1 / MONOCHROME2), e.g. RGB or PALETTE COLOR."""


__all__ = ["DicomError", "NotDicomError", "NoPixelDataError", "MissingDecoderError",
           "UnsupportedPhotometricError"]
