"""Conformal risk control: sets of findings that miss, on average, at most a fraction alpha.

A chest radiograph can show several findings at once, so "the set contains the true class"
(split conformal prediction, :mod:`cxrlab.conformal`) is the wrong promise: there is no single
true class. The promise that fits is about the *false-negative rate* of a set of findings,

    FNR(x) = (true findings of x left out of its set) / (true findings of x),

and conformal risk control (Angelopoulos et al. 2022, "Conformal Risk Control",
arXiv:2208.02814, section 2 and the multi-label example of section 3.1) picks one threshold
``t`` for the sets ``C_t(x) = {finding k : p_k(x) >= t}`` from held-out calibration images so
that, for an exchangeable new image,

    E[FNR] <= alpha.

With n calibration images, per-image losses L_i(t) in [0, B] (B = 1 for the FNR) and their
mean R_n(t), the threshold is the largest t with

    n / (n + 1) * R_n(t) + B / (n + 1) <= alpha,

which is the paper's lambda-hat = inf{lambda : ...} with lambda = 1 - t (the loss grows with t,
since a higher threshold leaves out more findings). The expectation is over the calibration
draw and the new image together: it is a *marginal* guarantee about the average image, not a
promise about any one image, and it is void when the new images do not come from the same
population as the calibration images (a new site, a new scanner).

Images without any finding have no false-negative rate (0 / 0). By default they are left out
of the calibration, as MAPIE's ``MultiLabelClassificationController`` does, and the guarantee
reads "E[FNR | the image has at least one finding] <= alpha"; with
``images_without_findings="zero_loss"`` they count as a loss of 0 and the guarantee is over all
images (a weaker promise about the images that matter).

Several studies of one patient are not exchangeable with each other; patients are. Pass
``patient_ids`` to make the patient the unit: each patient's loss is the mean FNR of its images,
n counts patients, and the guarantee is about a new patient drawn like the calibration ones
(split calibration and test data by patient as well).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ._checks import probability, require_finite, to_numpy

IMAGES_WITHOUT_FINDINGS = ("exclude", "zero_loss")


def _check_probs_labels(probs: object, labels: object | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    p = to_numpy(probs, "probs").astype(np.float64)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] == 0:
        raise ValueError(f"probs must have shape (N, F): one probability per image and finding, got "
                         f"{np.shape(p)}; for one image add an axis with probs[None]")
    require_finite(p, "probs")
    if p.min() < 0 or p.max() > 1:
        raise ValueError(f"probs must lie in [0, 1] (got values in [{p.min():.3g}, {p.max():.3g}]); "
                         "apply a sigmoid to each finding's logit first")
    if labels is None:
        return p, None
    y = to_numpy(labels, "labels")
    if y.shape != p.shape:
        raise ValueError(f"labels must have the shape of probs {p.shape} (one 0/1 per image and finding), "
                         f"got {y.shape}")
    require_finite(y, "labels")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (finding absent) or 1 (present) for every image and finding")
    return p, y.astype(bool)


def _check_mode(images_without_findings: str) -> str:
    if images_without_findings not in IMAGES_WITHOUT_FINDINGS:
        raise ValueError(f"images_without_findings must be one of {IMAGES_WITHOUT_FINDINGS}, "
                         f"got {images_without_findings!r}")
    return images_without_findings


def per_image_false_negative_rate(sets: object, labels: object) -> np.ndarray:
    """The loss of each image: the fraction of its true findings that its set leaves out.

    Args:
        sets: bool (N, F), ``sets[i, k]`` is True when finding k is in image i's set.
        labels: 0/1 (N, F) ground truth.

    Returns:
        float (N,) in [0, 1]; NaN for an image with no finding (0 / 0, undefined).

    Raises:
        ValueError: shapes differ, or labels are not 0/1.
    """
    s = to_numpy(sets, "sets")
    if s.dtype != bool:
        if not np.isin(s, (0, 1)).all():
            raise ValueError("sets must be boolean (or 0/1): True where a finding is in the set")
        s = s.astype(bool)
    _, y = _check_probs_labels(s.astype(np.float64), labels)
    positives = y.sum(axis=1)
    missed = (y & ~s).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(positives > 0, missed / np.maximum(positives, 1), np.nan)


def false_negative_rate(sets: object, labels: object, *, images_without_findings: str = "exclude",
                        patient_ids: object | None = None) -> float:
    """Mean per-image false-negative rate of sets of findings (the risk conformal risk control bounds).

    Args:
        sets: bool (N, F) prediction sets.
        labels: 0/1 (N, F) ground truth.
        images_without_findings: ``"exclude"`` (mean over images with at least one finding) or
            ``"zero_loss"`` (such images count as 0, mean over all images).
        patient_ids: optional (N,) patients: the mean over patients of each patient's mean
            image FNR (the risk a patient-level calibration controls).

    Returns:
        float in [0, 1].

    Raises:
        ValueError: bad shapes or values, or (``"exclude"``) no image has any finding.
    """
    mode = _check_mode(images_without_findings)
    loss = per_image_false_negative_rate(sets, labels)
    if patient_ids is not None:
        ids = np.asarray(patient_ids)
        if ids.shape != loss.shape:
            raise ValueError(f"patient_ids must give one id per image ({len(loss)}), got shape {ids.shape}")
        frame = pd.DataFrame({"patient": ids, "loss": np.nan_to_num(loss, nan=0.0) if mode == "zero_loss" else loss})
        per_patient = frame.groupby("patient")["loss"].mean().dropna()
        if per_patient.empty:
            raise ValueError("no image has a finding, so the false-negative rate is undefined")
        return float(per_patient.mean())
    if mode == "zero_loss":
        return float(np.nan_to_num(loss, nan=0.0).mean())
    if np.isnan(loss).all():
        raise ValueError("no image has a finding, so the false-negative rate is undefined")
    return float(np.nanmean(loss))


def risk_curve(probs: object, labels: object, thresholds: object, *,
               images_without_findings: str = "exclude", patient_ids: object | None = None) -> np.ndarray:
    """Empirical FNR of the sets {k : p_k >= t} at each threshold t (monotone non-decreasing in t).

    Args:
        probs: float (N, F) finding probabilities in [0, 1].
        labels: 0/1 (N, F).
        thresholds: 1-D array of thresholds in [0, 1].
        images_without_findings: as in :func:`false_negative_rate`.
        patient_ids: optional (N,) patients; the risk is then the mean over patients of each
            patient's mean image FNR.

    Returns:
        float array, one risk per threshold.
    """
    p, y = _check_probs_labels(probs, labels)
    t = np.asarray(thresholds, dtype=np.float64).ravel()
    values, weights, _ = _positive_weights(p, y, _check_mode(images_without_findings), patient_ids)
    order = np.argsort(values, kind="stable")
    values, cumulative = values[order], np.r_[0.0, np.cumsum(weights[order])]
    return cumulative[np.searchsorted(values, t, side="left")]


def _positive_weights(p: np.ndarray, y: np.ndarray, mode: str,
                      patient_ids: object | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Probabilities of the true findings, each weighted by its share of the mean loss.

    Without patients, each image's loss (its FNR) counts 1 / n and each of its true findings
    1 / (n * its number of findings). With ``patient_ids`` the unit is the patient: a patient's
    loss is the mean FNR of its (used) images, each patient counts 1 / n_patients. The
    empirical risk at threshold t is the sum of the weights of true findings with p < t (those
    a set {p >= t} leaves out). Returns (values, weights, n units).
    """
    positives = y.sum(axis=1)
    used = positives > 0 if mode == "exclude" else np.ones(len(y), bool)
    if patient_ids is None:
        n = int(used.sum())
        image_weight = np.where(used, 1.0 / max(n, 1), 0.0)
    else:
        ids = np.asarray(patient_ids)
        if ids.shape != (len(y),):
            raise ValueError(f"patient_ids must give one id per image ({len(y)}), got shape {ids.shape}")
        _, unit = np.unique(ids, return_inverse=True)
        images_per_unit = np.bincount(unit, weights=used.astype(float))
        n = int((images_per_unit > 0).sum())
        image_weight = np.where(used, 1.0 / (max(n, 1) * np.maximum(images_per_unit[unit], 1)), 0.0)
    if n == 0:
        raise ValueError("no calibration image has a finding; conformal risk control of the "
                         "false-negative rate needs images with at least one finding")
    rows, cols = np.nonzero(y & used[:, None])
    values = p[rows, cols]
    weights = image_weight[rows] / positives[rows]
    return values, weights, n


def min_calibration_size(alpha: float, bound: float = 1.0) -> int:
    """Fewest calibration images for which some set meets the guarantee: B / (n + 1) <= alpha.

    Args:
        alpha: target risk in (0, 1).
        bound: the largest loss B (1 for the false-negative rate).

    Returns:
        the smallest n with n >= B / alpha - 1.
    """
    alpha = probability(alpha, "alpha")
    return max(1, math.ceil(bound / alpha - 1.0 - 1e-9))


def conformal_risk_threshold(probs: object, labels: object, alpha: float, *,
                             images_without_findings: str = "exclude", patient_ids: object | None = None) -> float:
    """Largest threshold t with n/(n+1) * FNR_n(t) + 1/(n+1) <= alpha (Angelopoulos et al. 2022).

    The sets {k : p_k >= t} of new exchangeable images then have E[FNR] <= alpha. The search is
    exact: the empirical FNR only changes at the calibration probabilities of true findings, so
    the answer is one of them (no grid).

    Args:
        probs: float (N, F) calibration probabilities in [0, 1] (sigmoid outputs per finding).
        labels: 0/1 (N, F) calibration ground truth.
        alpha: target false-negative rate in (0, 1).
        images_without_findings: ``"exclude"`` (default, like MAPIE) or ``"zero_loss"``.
        patient_ids: optional (N,) patient of each image. Images of one patient are not
            exchangeable with each other, patients are: with ids, the loss is each patient's
            mean image FNR, n is the number of patients, and the guarantee is about a new
            patient (split calibration and test data by patient too).

    Returns:
        the threshold t in [0, 1].

    Raises:
        ValueError: bad inputs, no image with a finding, or too few calibration images
            (n < 1/alpha - 1: even the full set of findings cannot meet the bound).
    """
    alpha = probability(alpha, "alpha")
    p, y = _check_probs_labels(probs, labels)
    values, weights, n = _positive_weights(p, y, _check_mode(images_without_findings), patient_ids)
    if n < min_calibration_size(alpha):
        unit = "patients" if patient_ids is not None else "images"
        raise ValueError(f"{n} calibration {unit} are too few for alpha={alpha:g}: conformal risk control "
                         f"needs at least {min_calibration_size(alpha)} (n >= 1/alpha - 1); add calibration "
                         "data or use a larger alpha")
    order = np.argsort(values, kind="stable")
    values, weights = values[order], weights[order]
    # risk at threshold values[j]: weights of strictly smaller values (ties count as kept)
    risk_before = np.r_[0.0, np.cumsum(weights)][:-1]
    first_of_tie = np.r_[True, values[1:] > values[:-1]]
    candidates, risk = values[first_of_tie], risk_before[first_of_tie]
    bound = n / (n + 1) * risk + 1.0 / (n + 1)
    valid = bound <= alpha + 1e-12
    return float(candidates[np.flatnonzero(valid)[-1]])


class FalseNegativeRateControl:
    """Conformal risk control of the false-negative rate for sets of findings.

    >>> crc = FalseNegativeRateControl(alpha=0.1).fit(cal_probs, cal_labels)
    >>> sets = crc.predict(test_probs)      # bool (N, F): finding k is in image i's set

    Args:
        alpha: target expected false-negative rate in (0, 1), e.g. 0.1 (miss at most 10 % of
            the findings of an average image with findings).
        images_without_findings: ``"exclude"`` (default) or ``"zero_loss"``, see the module.
    """

    def __init__(self, alpha: float = 0.1, *, images_without_findings: str = "exclude"):
        self.alpha = probability(alpha, "alpha")
        self.images_without_findings = _check_mode(images_without_findings)
        self.threshold: float | None = None
        self.n_calibration: int | None = None
        self.calibration_risk: float | None = None

    def fit(self, cal_probs: object, cal_labels: object, *, patient_ids: object | None = None) -> "FalseNegativeRateControl":
        """Choose the threshold on held-out calibration probabilities (N, F) and 0/1 labels (N, F).

        ``patient_ids`` (N,) makes patients the unit (see :func:`conformal_risk_threshold`);
        ``n_calibration`` is then the number of patients.
        """
        p, y = _check_probs_labels(cal_probs, cal_labels)
        self.threshold = conformal_risk_threshold(p, y, self.alpha, images_without_findings=self.images_without_findings,
                                                  patient_ids=patient_ids)
        _, _, self.n_calibration = _positive_weights(p, y, self.images_without_findings, patient_ids)
        self.calibration_risk = false_negative_rate(p >= self.threshold, y,
                                                    images_without_findings=self.images_without_findings)
        return self

    def predict(self, probs: object) -> np.ndarray:
        """Bool (N, F) sets: every finding whose probability reaches the threshold."""
        if self.threshold is None:
            raise RuntimeError("call fit(cal_probs, cal_labels) before predict")
        p, _ = _check_probs_labels(probs)
        return p >= self.threshold

    def __repr__(self) -> str:
        fitted = f", threshold={self.threshold:.4f}, n_calibration={self.n_calibration}" if self.threshold is not None else ""
        return f"FalseNegativeRateControl(alpha={self.alpha:g}{fitted})"


__all__ = ["IMAGES_WITHOUT_FINDINGS", "per_image_false_negative_rate", "false_negative_rate", "risk_curve",
           "min_calibration_size", "conformal_risk_threshold", "FalseNegativeRateControl"]
