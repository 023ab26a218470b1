"""DICOM for chest radiographs: read and window, convert for a model, write, de-identify.

- :func:`load` reads a file into a float32 (rows, cols) image in [0, 1], brighter = denser
  (modality LUT, then the VOI window or LUT, then MONOCHROME1 inverted);
- :func:`window_level` is the linear window of DICOM PS3.3 C.11.2.1.2;
- :func:`to_model_input` resizes, repeats the gray channel and normalises;
- :func:`write_dx` writes a DX or CR file from an array, with a valid header;
- :func:`deidentify` writes a de-identified copy (PS3.15 Basic Profile) and reports what changed.
"""

from .convert import IMAGENET_MEAN, IMAGENET_STD, pad_to_square, to_model_input
from .deid import PROFILE, DeidSession, compare_headers, deidentify, deidentify_folder, find_values
from .errors import (
                     DicomError,
                     DicomWarning,
                     InvalidHeaderError,
                     MissingDecoderError,
                     NoPixelDataError,
                     NotDicomError,
                     UnsupportedPhotometricError,
)
from .fake import fake_identity
from .read import PADDING_DISPLAY, DicomImage, check_image, load, read_dataset, read_image, transfer_syntax
from .window import VOI_FUNCTIONS, min_max, window_level
from .write import PRIVATE_CREATOR, SOP_CLASSES, write_dx

__all__ = [
    "load", "read_image", "read_dataset", "check_image", "DicomImage", "window_level", "min_max",
    "VOI_FUNCTIONS", "to_model_input", "pad_to_square", "IMAGENET_MEAN", "IMAGENET_STD", "write_dx",
    "SOP_CLASSES", "PRIVATE_CREATOR", "fake_identity", "deidentify", "deidentify_folder",
    "DeidSession", "PROFILE", "find_values", "compare_headers", "DicomError", "NotDicomError", "NoPixelDataError",
    "MissingDecoderError", "UnsupportedPhotometricError", "InvalidHeaderError", "DicomWarning",
    "PADDING_DISPLAY", "transfer_syntax",
]
