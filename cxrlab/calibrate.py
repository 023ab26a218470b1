"""Calibration: does a predicted 80 % come true 80 % of the time?

Reliability curves and the expected calibration error (ECE) with equal-width bins of the
top-label confidence (Naeini et al. 2015; Guo et al. 2017), the Brier score (Brier 1950),
temperature scaling fitted on validation logits (Guo et al. 2017) and a percentile
bootstrap interval for any of these metrics (Efron and Tibshirani 1993).

Conventions: ``probs`` is an (N, C) array of class probabilities (rows sum to one) and
``labels`` holds integer class indices in [0, C). A 1-D ``probs`` is read as the
probability of the positive class of a binary problem (labels 0/1) and turned into the
two columns (1 - p, p).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

ArrayLike = np.ndarray | torch.Tensor | list


def _to_numpy(x: ArrayLike) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x)


def check_probs_labels(probs: ArrayLike, labels: ArrayLike | None = None, *,
                       atol: float = 1e-3) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate and return ``(probs (N, C) float64, labels (N,) int64)``.

    A 1-D ``probs`` is taken as a binary positive-class probability and expanded to
    (N, 2). Raises ValueError naming the problem: wrong shape, values outside [0, 1], rows
    that do not sum to one (pass ``softmax(logits)``, not logits), labels out of range.
    """
    p = _to_numpy(probs).astype(np.float64)
    if p.ndim == 1:
        p = np.stack([1.0 - p, p], axis=1)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] < 2:
        raise ValueError(f"probs must have shape (N, C) with N >= 1 and C >= 2 (or (N,) for a binary "
                         f"positive-class probability), got {np.shape(probs)}")
    if not np.all(np.isfinite(p)):
        raise ValueError("probs contains NaN or infinity")
    if p.min() < -atol or p.max() > 1 + atol:
        raise ValueError(f"probs must lie in [0, 1], got values in [{p.min():.3g}, {p.max():.3g}]; "
                         "did you pass logits? apply a softmax first")
    sums = p.sum(axis=1)
    if np.max(np.abs(sums - 1.0)) > atol:
        raise ValueError(f"each row of probs must sum to one (worst row sums to "
                         f"{sums[np.argmax(np.abs(sums - 1))]:.4f}); apply a softmax over the classes")
    if labels is None:
        return p, None
    y = _to_numpy(labels)
    if y.ndim != 1 or len(y) != len(p):
        raise ValueError(f"labels must be a 1-D array with one entry per row of probs "
                         f"({len(p)}), got shape {np.shape(labels)}")
    if not np.all(np.equal(np.mod(y, 1), 0)):
        raise ValueError("labels must be integer class indices, not probabilities or one-hot rows")
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise ValueError(f"labels must be class indices in [0, {p.shape[1] - 1}], got values in "
                         f"[{y.min()}, {y.max()}]")
    return p, y


def _check_bins(n_bins: int) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    return int(n_bins)


@dataclass
class ReliabilityCurve:
    """Per-bin statistics of the top-label confidence.

    ``edges`` has n_bins + 1 values in [0, 1]; bin b holds confidences in
    (edges[b], edges[b+1]] (the first bin also holds 0). ``confidence`` and ``accuracy``
    are the mean confidence and the fraction correct in each bin (NaN for an empty bin);
    ``counts`` the number of examples per bin.
    """

    edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    counts: np.ndarray

    @property
    def gaps(self) -> np.ndarray:
        """accuracy - confidence per bin (negative: over-confident)."""
        return self.accuracy - self.confidence

    def ece(self) -> float:
        """Expected calibration error: count-weighted mean of |accuracy - confidence|."""
        used = self.counts > 0
        weights = self.counts[used] / self.counts.sum()
        return float(np.sum(weights * np.abs(self.gaps[used])))


def reliability_curve(probs: ArrayLike, labels: ArrayLike, n_bins: int = 15) -> ReliabilityCurve:
    """Bin the top-label confidence max_c p_c into ``n_bins`` equal-width bins on [0, 1].

    Returns a ReliabilityCurve with, per bin, the mean confidence, the fraction of
    examples whose top class is the true class, and the count.
    """
    p, y = check_probs_labels(probs, labels)
    n_bins = _check_bins(n_bins)
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    # bin b = ceil(conf * n_bins) - 1: right-closed bins (lo, hi], 0 goes to the first bin
    index = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=confidence, minlength=n_bins) / counts
        accuracy = np.bincount(index, weights=correct, minlength=n_bins) / counts
    return ReliabilityCurve(np.linspace(0.0, 1.0, n_bins + 1), mean_conf, accuracy, counts)


def expected_calibration_error(probs: ArrayLike, labels: ArrayLike, n_bins: int = 15) -> float:
    """Top-label ECE in [0, 1]: sum over bins of (n_b / N) * |accuracy_b - confidence_b|.

    Equal-width bins of the top-label confidence (Naeini et al. 2015; Guo et al. 2017).
    0 means calibrated in every bin; the value depends on ``n_bins`` (15 as in Guo et al.).
    """
    return reliability_curve(probs, labels, n_bins).ece()


def brier_score(probs: ArrayLike, labels: ArrayLike) -> float:
    """Brier score (Brier 1950): mean squared error between probabilities and the outcome.

    For (N, C) probs this is Brier's multi-class form, mean over examples of
    sum_c (p_c - 1[y = c])^2, in [0, 2]. For a 1-D positive-class probability it is the
    binary form mean (p - y)^2 in [0, 1], the same as
    ``sklearn.metrics.brier_score_loss`` (half the two-column multi-class value).
    """
    binary = _to_numpy(probs).ndim == 1
    p, y = check_probs_labels(probs, labels)
    onehot = np.eye(p.shape[1])[y]
    if binary:
        return float(np.mean((p[:, 1] - onehot[:, 1]) ** 2))
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def negative_log_likelihood(logits: ArrayLike, labels: ArrayLike, temperature: float = 1.0) -> float:
    """Mean cross-entropy (nats) of softmax(logits / temperature) against integer labels."""
    z, y = _check_logits(logits, labels)
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    return float(-np.mean(log_softmax(z / temperature, axis=1)[np.arange(len(y)), y]))


def _check_logits(logits: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    z = _to_numpy(logits).astype(np.float64)
    if z.ndim != 2 or z.shape[1] < 2 or len(z) == 0:
        raise ValueError(f"logits must have shape (N, C) with C >= 2, got {np.shape(logits)}")
    if not np.all(np.isfinite(z)):
        raise ValueError("logits contain NaN or infinity")
    _, y = check_probs_labels(np.full(z.shape, 1.0 / z.shape[1]), labels)
    return z, y


def fit_temperature(logits: ArrayLike, labels: ArrayLike, *, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """Temperature T > 0 that minimises the validation NLL of softmax(logits / T) (Guo et al. 2017).

    Fit on a validation (calibration) split, never on the test split. One parameter, so it
    cannot change which class is predicted (accuracy is unchanged); T > 1 softens
    over-confident probabilities. The search is over log T within ``bounds``.
    """
    z, y = _check_logits(logits, labels)
    lo, hi = bounds
    if not 0 < lo < 1 < hi:
        raise ValueError(f"bounds must satisfy 0 < low < 1 < high, got {bounds}")
    result = minimize_scalar(lambda log_t: negative_log_likelihood(z, y, float(np.exp(log_t))),
                             bounds=(np.log(lo), np.log(hi)), method="bounded",
                             options={"xatol": 1e-6})
    return float(np.exp(result.x))


def apply_temperature(logits: ArrayLike, temperature: float) -> np.ndarray:
    """Probabilities softmax(logits / temperature), shape (N, C)."""
    z = _to_numpy(logits).astype(np.float64)
    if z.ndim != 2:
        raise ValueError(f"logits must have shape (N, C), got {np.shape(logits)}")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    return softmax(z / temperature, axis=1)


def plot_reliability(curve: ReliabilityCurve, ax=None, *, label: str = "model", color: str = "C0",
                     title: str | None = None):
    """Reliability diagram: accuracy per confidence bin as bars, the diagonal, and the gaps.

    Bars are drawn at each non-empty bin's edges; the red hatched part is the gap to the
    diagonal (how far accuracy is from the confidence). Returns the Axes.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    used = curve.counts > 0
    left = curve.edges[:-1][used]
    width = np.diff(curve.edges)[used]
    ax.bar(left, curve.accuracy[used], width=width, align="edge", color=color, alpha=0.75,
           edgecolor="black", linewidth=0.5, label=f"{label} (ECE {curve.ece():.3f})")
    ax.bar(left, curve.confidence[used] - curve.accuracy[used], bottom=curve.accuracy[used], width=width,
           align="edge", color="none", edgecolor="red", hatch="//", linewidth=0.5, label="gap to diagonal")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence of the top class", ylabel="accuracy in bin",
           title=title or "Reliability diagram")
    ax.legend(fontsize=8, loc="upper left")
    return ax


@dataclass
class Interval:
    """A point estimate with a (lower, upper) bootstrap confidence interval."""

    estimate: float
    lower: float
    upper: float
    level: float = 0.95

    def __str__(self) -> str:
        return f"{self.estimate:.3f} [{self.lower:.3f}, {self.upper:.3f}]"


def bootstrap_ci(metric: Callable[..., float], *arrays: ArrayLike, n_boot: int = 1000,
                 level: float = 0.95, seed: int = 0) -> Interval:
    """Percentile bootstrap interval of ``metric(*arrays)`` (Efron and Tibshirani 1993).

    Examples (rows) are resampled with replacement ``n_boot`` times, the same rows from
    every array. Resamples where the metric is undefined (it raises ValueError or returns
    NaN, e.g. an AUROC with one class) are skipped. ``level`` in (0, 1).
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95, got {level}")
    if n_boot < 10:
        raise ValueError(f"n_boot must be at least 10 (use ~1000 for a report), got {n_boot}")
    data = [_to_numpy(a) for a in arrays]
    n = len(data[0])
    if n == 0 or any(len(a) != n for a in data):
        raise ValueError(f"arrays must be non-empty and equally long, got lengths {[len(a) for a in data]}")
    estimate = float(metric(*data))
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        rows = rng.integers(0, n, n)
        try:
            value = float(metric(*(a[rows] for a in data)))
        except ValueError:
            continue
        if np.isfinite(value):
            values.append(value)
    if len(values) < n_boot // 2:
        return Interval(estimate, float("nan"), float("nan"), level)
    tail = (1 - level) / 2
    lower, upper = np.quantile(values, [tail, 1 - tail])
    return Interval(estimate, float(lower), float(upper), level)


__all__ = [
    "ReliabilityCurve", "reliability_curve", "expected_calibration_error", "brier_score",
    "negative_log_likelihood", "fit_temperature", "apply_temperature", "check_probs_labels",
    "Interval", "bootstrap_ci", "softmax", "plot_reliability",
]


# ---------------------------------------------------------------------------------------------
# Per finding: multi-label (sigmoid) models, one probability per finding and image.
#
# A multi-label chest model gives each finding its own probability p_k = sigmoid(z_k); the
# findings co-occur, so there is no "top class" and the top-label ECE above does not apply.
# Each finding is a binary forecast of its own: its reliability curve bins p_k on [0, 1] and
# compares the mean p_k with the observed rate of the finding in each bin (the class-wise
# calibration of Kull et al. 2019; Naeini et al. 2015 for the binned ECE), and temperature
# scaling fits one temperature per finding (Guo et al. 2017's temperature scaling applied to
# each sigmoid output; with a bias too it would be Platt scaling, Platt 1999).
# ---------------------------------------------------------------------------------------------

def _check_multilabel(values: ArrayLike, labels: ArrayLike | None, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    v = _to_numpy(values).astype(np.float64)
    if v.ndim == 1:
        v = v[:, None]
    if v.ndim != 2 or v.shape[0] == 0:
        raise ValueError(f"{name} must have shape (N, F): one value per image and finding, got {np.shape(values)}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} contains NaN or infinity; remove or repair those images first")
    if labels is None:
        return v, None
    y = _to_numpy(labels).astype(np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.shape != v.shape:
        raise ValueError(f"labels must have the shape of {name} {v.shape} (one 0/1 per image and finding), "
                         f"got {np.shape(labels)}")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 (finding absent) or 1 (present) for every image and finding")
    return v, y


def _check_finding_probs(probs: ArrayLike, labels: ArrayLike | None) -> tuple[np.ndarray, np.ndarray | None]:
    p, y = _check_multilabel(probs, labels, "probs")
    if p.min() < 0 or p.max() > 1:
        raise ValueError(f"probs must lie in [0, 1], got values in [{p.min():.3g}, {p.max():.3g}]; "
                         "apply a sigmoid to each finding's logit first")
    return p, y


def finding_reliability_curve(probs: ArrayLike, labels: ArrayLike, n_bins: int = 10) -> ReliabilityCurve:
    """Reliability curve of one finding's probability: mean p and observed rate per bin.

    Args:
        probs: float (N,) probabilities of the finding, in [0, 1].
        labels: 0/1 (N,) whether the finding is present.
        n_bins: equal-width bins on [0, 1], right-closed (0 goes to the first bin).

    Returns:
        ReliabilityCurve whose ``confidence`` is the mean predicted probability and whose
        ``accuracy`` is the fraction of images with the finding, per bin (NaN if empty);
        ``ece()`` is the binned ECE of this finding.

    Raises:
        ValueError: shapes differ, probabilities outside [0, 1], non-finite values, labels not 0/1.
    """
    p, y = _check_finding_probs(probs, labels)
    if p.shape[1] != 1:
        raise ValueError(f"finding_reliability_curve takes one finding (N,), got {p.shape[1]} columns; "
                         "use reliability_curves_per_finding for (N, F)")
    n_bins = _check_bins(n_bins)
    p, y = p[:, 0], y[:, 0]
    index = np.clip(np.ceil(p * n_bins).astype(int) - 1, 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(index, weights=p, minlength=n_bins) / counts
        rate = np.bincount(index, weights=y, minlength=n_bins) / counts
    return ReliabilityCurve(np.linspace(0.0, 1.0, n_bins + 1), mean_p, rate, counts)


def reliability_curves_per_finding(probs: ArrayLike, labels: ArrayLike, n_bins: int = 10) -> list[ReliabilityCurve]:
    """One :func:`finding_reliability_curve` per column of (N, F) probabilities and 0/1 labels."""
    p, y = _check_finding_probs(probs, labels)
    return [finding_reliability_curve(p[:, k], y[:, k], n_bins) for k in range(p.shape[1])]


def expected_calibration_error_per_finding(probs: ArrayLike, labels: ArrayLike, n_bins: int = 10) -> np.ndarray:
    """Binned ECE of each finding, float (F,) in [0, 1]: sum_b (n_b / N) |rate_b - mean p_b|.

    Args:
        probs: float (N, F) sigmoid probabilities; labels: 0/1 (N, F); n_bins: equal-width bins.

    Returns:
        one ECE per finding. A rare finding has most images in the lowest bin, so its ECE is
        small in absolute terms; compare it with the finding's prevalence.
    """
    return np.array([curve.ece() for curve in reliability_curves_per_finding(probs, labels, n_bins)])


def _binary_nll(z: np.ndarray, y: np.ndarray, temperature: float) -> float:
    s = z / temperature
    # mean of -[y log sigmoid(s) + (1 - y) log(1 - sigmoid(s))] = mean(softplus(s) - y s)
    return float(np.mean(np.logaddexp(0.0, s) - y * s))


def fit_temperatures_per_finding(logits: ArrayLike, labels: ArrayLike, *,
                                 bounds: tuple[float, float] = (0.05, 20.0),
                                 if_single_class: str = "raise") -> np.ndarray:
    """One temperature per finding, each minimising that finding's validation binary NLL.

    The sigmoid output of finding k becomes sigmoid(z_k / T_k) (Guo et al. 2017's temperature
    scaling, applied to each output of a multi-label model). Dividing a logit by T_k > 0 keeps
    its sign and the order of the images, so each finding's AUROC is unchanged.
    T_k > 1 softens an over-confident finding; T_k < 1 sharpens an under-confident one.

    Args:
        logits: float (N, F) validation logits (never the test split); labels: 0/1 (N, F).
        bounds: (low, high) search range of each T, with 0 < low < 1 < high.
        if_single_class: what to do with a finding whose validation images are all negative
            (or all positive), where no temperature is identified: ``"raise"`` (default) or
            ``"keep"`` (T = 1, the probabilities are left as they are).

    Returns:
        float (F,) temperatures.

    Raises:
        ValueError: bad shapes or values, bad bounds, or a finding with no positive or no
            negative validation image (its temperature is not identified).
    """
    z, y = _check_multilabel(logits, labels, "logits")
    lo, hi = bounds
    if not 0 < lo < 1 < hi:
        raise ValueError(f"bounds must satisfy 0 < low < 1 < high, got {bounds}")
    if if_single_class not in ("raise", "keep"):
        raise ValueError(f"if_single_class must be 'raise' or 'keep', got {if_single_class!r}")
    temperatures = np.ones(z.shape[1])
    for k in range(z.shape[1]):
        if y[:, k].min() == y[:, k].max():
            if if_single_class == "keep":
                continue
            raise ValueError(f"finding {k} has only {'positive' if y[0, k] else 'negative'} validation images; "
                             "a temperature needs both (use a larger validation split)")
        result = minimize_scalar(lambda log_t: _binary_nll(z[:, k], y[:, k], float(np.exp(log_t))),
                                 bounds=(np.log(lo), np.log(hi)), method="bounded", options={"xatol": 1e-6})
        temperatures[k] = float(np.exp(result.x))
    return temperatures


def apply_temperatures_per_finding(logits: ArrayLike, temperatures: ArrayLike) -> np.ndarray:
    """Probabilities sigmoid(z_k / T_k), float (N, F), for (N, F) logits and F positive temperatures."""
    z, _ = _check_multilabel(logits, None, "logits")
    t = np.asarray(temperatures, dtype=np.float64).ravel()
    if t.shape != (z.shape[1],) or not np.all(np.isfinite(t)) or t.min() <= 0:
        raise ValueError(f"temperatures must be {z.shape[1]} positive finite numbers (one per finding), got {t}")
    return 1.0 / (1.0 + np.exp(-z / t))


def binary_negative_log_likelihood_per_finding(logits: ArrayLike, labels: ArrayLike,
                                               temperatures: ArrayLike | None = None) -> np.ndarray:
    """Mean binary cross-entropy (nats) of each finding, float (F,), at the given temperatures (default 1)."""
    z, y = _check_multilabel(logits, labels, "logits")
    t = np.ones(z.shape[1]) if temperatures is None else np.asarray(temperatures, dtype=np.float64).ravel()
    if t.shape != (z.shape[1],) or t.min() <= 0:
        raise ValueError(f"temperatures must be {z.shape[1]} positive numbers, got {t}")
    return np.array([_binary_nll(z[:, k], y[:, k], float(t[k])) for k in range(z.shape[1])])


def ece_per_finding_with_interval(probs: ArrayLike, labels: ArrayLike, *, patient_ids: ArrayLike | None = None,
                                  n_bins: int = 10, n_resamples: int = 500, confidence: float = 0.95,
                                  seed: int = 0):
    """Each finding's ECE with a bias-corrected bootstrap estimate and interval, resampling patients.

    The binned ECE is biased upwards (noise in a bin's rate looks like miscalibration), and a
    bootstrap resample, with fewer distinct patients, is noisier still: the resampled ECEs sit
    above the estimate, and a percentile interval can lie entirely above it. So this reports the
    bootstrap bias b = mean(ECE*) - ECE, the bias-corrected estimate ECE - b, and the *basic*
    bootstrap interval [2 ECE - q_high, 2 ECE - q_low] around it, clipped at 0 (Efron and
    Tibshirani 1993, ch. 10 and 13; Davison and Hinkley 1997, section 5.2). Resamples are of
    patients when ``patient_ids`` is given (several studies of one patient are not independent).

    Args:
        probs: float (N, F) probabilities in [0, 1]; labels: 0/1 (N, F).
        patient_ids: optional (N,) patient of each image.
        n_bins: equal-width bins; n_resamples: bootstrap resamples (>= 20);
        confidence: interval coverage in (0, 1); seed: generator seed.

    Returns:
        DataFrame with one row per finding (index 0..F-1): ``ece``, ``bias``, ``ece_corrected``,
        ``low``, ``high``, ``unit`` ("patients" or "images").

    Raises:
        ValueError: bad shapes or values, ``n_resamples`` < 20, ``confidence`` outside (0, 1).
    """
    import pandas as pd

    p, y = _check_finding_probs(probs, labels)
    n_bins = _check_bins(n_bins)
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 20:
        raise ValueError(f"n_resamples must be an integer >= 20, got {n_resamples!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if patient_ids is None:
        groups = [np.array([i]) for i in range(len(p))]
        unit = "images"
    else:
        ids = np.asarray(patient_ids)
        if ids.shape != (len(p),):
            raise ValueError(f"patient_ids must give one id per image ({len(p)}), got shape {ids.shape}")
        _, inverse = np.unique(ids, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        groups = np.split(order, np.flatnonzero(np.diff(inverse[order])) + 1)
        unit = "patients"
    rng = np.random.default_rng(seed)
    estimate = expected_calibration_error_per_finding(p, y, n_bins)
    draws = np.empty((n_resamples, p.shape[1]))
    for r in range(n_resamples):
        index = np.concatenate([groups[g] for g in rng.integers(0, len(groups), len(groups))])
        draws[r] = expected_calibration_error_per_finding(p[index], y[index], n_bins)
    tail = (1 - confidence) / 2
    q_low, q_high = np.quantile(draws, [tail, 1 - tail], axis=0)
    bias = draws.mean(axis=0) - estimate
    return pd.DataFrame({"ece": estimate, "bias": bias, "ece_corrected": np.clip(estimate - bias, 0, None),
                         "low": np.clip(2 * estimate - q_high, 0, None), "high": np.clip(2 * estimate - q_low, 0, None),
                         "unit": unit})


def plot_finding_reliability(curve: ReliabilityCurve, ax=None, *, label: str = "model", color: str = "C0",
                             title: str | None = None):
    """Reliability diagram of one finding: observed rate against mean predicted probability per bin.

    Points are sized by the number of images in the bin (most images of a rare finding sit in
    the lowest bin); the dashed diagonal is perfect calibration. Returns the Axes.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(3.6, 3.6))
    used = curve.counts > 0
    sizes = 12 + 160 * np.sqrt(curve.counts[used] / max(1, curve.counts.sum()))
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.plot(curve.confidence[used], curve.accuracy[used], "-", color=color, lw=1.2, alpha=0.8)
    ax.scatter(curve.confidence[used], curve.accuracy[used], s=sizes, color=color, edgecolor="black",
               linewidth=0.4, zorder=3, label=f"{label} (ECE {curve.ece():.3f})")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="predicted probability", ylabel="observed rate",
           title=title or "Reliability of one finding")
    ax.legend(fontsize=8, loc="upper left")
    return ax


__all__ += [
    "finding_reliability_curve", "reliability_curves_per_finding", "expected_calibration_error_per_finding",
    "fit_temperatures_per_finding", "apply_temperatures_per_finding", "binary_negative_log_likelihood_per_finding",
    "plot_finding_reliability", "ece_per_finding_with_interval",
]
