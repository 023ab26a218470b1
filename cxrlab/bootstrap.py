"""Bootstrap confidence intervals, resampling patients when a patient has several images.

Images of one patient are not independent: resampling images pretends there is more
information than there is and gives intervals that are too narrow. The cluster bootstrap
(Field and Welsh 2007) resamples whole patients with replacement and keeps every image of each
patient drawn. Percentile intervals (Efron and Tibshirani 1993, ch. 13).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ._checks import positive_int, probability, require_finite, to_numpy


@dataclass(frozen=True)
class Interval:
    """A statistic with its bootstrap percentile interval.

    ``unit`` says what was resampled ("patients" or "images"); ``n_units`` how many there were;
    ``n_resamples`` how many resamples gave a defined statistic (the others were skipped, for
    instance an AUROC on a resample with one class only).
    """

    estimate: float
    low: float
    high: float
    confidence: float
    unit: str
    n_units: int
    n_resamples: int

    def __str__(self) -> str:
        return f"{self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}]"


def bootstrap_interval(statistic: Callable[..., float], *arrays: object, clusters: Sequence | np.ndarray | None = None,
                       n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0,
                       min_resamples: int = 100) -> Interval:
    """Percentile bootstrap interval of ``statistic(*arrays)``.

    Args:
        statistic: function of the arrays (each indexed along axis 0) returning a finite float;
            on a resample where it is undefined it may raise ValueError, return NaN or give
            scikit-learn's UndefinedMetricWarning (that resample is skipped and not counted in
            ``n_resamples``). Other warnings it gives on resamples are shown once each.
        *arrays: one or more arrays of N rows each (labels, scores, ...).
        clusters: optional length-N patient identifiers; when given, patients are resampled
            (a cluster bootstrap) and the interval's unit is "patients".
        n_resamples: number of bootstrap resamples (>= 1).
        confidence: coverage of the interval, in (0, 1).
        seed: seed of the NumPy generator (the same seed gives the same interval).
        min_resamples: fewest resamples with a defined statistic for an interval to be given.

    Returns:
        Interval with the estimate on the full data and the percentile bounds.

    Raises:
        ValueError: no arrays, arrays of different lengths, non-finite values, clusters of the
            wrong length, a statistic undefined on the full data, or fewer than
            ``min_resamples`` defined resamples (too few patients of each class: collect more).
    """
    if not arrays:
        raise ValueError("bootstrap_interval needs at least one array to resample")
    n_resamples = positive_int(n_resamples, "n_resamples")
    confidence = probability(confidence, "confidence")
    data = [to_numpy(a, f"array {i}") for i, a in enumerate(arrays)]
    n = len(data[0])
    if n == 0 or any(len(a) != n for a in data):
        raise ValueError(f"arrays must be non-empty and of one length, got lengths {[len(a) for a in data]}")
    for i, a in enumerate(data):
        require_finite(a, f"array {i}")
    with warnings.catch_warnings(record=True) as caught:  # shown below, and not again for a resample
        warnings.simplefilter("always")
        estimate = float(statistic(*data))
    shown = {(w.category, str(w.message)) for w in caught}
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if not np.isfinite(estimate):
        raise ValueError(f"statistic returned {estimate} on the full data; it must be finite")
    rng = np.random.default_rng(seed)
    if clusters is None:
        groups = None
        n_units, unit = n, "images"
    else:
        ids = np.asarray(clusters)
        if len(ids) != n:
            raise ValueError(f"clusters has {len(ids)} entries for {n} rows; pass one patient id per row")
        _, inverse = np.unique(ids, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.flatnonzero(np.diff(inverse[order])) + 1
        groups = np.split(order, bounds)
        n_units, unit = len(groups), "patients"
    values = []
    kept_warnings: dict[tuple, warnings.WarningMessage] = {}  # new ones only, the first of each
    for _ in range(n_resamples):
        if groups is None:
            index = rng.integers(0, n, n)
        else:
            picks = rng.integers(0, n_units, n_units)
            index = np.concatenate([groups[p] for p in picks])
        # A resample with one class only is expected now and then: it is skipped and counted
        # (Interval.n_resamples), and the warning the metric gives for it (NumPy's RuntimeWarning
        # with a NaN, scikit-learn's UndefinedMetricWarning) is dropped rather than repeated once
        # per resample. A value the metric itself calls undefined (recall_score's 0.0 on a
        # resample without positives) is skipped too, not averaged into the interval; any other
        # warning of a kept resample is shown once after the loop.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                value = float(statistic(*(a[index] for a in data)))
            except ValueError:
                continue
        if not np.isfinite(value) or any(w.category.__name__ == "UndefinedMetricWarning" for w in caught):
            continue
        values.append(value)
        for w in caught:
            if (w.category, str(w.message)) not in shown:
                kept_warnings.setdefault((w.category, str(w.message)), w)
    for w in kept_warnings.values():
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if len(values) < min(min_resamples, n_resamples):
        raise ValueError(f"only {len(values)} of {n_resamples} resamples gave a defined statistic "
                         f"(need {min(min_resamples, n_resamples)}); there are too few {unit} of some class")
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return Interval(estimate, float(low), float(high), confidence, unit, n_units, len(values))
