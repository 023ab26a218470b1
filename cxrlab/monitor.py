"""Drift monitoring after deployment: has the stream stopped looking like validation?

A ``DriftMonitor`` keeps the validation-time distribution of a few numbers per image (the
predicted probability of a finding, a simple image statistic such as mean intensity) as
its baseline. It cuts the deployment stream into windows and compares each window with
the baseline by a two-sample Kolmogorov-Smirnov test (Massey 1951; the test Rabanser et
al. 2019 found hard to beat) and the population stability index (PSI). A window raises an
alert when a p-value falls below ``alpha`` divided by the number of monitored features
(Bonferroni), so on a stable stream each window alerts with probability at most ``alpha``.

``cusum`` is Page's (1954) cumulative-sum detector of a shift in the mean, sample by sample.

A baseline of identical values has no spread: every test against it is meaningless (and
a z-score divides by zero), so it is rejected with an error rather than monitored.

"No answer" is never read as "no drift": a NaN or infinite value in the stream is counted in
its window, and a window with any of them raises an alert that says so (a broken feed is an
incident); a window with too few finite values to test alerts too, with a NaN p-value.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from ._checks import ArrayLike, positive_int, probability, require_finite, to_numpy

#: Fewest finite values a window needs for its KS test to be run at all.
MIN_FINITE = 20


def _values(name: str, values: ArrayLike) -> np.ndarray:
    array = to_numpy(values, name)
    try:
        return array.astype(np.float64).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"{name} must hold numbers, got dtype {array.dtype}") from None


def _check_baseline(name: str, values: ArrayLike, min_distinct: int, min_size: int) -> np.ndarray:
    v = _values(f"baseline {name!r}", values)
    if len(v) < min_size:
        raise ValueError(f"baseline {name!r} has {len(v)} values; use at least {min_size} "
                         "(the validation predictions of the deployed model)")
    require_finite(v, f"baseline {name!r}")
    distinct = len(np.unique(v))
    if np.std(v) == 0 or distinct < min_distinct:
        raise ValueError(f"baseline {name!r} is degenerate ({distinct} distinct value(s), std "
                         f"{np.std(v):.3g}): a baseline needs the spread of real validation outputs, "
                         "not a constant such as [0.15] * 1000")
    return v


def population_stability_index(expected: ArrayLike, actual: ArrayLike, bins: int = 10) -> float:
    """PSI = sum_b (a_b - e_b) ln(a_b / e_b) over ``bins`` quantile bins of ``expected``.

    Common reading: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 large shift. Empty bins
    are given a proportion of 1e-4 so the logarithm stays finite.

    Args:
        expected: the baseline values (at least ``bins``), finite.
        actual: the values to compare (at least one), finite.
        bins: number of quantile bins of ``expected`` (>= 2).

    Returns:
        PSI >= 0 (dimensionless).

    Raises:
        ValueError: too few values, NaN or infinity (the index is named; count and drop them
            first, as ``DriftMonitor`` does), or a baseline too flat to form bins.
    """
    bins = positive_int(bins, "bins", minimum=2)
    e = _values("expected", expected)
    a = _values("actual", actual)
    require_finite(e, "expected")
    require_finite(a, "actual")
    if len(e) < bins or len(a) == 0:
        raise ValueError(f"need at least {bins} expected values and one actual value, got {len(e)} and {len(a)}")
    edges = np.unique(np.quantile(e, np.linspace(0, 1, bins + 1)))
    if len(edges) < 3:
        raise ValueError("expected values have too little spread to form quantile bins")
    inner = edges[1:-1]
    pe = np.bincount(np.searchsorted(inner, e, side="right"), minlength=len(edges) - 1) / len(e)
    pa = np.bincount(np.searchsorted(inner, a, side="right"), minlength=len(edges) - 1) / len(a)
    pe, pa = np.clip(pe, 1e-4, None), np.clip(pa, 1e-4, None)
    return float(np.sum((pa - pe) * np.log(pa / pe)))


class DriftMonitor:
    """Windowed KS tests of a prediction/input stream against a validation baseline.

    Args:
        baseline: mapping (or DataFrame) feature name -> validation values (finite, at least
            ``min_size`` of them with at least ``min_distinct`` distinct values).
        window: images per window (>= 20, so that a KS test has some power).
        step: images between window starts (default ``window``: non-overlapping windows, so
            each stable window false-alarms with probability <= alpha).
        alpha: per-window false-alarm rate in (0, 1), split over the features (Bonferroni).
        psi_bins: quantile bins of the PSI (>= 2).
        max_nonfinite: NaN or infinite values a window may hold before it alerts (default 0:
            any missing value is an incident to look at).

    Raises:
        ValueError: an empty, too small, non-finite or degenerate baseline, or a bad setting.
    """

    def __init__(self, baseline: Mapping[str, ArrayLike] | pd.DataFrame, *, window: int = 200,
                 step: int | None = None, alpha: float = 0.01, psi_bins: int = 10,
                 min_distinct: int = 10, min_size: int = 50, max_nonfinite: int = 0):
        if isinstance(baseline, pd.DataFrame):
            baseline = {c: baseline[c].to_numpy() for c in baseline.columns}
        if not baseline:
            raise ValueError("baseline must name at least one feature, e.g. {'prob': val_probs}")
        self.baseline = {k: _check_baseline(k, v, min_distinct, min_size) for k, v in baseline.items()}
        self.window = positive_int(window, "window (images; at least 20 for a KS test to have power)",
                                   minimum=MIN_FINITE)
        self.step = positive_int(self.window if step is None else step, "step (images between window starts)")
        self.alpha = probability(alpha, "alpha (the per-window false-alarm rate)")
        self.psi_bins = positive_int(psi_bins, "psi_bins", minimum=2)
        self.max_nonfinite = positive_int(max_nonfinite, "max_nonfinite", minimum=0)

    @property
    def features(self) -> list[str]:
        """Names of the monitored features."""
        return list(self.baseline)

    def check(self, window: Mapping[str, ArrayLike] | pd.DataFrame) -> list[dict]:
        """Test one window against the baseline, feature by feature.

        Args:
            window: mapping (or DataFrame) with a column of values per monitored feature.

        Returns:
            One dict per feature: ``feature``; ``n`` (finite values tested); ``nonfinite``
            (NaN or infinite values, counted, never tested); ``ks_statistic``, ``p_value`` and
            ``psi`` on the finite values (NaN when fewer than 20 are finite: no answer);
            ``alert`` (bool) and ``reason``. A window alerts when the KS p-value falls below
            alpha / features, when it holds more than ``max_nonfinite`` non-finite values, or
            when it has too few finite values to be tested: "no answer" never reads as "no drift".

        Raises:
            KeyError: the window lacks a monitored feature.
        """
        results = []
        level = self.alpha / len(self.baseline)
        for name, base in self.baseline.items():
            if name not in window:
                raise KeyError(f"the window lacks monitored feature {name!r}; it has {list(window)}")
            values = _values(f"window {name!r}", window[name])
            finite = np.isfinite(values)
            nonfinite = int((~finite).sum())
            values = values[finite]
            reasons = []
            if len(values) >= MIN_FINITE:
                test = ks_2samp(base, values)
                statistic, p_value = float(test.statistic), float(test.pvalue)
                psi = population_stability_index(base, values, self.psi_bins)
                if p_value < level:
                    reasons.append(f"distribution shift (KS p = {p_value:.2g} < {level:.2g})")
            else:
                statistic = p_value = psi = float("nan")
                reasons.append(f"only {len(values)} finite values: too few to test (need {MIN_FINITE})")
            if nonfinite > self.max_nonfinite:
                reasons.append(f"{nonfinite} non-finite value{'s' if nonfinite != 1 else ''} (NaN or infinity)")
            results.append({
                "feature": name, "n": int(len(values)), "nonfinite": nonfinite, "ks_statistic": statistic,
                "p_value": p_value, "psi": psi, "alert": bool(reasons), "reason": "; ".join(reasons),
            })
        return results

    def run(self, stream: pd.DataFrame, time_column: str | None = None) -> pd.DataFrame:
        """Slide over ``stream`` (rows in arrival order) and test every full window.

        Args:
            stream: DataFrame with a column per monitored feature, rows in arrival order.
            time_column: optional column whose value at a window's last row labels it.

        Returns:
            One row per (window, feature): ``window_start`` and ``window_end`` (row positions,
            end exclusive), ``time`` (value of ``time_column`` at the window's last row, or its
            position), and the columns of ``check`` (``nonfinite``, ``alert``, ``reason``, ...).

        Raises:
            KeyError: a monitored column or the time column is missing.
            ValueError: the stream is shorter than one window.
        """
        missing = [f for f in self.baseline if f not in stream.columns]
        if missing:
            raise KeyError(f"stream lacks monitored column(s) {missing}; it has {list(stream.columns)}")
        if time_column is not None and time_column not in stream.columns:
            raise KeyError(f"time_column {time_column!r} is not a column of the stream")
        if len(stream) < self.window:
            raise ValueError(f"the stream has {len(stream)} rows, fewer than one window ({self.window})")
        rows = []
        for start in range(0, len(stream) - self.window + 1, self.step):
            end = start + self.window
            chunk = stream.iloc[start:end]
            when = chunk[time_column].iloc[-1] if time_column else end - 1
            for result in self.check(chunk):
                rows.append({"window_start": start, "window_end": end, "time": when, **result})
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        return (f"DriftMonitor(features={self.features}, window={self.window}, step={self.step}, "
                f"alpha={self.alpha:g})")


@dataclass
class DelayReport:
    """When a monitor first alerted after a change, and how often it cried wolf before it."""

    change_at: int
    first_alert_end: int | None
    delay: int | None
    false_alarm_windows: int
    stable_windows: int

    @property
    def false_alarm_rate(self) -> float:
        """Fraction of windows entirely before the change that alerted."""
        return self.false_alarm_windows / self.stable_windows if self.stable_windows else float("nan")


def alert_delay(results: pd.DataFrame, change_at: int) -> DelayReport:
    """Delay (in images) from the change at row ``change_at`` to the end of the first alerting window.

    Only windows that contain post-change images count as detections; alerts in windows
    ending at or before ``change_at`` are false alarms. An alert raised for non-finite values
    counts like any other: a feed that broke is an event to act on.

    Args:
        results: the output of ``DriftMonitor.run``.
        change_at: row position of the first changed image (>= 0).

    Returns:
        DelayReport (``delay`` is None if no window after the change alerted).

    Raises:
        ValueError: results that are not from ``DriftMonitor.run``.
    """
    if results.empty or not {"window_start", "window_end", "alert"} <= set(results.columns):
        raise ValueError("results must be the output of DriftMonitor.run")
    per_window = results.groupby(["window_start", "window_end"], as_index=False)["alert"].any()
    before = per_window[per_window["window_end"] <= change_at]
    after = per_window[(per_window["window_end"] > change_at) & per_window["alert"]]
    first = int(after["window_end"].min()) if len(after) else None
    return DelayReport(change_at, first, None if first is None else first - change_at,
                       int(before["alert"].sum()), int(len(before)))


def cusum(values: ArrayLike, baseline: ArrayLike, *, k: float = 0.5, h: float = 8.0) -> tuple[np.ndarray, int | None]:
    """Two-sided CUSUM (Page 1954) of a stream standardised by the baseline's mean and std.

    S+_t = max(0, S+_{t-1} + z_t - k), S-_t likewise for -z_t; an alarm is raised at the
    first t where either exceeds ``h``.

    Args:
        values: (T,) the stream, in arrival order. A NaN or infinite value carries no
            information: the sums are held through it (they neither grow nor restart), its
            statistic repeats the previous one, and a RuntimeWarning counts them.
        baseline: validation values (finite, with spread) giving the mean and std.
        k: allowance in baseline standard deviations (>= 0): half the shift you want to catch.
        h: decision threshold (> 0): larger gives fewer false alarms and a longer delay.

    Returns:
        (max(S+, S-) per sample, float (T,), finite; index of the first alarm or None).

    Warns:
        RuntimeWarning: the stream holds non-finite values (how many, and the first index).

    Raises:
        ValueError: a non-finite or degenerate baseline, k < 0 or h <= 0.
    """
    base = _check_baseline("baseline", baseline, 2, 2)
    if not (np.isfinite(k) and np.isfinite(h)) or k < 0 or h <= 0:
        raise ValueError(f"need k >= 0 and h > 0, got k={k}, h={h}")
    raw = _values("values", values)
    finite = np.isfinite(raw)
    if not finite.all():
        warnings.warn(f"the stream holds {int((~finite).sum())} non-finite values (first at index "
                      f"{int(np.flatnonzero(~finite)[0])}); CUSUM holds its sums through them",
                      RuntimeWarning, stacklevel=2)
    z = (raw - base.mean()) / base.std()
    up = down = 0.0
    stat = np.empty(len(z))
    first = None
    for t, zt in enumerate(z):
        if finite[t]:
            up, down = max(0.0, up + zt - k), max(0.0, down - zt - k)
        stat[t] = max(up, down)
        if first is None and stat[t] > h:
            first = t
    return stat, first


__all__ = ["DriftMonitor", "DelayReport", "alert_delay", "population_stability_index", "cusum"]
