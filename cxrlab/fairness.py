"""Subgroup analysis: does the model work as well for every site, sex and age group?

``subgroup_metrics`` reports, for each value of a grouping column, the number of images,
the prevalence, AUROC, sensitivity and specificity at one operating threshold, and the
ECE, each with a percentile bootstrap interval (Efron and Tibshirani 1993).
``flag_gaps`` marks groups whose shortfall against everyone else is larger than a
tolerance *and* larger than the noise: the check whose absence let under-diagnosis of some
groups go unnoticed (Seyyed-Kalantari et al. 2021).

The task is binary: ``labels`` 0/1 (finding absent/present) and ``scores`` the model's
probability of the finding, in [0, 1].
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from .calibrate import ArrayLike, bootstrap_ci, expected_calibration_error

METRICS = ("auroc", "sensitivity", "specificity", "ece")


def _binary_inputs(labels: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or s.shape != y.shape or len(y) == 0:
        raise ValueError(f"labels and scores must be equal-length 1-D arrays, got {y.shape} and {s.shape}; "
                         "for a multi-class model pass the probability of one finding (one-vs-rest)")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (finding absent) or 1 (present); binarise a multi-class label first")
    if not np.all(np.isfinite(s)) or s.min() < 0 or s.max() > 1:
        raise ValueError("scores must be probabilities in [0, 1] (apply a sigmoid/softmax to logits)")
    return y.astype(np.int64), s


def sensitivity(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> float:
    """True-positive rate: fraction of positives with score >= threshold (NaN if no positives)."""
    pos = labels == 1
    return float(np.mean(scores[pos] >= threshold)) if pos.any() else float("nan")


def specificity(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> float:
    """True-negative rate: fraction of negatives with score < threshold (NaN if no negatives)."""
    neg = labels == 0
    return float(np.mean(scores[neg] < threshold)) if neg.any() else float("nan")


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve; NaN when only one class is present.

    Computed as the Mann-Whitney U statistic from ranks (ties count one half), which equals
    ``sklearn.metrics.roc_auc_score`` and is fast enough to bootstrap hundreds of times.
    """
    pos = labels == 1
    n_pos = int(pos.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def binary_ece(labels: np.ndarray, scores: np.ndarray, n_bins: int = 10) -> float:
    """Top-label ECE of the two-class probabilities (1 - score, score)."""
    return expected_calibration_error(scores, labels, n_bins=n_bins)


def _metric_fns(threshold: float, n_bins: int):
    return {
        "auroc": auroc,
        "sensitivity": lambda y, s: sensitivity(y, s, threshold),
        "specificity": lambda y, s: specificity(y, s, threshold),
        "ece": lambda y, s: binary_ece(y, s, n_bins),
    }


def subgroup_metrics(labels: ArrayLike, scores: ArrayLike, groups: ArrayLike | pd.Series, *,
                     threshold: float = 0.5, n_boot: int = 500, level: float = 0.95,
                     n_bins: int = 10, min_size: int = 10, seed: int = 0) -> pd.DataFrame:
    """One row per subgroup (and a first row ``"all"``) with metrics and bootstrap intervals.

    Columns: ``group, n, positives, prevalence`` and, for each of ``auroc, sensitivity,
    specificity, ece``, the estimate plus ``<metric>_lo`` and ``<metric>_hi`` (the
    ``level`` percentile bootstrap interval over ``n_boot`` resamples within the group).
    ``threshold`` in (0, 1) is the operating point for sensitivity and specificity.
    Groups with fewer than ``min_size`` images get NaN metrics (too few to say anything).
    """
    y, s = _binary_inputs(labels, scores)
    g = np.asarray(groups)
    if g.shape != y.shape:
        raise ValueError(f"groups must give one group per image ({len(y)}), got shape {g.shape}")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    fns = _metric_fns(threshold, n_bins)
    rows = []
    names = ["all"] + sorted(pd.unique(g).tolist(), key=str)
    for name in names:
        rows_in = np.ones(len(y), bool) if name == "all" else (g == name)
        yg, sg = y[rows_in], s[rows_in]
        row = {"group": str(name), "n": int(len(yg)), "positives": int(yg.sum()),
               "prevalence": float(yg.mean()) if len(yg) else float("nan")}
        for metric, fn in fns.items():
            if len(yg) < min_size:
                row[metric] = row[f"{metric}_lo"] = row[f"{metric}_hi"] = float("nan")
                continue
            interval = bootstrap_ci(fn, yg, sg, n_boot=n_boot, level=level, seed=seed)
            row[metric], row[f"{metric}_lo"], row[f"{metric}_hi"] = (
                interval.estimate, interval.lower, interval.upper)
        rows.append(row)
    return pd.DataFrame(rows)


def flag_gaps(table: pd.DataFrame, metric: str = "auroc", max_gap: float = 0.05) -> pd.DataFrame:
    """Add ``<metric>_gap`` and ``flag`` columns to a ``subgroup_metrics`` table.

    The gap is overall minus group (for ``ece``, group minus overall: higher is worse). A
    group is flagged when the gap exceeds ``max_gap`` AND its bootstrap interval lies
    entirely on the bad side of the overall estimate, so a small group's noise alone does
    not raise a flag and a real shortfall is not averaged away. Returns a new table.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    needed = {"group", metric, f"{metric}_lo", f"{metric}_hi"}
    if not needed <= set(table.columns) or not (table["group"] == "all").any():
        raise ValueError("table must come from subgroup_metrics (columns group, metric, _lo, _hi and an 'all' row)")
    if not max_gap >= 0:
        raise ValueError(f"max_gap must be >= 0, got {max_gap}")
    out = table.copy()
    overall = float(out.loc[out["group"] == "all", metric].iloc[0])
    worse_high = metric == "ece"
    gap = (out[metric] - overall) if worse_high else (overall - out[metric])
    beyond_noise = (out[f"{metric}_lo"] > overall) if worse_high else (out[f"{metric}_hi"] < overall)
    out[f"{metric}_gap"] = gap
    out["flag"] = (gap > max_gap) & beyond_noise & (out["group"] != "all")
    return out


__all__ = ["METRICS", "subgroup_metrics", "flag_gaps", "auroc", "sensitivity", "specificity", "binary_ece"]


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
