"""Timing a piece of code fairly: warm up, repeat, report the median wall-clock time.

The first call of a function pays one-off costs (memory allocation, kernel selection, caches),
and a shared machine adds noise in both directions; the median of a few repeats after a
warm-up is a robust summary. Compare two pieces of code by the ratio of their medians measured
side by side in one run, never by absolute times from different runs.
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

import numpy as np

from ._checks import positive_int

T = TypeVar("T")


def median_time(fn: Callable[[], object], *, repeats: int = 3, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` calls, after ``warmup`` calls.

    Args:
        fn: a function of no arguments (wrap arguments in a lambda).
        repeats: timed calls (>= 1).
        warmup: untimed calls first (>= 0).

    Returns:
        float seconds (``time.perf_counter``), the median of the timed calls.

    Raises:
        TypeError: ``fn`` is not callable. ValueError: ``repeats`` < 1 or ``warmup`` < 0.
    """
    if not callable(fn):
        raise TypeError(f"fn must be a function of no arguments, got {type(fn).__name__}")
    repeats = positive_int(repeats, "repeats")
    warmup = positive_int(warmup, "warmup", minimum=0)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """Call ``fn()`` once; return (its result, the wall-clock seconds it took)."""
    if not callable(fn):
        raise TypeError(f"fn must be a function of no arguments, got {type(fn).__name__}")
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


__all__ = ["median_time", "timed"]
