"""Input checks shared by the whole package (one rule each, one wording of each error)."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real
from typing import Union

import numpy as np

#: What the numeric functions accept: a NumPy array, a torch tensor (moved to the CPU), or a list.
ArrayLike = Union[np.ndarray, Sequence, "torch.Tensor"]  # noqa: F821 - torch is optional here


def positive_int(value: object, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int if it is a whole number >= ``minimum`` (bools refused).

    Raises:
        ValueError: naming ``name``, the value given and the smallest allowed value.
    """
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def probability(value: object, name: str, *, open_interval: bool = True) -> float:
    """Return ``value`` as a float in (0, 1) (or [0, 1] with ``open_interval=False``).

    Raises:
        ValueError: naming ``name`` and the value when it is not a finite number in range.
    """
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite number in {'(0, 1)' if open_interval else '[0, 1]'}, got {value!r}")
    value = float(value)
    ok = 0.0 < value < 1.0 if open_interval else 0.0 <= value <= 1.0
    if not ok:
        raise ValueError(f"{name} must lie in {'(0, 1)' if open_interval else '[0, 1]'}, got {value!r}")
    return value


def to_numpy(values: object, name: str) -> np.ndarray:
    """A NumPy view or copy of an array, a torch tensor (detached, on the CPU) or a list."""
    if hasattr(values, "detach") and hasattr(values, "cpu"):
        values = values.detach().cpu().numpy()
    try:
        return np.asarray(values)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be array-like (NumPy array, torch tensor or list), got {type(values).__name__}") from error


def require_finite(values: object, name: str, *, per_item: bool = True) -> None:
    """Raise ValueError if ``values`` holds NaN or infinity, naming the first bad item.

    With ``per_item`` the first axis indexes items (images, samples), and the message names the
    first item (``image 3``) that holds a non-finite value, so the caller can find and drop it.

    Raises:
        ValueError: "<name> holds NaN or infinity at index i (k non-finite values in all)".
    """
    array = to_numpy(values, name)
    if array.dtype.kind not in "fc":
        return
    bad = ~np.isfinite(array)
    if not bad.any():
        return
    count = int(bad.sum())
    if per_item and array.ndim >= 1:
        first = int(np.flatnonzero(bad.reshape(array.shape[0], -1).any(axis=1))[0])
        where = f"at index {first}"
    else:
        where = f"at position {tuple(int(i) for i in np.argwhere(bad)[0])}"
    raise ValueError(f"{name} holds NaN or infinity {where} ({count} non-finite value"
                     f"{'s' if count != 1 else ''} in all); remove or repair those values before calling")
