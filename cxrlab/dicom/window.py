"""Windowing (VOI LUT functions) as DICOM PS3.3 C.11.2.1.2 and C.11.2.1.3 define them.

A window maps the wide range of values a detector records (often 12 to 16 bits) onto the
narrow range a screen shows: values below the window are black, values above are white,
and values inside are spread linearly (or along a sigmoid) in between.
"""

from __future__ import annotations

import numpy as np

VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")


def window_level(values: np.ndarray | float, center: float, width: float,
                 function: str = "LINEAR") -> np.ndarray:
    """Map ``values`` (modality units, e.g. after rescale) to display values in [0, 1].

    ``center`` and ``width`` are the DICOM Window Center (0028,1050) and Window Width
    (0028,1051), in the same units as ``values``. ``function`` is the VOI LUT Function
    (0028,1056):

    - ``"LINEAR"`` (the default, PS3.3 C.11.2.1.2.1), needs ``width >= 1``::

          x <= c - 0.5 - (w - 1) / 2  ->  0
          x >  c - 0.5 + (w - 1) / 2  ->  1
          else                        ->  (x - (c - 0.5)) / (w - 1) + 0.5

    - ``"LINEAR_EXACT"`` (C.11.2.1.3.2), needs ``width > 0``: 0 below ``c - w/2``,
      1 above ``c + w/2``, ``(x - c) / w + 0.5`` in between.
    - ``"SIGMOID"`` (C.11.2.1.3.1), needs ``width > 0``: ``1 / (1 + exp(-4 (x - c) / w))``.

    Args:
        values: modality values, any shape (array or scalar).
        center, width: Window Center and Width, finite numbers.
        function: ``"LINEAR"``, ``"LINEAR_EXACT"`` or ``"SIGMOID"`` (any case).

    Returns:
        float64 array of the shape of ``values`` in [0, 1] (0 = black, 1 = white, before any
        MONOCHROME1 inversion).

    Raises:
        ValueError: an unknown function, a center or width that is not a finite number, or a
            width the function does not allow.
    """
    name = str(function).strip().upper()
    if name not in VOI_FUNCTIONS:
        raise ValueError(f"VOI LUT function {function!r} is not one of {', '.join(VOI_FUNCTIONS)}")
    try:
        c, w = float(center), float(width)
    except (TypeError, ValueError):
        raise ValueError(f"window center and width must be numbers, got {center!r} and {width!r}") from None
    if not (np.isfinite(c) and np.isfinite(w)):
        raise ValueError(f"window center and width must be finite, got {c} and {w}")
    x = np.asarray(values, dtype=np.float64)

    if name == "LINEAR":
        if w < 1:
            raise ValueError(f"a LINEAR window needs width >= 1 (PS3.3 C.11.2.1.2.1), got {w}; "
                             "use function='LINEAR_EXACT' for narrower windows")
        low = c - 0.5 - (w - 1) / 2
        high = c - 0.5 + (w - 1) / 2
        if w == 1:  # the ramp is empty: a hard threshold at c - 0.5
            return np.where(x <= low, 0.0, 1.0)
        ramp = (x - (c - 0.5)) / (w - 1) + 0.5
        return np.where(x <= low, 0.0, np.where(x > high, 1.0, ramp))

    if w <= 0:
        raise ValueError(f"a {name} window needs width > 0 (PS3.3 C.11.2.1.3), got {w}")
    if name == "LINEAR_EXACT":
        ramp = (x - c) / w + 0.5
        return np.where(x <= c - w / 2, 0.0, np.where(x > c + w / 2, 1.0, ramp))
    # SIGMOID; clip the exponent so that far-away values give exactly 0 or 1 without overflow
    return 1.0 / (1.0 + np.exp(np.clip(-4.0 * (x - c) / w, -700.0, 700.0)))


def min_max(values: np.ndarray) -> np.ndarray:
    """Stretch ``values`` linearly to [0, 1] (minimum -> 0, maximum -> 1; a flat image -> 0).

    Args:
        values: any numeric array (NaNs are ignored for the range).

    Returns:
        float64 array of the same shape.

    Raises:
        ValueError: ``values`` is empty.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("min_max needs at least one value, got an empty array")
    lo, hi = float(np.nanmin(x)), float(np.nanmax(x))
    if hi <= lo:
        return np.zeros_like(x)
    return (x - lo) / (hi - lo)


__all__ = ["window_level", "min_max", "VOI_FUNCTIONS"]
