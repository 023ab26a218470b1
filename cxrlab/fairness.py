"""Subgroup analysis: does the model work as well for every site, sex and age group?

``subgroup_metrics`` reports, for each value of a grouping column, the number of images,
the prevalence, AUROC, sensitivity and specificity at one operating threshold, and the
ECE, each with a percentile bootstrap interval (Efron and Tibshirani 1993), and the
difference between the group and *the rest* of the data with its own bootstrap interval and
p-value. ``flag_gaps`` marks groups that do worse than the rest by more than a tolerance
*and* by more than the noise, after a Holm (1979) correction for the number of groups
tested: the check whose absence let under-diagnosis of some groups go unnoticed
(Seyyed-Kalantari et al. 2021).

Images of one patient are not independent: pass ``patients`` and every interval resamples
patients (a cluster bootstrap, ``cxrlab.bootstrap.bootstrap_interval``).

The task is binary: ``labels`` 0/1 (finding absent/present) and ``scores`` the model's
probability of the finding, in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from ._checks import ArrayLike, positive_int, probability, require_finite, to_numpy
from .bootstrap import bootstrap_interval
from .calibrate import bootstrap_ci, expected_calibration_error

METRICS = ("auroc", "sensitivity", "specificity", "ece")
#: The group that rows with a missing (NaN, None, pd.NA) group value are counted in.
MISSING = "missing"


def _binary_inputs(labels: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = to_numpy(labels, "labels")
    s = to_numpy(scores, "scores").astype(np.float64)
    if y.ndim != 1 or s.shape != y.shape or len(y) == 0:
        raise ValueError(f"labels and scores must be equal-length 1-D arrays, got {y.shape} and {s.shape}; "
                         "for a multi-class model pass the probability of one finding (one-vs-rest)")
    require_finite(s, "scores")
    if y.dtype.kind == "f":
        require_finite(y, "labels")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (finding absent) or 1 (present); binarise a multi-class label first")
    if s.min() < 0 or s.max() > 1:
        raise ValueError("scores must be probabilities in [0, 1] (apply a sigmoid/softmax to logits, "
                         "cxrlab.probabilities.probabilities)")
    return y.astype(np.int64), s


def group_labels(groups: ArrayLike | pd.Series, n: int) -> np.ndarray:
    """One group name (str) per image; missing values (NaN, None, pd.NA, NaT) become ``"missing"``.

    Args:
        groups: (n,) group values of any dtype (NumPy, pandas Series, Categorical, list).
        n: the number of images.

    Returns:
        object array (n,) of str.

    Raises:
        ValueError: a length other than n, or a real group already named "missing" while some
            values are missing (the two would be merged silently).
    """
    if np.ndim(groups) != 1 or len(groups) != n:
        raise ValueError(f"groups must give one group per image ({n}), got shape {np.shape(groups)}")
    series = groups.reset_index(drop=True) if isinstance(groups, pd.Series) else pd.Series(groups)
    missing = series.isna().to_numpy()
    names = np.array([MISSING if gone else str(value) for value, gone in zip(series.tolist(), missing)],
                     dtype=object)
    if missing.any() and (names[~missing] == MISSING).any():
        raise ValueError(f"{int(missing.sum())} images have no group value and a real group is already named "
                         f"{MISSING!r}; rename that group before calling")
    return names


def _sensitivity(labels: np.ndarray, scores: np.ndarray, threshold: float) -> float:
    pos = labels == 1
    return float(np.mean(scores[pos] >= threshold)) if pos.any() else float("nan")


def _specificity(labels: np.ndarray, scores: np.ndarray, threshold: float) -> float:
    neg = labels == 0
    return float(np.mean(scores[neg] < threshold)) if neg.any() else float("nan")


def _auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    pos = labels == 1
    n_pos = int(pos.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def sensitivity(labels: ArrayLike, scores: ArrayLike, threshold: float = 0.5) -> float:
    """True-positive rate: the fraction of positives with score >= ``threshold``.

    Args:
        labels: (N,) 0/1 ground truth.
        scores: (N,) probabilities in [0, 1], finite.
        threshold: operating point in (0, 1).

    Returns:
        A value in [0, 1]; NaN when there are no positives (undefined, not 0).

    Raises:
        ValueError: labels not 0/1, scores outside [0, 1] or not finite (the index is named).
    """
    y, s = _binary_inputs(labels, scores)
    return _sensitivity(y, s, probability(threshold, "threshold"))


def specificity(labels: ArrayLike, scores: ArrayLike, threshold: float = 0.5) -> float:
    """True-negative rate: the fraction of negatives with score < ``threshold``.

    Args, Raises: as ``sensitivity``. Returns a value in [0, 1]; NaN when there are no negatives.
    """
    y, s = _binary_inputs(labels, scores)
    return _specificity(y, s, probability(threshold, "threshold"))


def auroc(labels: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve, as the Mann-Whitney U statistic from ranks (ties count one half).

    Equals ``sklearn.metrics.roc_auc_score`` and is fast enough to bootstrap hundreds of times.

    Args:
        labels: (N,) 0/1 ground truth.
        scores: (N,) probabilities in [0, 1], finite.

    Returns:
        AUROC in [0, 1]; NaN when only one class is present.

    Raises:
        ValueError: labels not 0/1, scores outside [0, 1] or not finite (the index is named).
    """
    return _auroc(*_binary_inputs(labels, scores))


def binary_ece(labels: ArrayLike, scores: ArrayLike, n_bins: int = 10) -> float:
    """Top-label ECE of the two-class probabilities (1 - score, score), in [0, 1].

    Raises:
        ValueError: as ``auroc``, or n_bins < 1.
    """
    y, s = _binary_inputs(labels, scores)
    return expected_calibration_error(s, y, n_bins=n_bins)


def _metric_fns(threshold: float, n_bins: int):
    return {
        "auroc": _auroc,
        "sensitivity": lambda y, s: _sensitivity(y, s, threshold),
        "specificity": lambda y, s: _specificity(y, s, threshold),
        "ece": lambda y, s: expected_calibration_error(s, y, n_bins=n_bins),
    }


def _enough(y: np.ndarray, min_per_class: int) -> bool:
    positives = int(y.sum())
    return positives >= min_per_class and len(y) - positives >= min_per_class


def _difference(fn, y: np.ndarray, s: np.ndarray, inside: np.ndarray, worse_high: bool,
                clusters: np.ndarray | None, n_boot: int, level: float, seed: int) -> tuple[float, float, float, float]:
    """Group minus rest: (rest value, interval low, interval high, one-sided p of "group worse").

    ``bad`` = rest - group for a metric where higher is better (group - rest for ECE): positive
    means the group does worse. The p-value is the bootstrap share of resamples in which the
    group is not worse, (1 + #{bad* <= 0}) / (1 + B), the level at which a one-sided
    percentile interval would just include 0.
    """
    draws: list[float] = []

    def statistic(yy: np.ndarray, ss: np.ndarray, ii: np.ndarray) -> float:
        inner, outer = ii.astype(bool), ~ii.astype(bool)
        if not inner.any() or not outer.any():
            raise ValueError("a resample without the group or without the rest")
        value = fn(yy[inner], ss[inner]) - fn(yy[outer], ss[outer])  # group - rest
        value = value if worse_high else -value  # now positive = the group does worse
        draws.append(value)
        return value

    try:
        interval = bootstrap_interval(statistic, y, s, inside.astype(np.int8), clusters=clusters,
                                      n_resamples=n_boot, confidence=level, seed=seed,
                                      min_resamples=max(1, n_boot // 2))
    except ValueError:
        return fn(y[~inside], s[~inside]), float("nan"), float("nan"), float("nan")
    resampled = np.asarray([d for d in draws[1:] if np.isfinite(d)])  # draws[0] is the full data
    p_value = (1 + np.sum(resampled <= 0)) / (1 + len(resampled))
    return fn(y[~inside], s[~inside]), float(interval.low), float(interval.high), float(p_value)


def subgroup_metrics(labels: ArrayLike, scores: ArrayLike, groups: ArrayLike | pd.Series, *,
                     threshold: float = 0.5, n_boot: int = 500, level: float = 0.95,
                     n_bins: int = 10, min_size: int = 10, min_per_class: int = 10,
                     patients: Sequence | np.ndarray | None = None, metrics: Sequence[str] = METRICS,
                     seed: int = 0) -> pd.DataFrame:
    """One row per subgroup (and a first row ``"all"``) with metrics, intervals and the gap to the rest.

    Args:
        labels: (N,) 0/1 ground truth of one finding.
        scores: (N,) the model's probability of the finding, in [0, 1].
        groups: (N,) group of each image (site, sex, age band), any dtype. Missing values
            (NaN, None, pd.NA) form their own group named ``"missing"``; they never vanish.
        threshold: operating point in (0, 1) for sensitivity and specificity.
        n_boot: bootstrap resamples per interval (>= 10).
        level: coverage of the intervals, in (0, 1).
        n_bins: bins of the ECE.
        min_size: fewest images for a group's metrics to be estimated at all (else NaN).
        min_per_class: fewest positives AND fewest negatives (each) that a group, and the
            rest of the data, must have for its intervals and its comparison with the rest
            (and so for ``flag_gaps`` to test it); below that the bounds are NaN and the
            group is not tested. Default 10: with fewer, percentile intervals of an AUROC or a
            sensitivity are too unstable to trust.
        patients: optional (N,) patient ids; when a patient has several images, every
            interval resamples patients (cluster bootstrap), not images.
        metrics: which of ``auroc, sensitivity, specificity, ece`` to compute (all by default;
            each costs two bootstraps per group).
        seed: seed of the resampling.

    Returns:
        DataFrame, one row per group (``"all"`` first, then groups sorted by name), columns
        ``group, n, positives, negatives, prevalence, enough_data`` and, for each metric of
        ``auroc, sensitivity, specificity, ece``: the estimate, ``<metric>_lo`` and
        ``<metric>_hi`` (percentile interval within the group), ``<metric>_rest`` (the value
        on all other images), ``<metric>_gap_lo``/``<metric>_gap_hi`` (interval of the gap
        to the rest, positive = the group does worse) and ``<metric>_p`` (bootstrap one-sided
        p-value of "the group does worse than the rest"). The group sizes add up to N.

    Raises:
        ValueError: labels not 0/1, scores outside [0, 1] or not finite (the index is named),
            groups or patients of the wrong length, a real group named "missing" while values
            are missing, a threshold or level outside (0, 1), an unknown metric.
    """
    y, s = _binary_inputs(labels, scores)
    unknown = [m for m in metrics if m not in METRICS] if not isinstance(metrics, str) else [metrics]
    if unknown or not metrics:
        raise ValueError(f"metrics must be a non-empty list of {METRICS}, got {metrics!r}")
    g = group_labels(groups, len(y))
    threshold = probability(threshold, "threshold")
    level = probability(level, "level")
    n_boot = positive_int(n_boot, "n_boot", minimum=10)
    min_size = positive_int(min_size, "min_size")
    min_per_class = positive_int(min_per_class, "min_per_class")
    ids = None if patients is None else np.asarray(patients)
    if ids is not None and ids.shape != y.shape:
        raise ValueError(f"patients must give one patient id per image ({len(y)}), got shape {ids.shape}")
    fns = {name: fn for name, fn in _metric_fns(threshold, n_bins).items() if name in metrics}
    names = sorted(set(g.tolist()), key=str)
    sizes = {name: int(np.sum(g == name)) for name in names}
    if sum(sizes.values()) != len(y):
        raise RuntimeError(f"group sizes {sizes} add up to {sum(sizes.values())}, not to the {len(y)} images")
    rows = []
    for name in ["all", *names]:
        inside = np.ones(len(y), bool) if name == "all" else (g == name)
        yg, sg = y[inside], s[inside]
        clusters = None if ids is None else ids[inside]
        enough = len(yg) >= min_size and _enough(yg, min_per_class)
        rest_enough = name != "all" and (~inside).any() and _enough(y[~inside], min_per_class)
        row = {"group": "all" if name == "all" else str(name), "n": int(len(yg)), "positives": int(yg.sum()),
               "negatives": int(len(yg) - yg.sum()), "prevalence": float(yg.mean()) if len(yg) else float("nan"),
               "enough_data": bool(enough)}
        for metric, fn in fns.items():
            nan = float("nan")
            row[metric] = fn(yg, sg) if len(yg) >= min_size else nan
            row[f"{metric}_lo"] = row[f"{metric}_hi"] = nan
            row[f"{metric}_rest"] = row[f"{metric}_gap_lo"] = row[f"{metric}_gap_hi"] = row[f"{metric}_p"] = nan
            if not enough:
                continue
            interval = bootstrap_ci(fn, yg, sg, n_boot=n_boot, level=level, seed=seed, patients=clusters)
            row[metric], row[f"{metric}_lo"], row[f"{metric}_hi"] = interval.estimate, interval.lower, interval.upper
            if rest_enough:
                rest, low, high, p_value = _difference(fn, y, s, inside, metric == "ece", ids, n_boot, level, seed)
                row[f"{metric}_rest"], row[f"{metric}_gap_lo"], row[f"{metric}_gap_hi"] = rest, low, high
                row[f"{metric}_p"] = p_value
        rows.append(row)
    return pd.DataFrame(rows)


def holm(p_values: ArrayLike) -> np.ndarray:
    """Holm's (1979) step-down adjusted p-values, same order as given (NaN stays NaN, not counted).

    Rejecting every hypothesis whose adjusted p-value is below alpha keeps the family-wise error
    rate (the chance of flagging any group that is not worse) at most alpha, for any dependence
    between the tests.
    """
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    m = len(tested)
    order = tested[np.argsort(p[tested], kind="stable")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def flag_gaps(table: pd.DataFrame, metric: str = "auroc", max_gap: float = 0.05, *,
              alpha: float = 0.05) -> pd.DataFrame:
    """Flag the groups that do worse than the rest of the data, beyond tolerance and beyond noise.

    Args:
        table: the output of ``subgroup_metrics``.
        metric: one of ``auroc, sensitivity, specificity, ece``.
        max_gap: tolerance (>= 0, in the metric's units): smaller shortfalls are not flagged.
        alpha: family-wise error rate in (0, 1) over all groups tested.

    Returns:
        A new table with ``<metric>_gap`` (rest minus group; group minus rest for ECE, where
        higher is worse: positive = the group does worse), ``<metric>_p_holm`` (Holm-adjusted
        p-values), ``tested`` (the group had at least ``min_per_class`` positives and negatives,
        as had the rest) and ``flag``: gap > ``max_gap`` AND Holm-adjusted p < ``alpha``. The
        comparison is with the rest of the data, not with an overall value that contains the
        group, and Holm's step-down correction (Holm 1979) over the m groups tested keeps the
        chance of flagging any group that is not worse at most ``alpha``.

    Raises:
        ValueError: an unknown metric, a table not from ``subgroup_metrics``, max_gap < 0,
            alpha outside (0, 1).
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    needed = {"group", metric, f"{metric}_rest", f"{metric}_p"}
    if not needed <= set(table.columns) or not (table["group"] == "all").any():
        raise ValueError("table must come from subgroup_metrics (columns group, the metric, _rest, _p and "
                         "an 'all' row)")
    if not max_gap >= 0:
        raise ValueError(f"max_gap must be >= 0, got {max_gap}")
    alpha = probability(alpha, "alpha")
    out = table.copy()
    worse_high = metric == "ece"
    gap = (out[metric] - out[f"{metric}_rest"]) if worse_high else (out[f"{metric}_rest"] - out[metric])
    out[f"{metric}_gap"] = gap
    tested = out[f"{metric}_p"].notna() & (out["group"] != "all")
    out["tested"] = tested
    out[f"{metric}_p_holm"] = holm(out[f"{metric}_p"].where(tested).to_numpy())
    out["flag"] = tested & (gap > max_gap) & (out[f"{metric}_p_holm"] < alpha)
    return out


__all__ = ["METRICS", "MISSING", "subgroup_metrics", "flag_gaps", "holm", "group_labels", "auroc", "sensitivity",
           "specificity", "binary_ece"]


# ---------------------------------------------------------------------------------------------
# Per finding, with a patient-level bootstrap: multi-label chest models.
# ---------------------------------------------------------------------------------------------

def subgroup_auroc_per_finding(labels: ArrayLike, scores: ArrayLike, groups: ArrayLike | pd.Series | pd.DataFrame, *,
                               findings: list[str] | tuple[str, ...] | None = None,
                               patient_ids: ArrayLike | None = None, n_resamples: int = 500,
                               confidence: float = 0.95, min_positives: int = 5, seed: int = 0) -> pd.DataFrame:
    """AUROC of every finding in every subgroup, each with a bootstrap interval over patients.

    One patient with several studies contributes correlated images; resampling images would
    give intervals that are too narrow, so when ``patient_ids`` is given the bootstrap
    resamples the group's patients (a cluster bootstrap, :func:`cxrlab.bootstrap.bootstrap_interval`).

    Args:
        labels: 0/1 (N, F), finding k present in image i.
        scores: float (N, F) in [0, 1], the model's probability of each finding (sigmoid outputs).
        groups: the subgroup of each image: a 1-D array of N values (one grouping), or a
            DataFrame with one column per grouping (``sex``, ``age_group``, ``view``, ``site``).
        findings: F finding names (default ``finding 0`` ...).
        patient_ids: N patient identifiers; strongly recommended (without them images are
            resampled and the ``unit`` column says so).
        n_resamples: bootstrap resamples per (finding, group).
        confidence: interval coverage in (0, 1).
        min_positives: fewest positive *and* negative images for an AUROC to be reported; below
            it the row has NaN and a ``note``.
        seed: seed of the bootstrap.

    Returns:
        DataFrame, one row per (grouping, group, finding), the group ``"all"`` first within each
        finding: ``grouping, group, finding, images, patients, positives, prevalence, auroc,
        auroc_low, auroc_high, unit, note``.

    Raises:
        ValueError: shapes that do not match, labels not 0/1, scores outside [0, 1] or non-finite,
            a wrong number of finding names or patient ids.
    """
    from .bootstrap import bootstrap_interval

    y = np.asarray(labels, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim == 1:
        y, s = y[:, None], (s[:, None] if s.ndim == 1 else s)
    if y.ndim != 2 or s.shape != y.shape or len(y) == 0:
        raise ValueError(f"labels and scores must both have shape (N, F), got {np.shape(labels)} and {np.shape(scores)}")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 (finding absent) or 1 (present)")
    if not np.all(np.isfinite(s)) or s.min() < 0 or s.max() > 1:
        raise ValueError("scores must be finite probabilities in [0, 1] (apply a sigmoid to each logit first)")
    names = list(findings) if findings is not None else [f"finding {k}" for k in range(y.shape[1])]
    if len(names) != y.shape[1]:
        raise ValueError(f"findings names {len(names)} findings, the arrays have {y.shape[1]} columns")
    frame = groups if isinstance(groups, pd.DataFrame) else pd.DataFrame({"group": np.asarray(groups)})
    if len(frame) != len(y):
        raise ValueError(f"groups must give one group per image ({len(y)}), got {len(frame)}")
    ids = None if patient_ids is None else np.asarray(patient_ids)
    if ids is not None and len(ids) != len(y):
        raise ValueError(f"patient_ids must give one id per image ({len(y)}), got {len(ids)}")
    min_positives = int(min_positives)
    rows = []
    for grouping in frame.columns:
        g = frame[grouping].to_numpy()
        values = [v for v in pd.unique(g) if not pd.isna(v)]
        for k, finding in enumerate(names):
            for name in ["all"] + sorted(values, key=str):
                members = np.ones(len(y), bool) if name == "all" else (g == name)
                yk, sk = y[members, k], s[members, k]
                pid = None if ids is None else ids[members]
                positives = int(yk.sum())
                row = {"grouping": grouping, "group": str(name), "finding": finding, "images": int(members.sum()),
                       "patients": int(len(np.unique(pid))) if pid is not None else np.nan,
                       "positives": positives, "prevalence": positives / max(1, len(yk)),
                       "auroc": np.nan, "auroc_low": np.nan, "auroc_high": np.nan,
                       "unit": "patients" if pid is not None else "images", "note": ""}
                if min(positives, len(yk) - positives) < min_positives:
                    row["note"] = f"fewer than {min_positives} positive or negative images"
                else:
                    try:
                        interval = bootstrap_interval(lambda a, b: auroc(a.astype(np.int64), b), yk, sk,
                                                      clusters=pid, n_resamples=n_resamples,
                                                      confidence=confidence, seed=seed)
                        row.update(auroc=interval.estimate, auroc_low=interval.low, auroc_high=interval.high)
                    except ValueError as error:
                        row["auroc"] = auroc(yk.astype(np.int64), sk)
                        row["note"] = f"no interval: {error}"
                rows.append(row)
    return pd.DataFrame(rows)


__all__ += ["subgroup_auroc_per_finding"]
