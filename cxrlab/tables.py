"""Tables for people: what a chapter shows instead of a raw pandas DataFrame.

``table(frame, percent=["accuracy"], decimals={"ECE": 3})`` returns a pandas ``Styler`` that
renders without the index column (unless it carries meaning and ``index=True``), with
thousands separators on counts, percentages as ``83.5 %``, a fixed number of decimals per
column (no float noise such as 83.499998), p-values as ``< 0.001``, and every missing or
infinite value replaced by words the caller chooses (``missing="no positives in the test
set"``), never ``nan`` or ``inf``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

#: What a missing value says when the caller does not say why it is missing.
MISSING = "not available"
#: What an infinite value says by default.
INFINITE = "infinite"


def format_value(value: Any, *, decimals: int = 2, percent: bool = False, p_value: bool = False,
                 missing: str = MISSING, infinite: str = INFINITE) -> str:
    """One cell as text: ``1,234``, ``0.93``, ``83.5 %``, ``< 0.001``, or the words for NaN / inf.

    Args:
        value: a number, bool, string or None.
        decimals: digits after the point for a non-integer number (>= 0).
        percent: ``value`` is a fraction (0.835) shown as a percentage (``83.5 %``) with
            ``decimals - 1`` decimals (at least 0). Pass fractions: the scale is never guessed.
        p_value: show ``< 0.001`` below 0.001, else 3 decimals.
        missing: the text of None and NaN.
        infinite: the text of +/- infinity (prefixed with "minus " when negative).

    Returns:
        The text of the cell.

    Raises:
        ValueError: for negative ``decimals``.
    """
    if decimals < 0:
        raise ValueError(f"decimals must be >= 0, got {decimals}")
    if value is None:
        return missing
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isnan(number):
            return missing
        if math.isinf(number):
            return infinite if number > 0 else f"minus {infinite}"
        if p_value:
            return "< 0.001" if number < 0.001 else f"{number:.3f}"
        if percent:
            return f"{100 * number:,.{max(decimals - 1, 0)}f} %"
        if number.is_integer() and abs(number) >= 1000:
            return f"{number:,.0f}"
        return f"{number:,.{decimals}f}"
    return str(value)


def table(frame: pd.DataFrame, *, percent: Sequence[str] = (), decimals: int | Mapping[str, int] = 2,
          p_values: Sequence[str] = (), missing: str | Mapping[str, str] = MISSING,
          infinite: str = INFINITE, index: bool = False, caption: str | None = None):
    """A DataFrame formatted for reading: the pandas ``Styler`` a chapter displays.

    Args:
        frame: the table; column names are shown as they are.
        percent: columns holding fractions in [0, 1], shown as percentages.
        decimals: decimals of non-integer numbers, for every column or per column
            (``{"ECE": 3}``; columns not named get 2).
        p_values: columns of p-values (``< 0.001`` below 0.001).
        missing: what NaN/None says, for every column or per column.
        infinite: what infinity says.
        index: show the index (only when it carries meaning, e.g. named finding rows).
        caption: a caption above the table.

    Returns:
        A ``pandas.io.formats.style.Styler``; it renders as HTML in Jupyter and in the book.

    Raises:
        TypeError: when ``frame`` is not a DataFrame.
        KeyError: when a column named in ``percent``, ``p_values``, ``decimals`` or
            ``missing`` is not in the table (a typo would otherwise pass silently).
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"table expects a pandas DataFrame, got {type(frame).__name__}; "
                        "wrap it with pd.DataFrame(...) first")
    named = list(percent) + list(p_values)
    named += list(decimals) if isinstance(decimals, Mapping) else []
    named += list(missing) if isinstance(missing, Mapping) else []
    unknown = [c for c in named if c not in frame.columns]
    if unknown:
        raise KeyError(f"columns {unknown} are not in the table; it has {list(frame.columns)}")

    def formatter(column: Any):
        places = decimals.get(column, 2) if isinstance(decimals, Mapping) else decimals
        words = missing.get(column, MISSING) if isinstance(missing, Mapping) else missing
        return lambda v: format_value(v, decimals=places, percent=column in percent,
                                      p_value=column in p_values, missing=words, infinite=infinite)

    styler = frame.style.format({c: formatter(c) for c in frame.columns})
    if not index:
        styler = styler.hide(axis="index")
    if caption:
        styler = styler.set_caption(caption)
    return styler
