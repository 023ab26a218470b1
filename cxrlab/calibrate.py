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

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from scipy.special import log_expit, log_softmax, softmax  # noqa: F401 - softmax: kept for older callers

from ._checks import ArrayLike, positive_int, probability, require_finite, to_numpy
from .bootstrap import bootstrap_interval
from .probabilities import probabilities


def _to_numpy(x: ArrayLike, name: str = "values") -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return to_numpy(x, name)


def check_probs_labels(probs: ArrayLike, labels: ArrayLike | None = None, *,
                       atol: float = 1e-3) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate class probabilities and integer labels.

    Args:
        probs: (N, C) probabilities whose rows sum to one, or (N,) / (N, 1) probabilities of
            the positive class of a binary problem (expanded to the two columns (1 - p, p)).
        labels: optional (N,) integer class indices in [0, C).
        atol: tolerance on [0, 1] and on the row sums.

    Returns:
        ``(probs (N, C) float64, labels (N,) int64 or None)``.

    Raises:
        ValueError: naming the problem: wrong shape, NaN or infinity (the first bad row is
            named), values outside [0, 1], rows that do not sum to one (pass probabilities,
            not logits), labels that are not integers, of the wrong length or out of range.
    """
    p = _to_numpy(probs, "probs").astype(np.float64)
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    if p.ndim == 1:
        p = np.stack([1.0 - p, p], axis=1)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] < 2:
        raise ValueError(f"probs must have shape (N, C) with N >= 1 and C >= 2 (or (N,) for a binary "
                         f"positive-class probability), got {np.shape(probs)}")
    require_finite(p, "probs")
    if p.min() < -atol or p.max() > 1 + atol:
        raise ValueError(f"probs must lie in [0, 1], got values in [{p.min():.3g}, {p.max():.3g}]; "
                         "did you pass logits? turn them into probabilities with "
                         "cxrlab.probabilities.probabilities first")
    sums = p.sum(axis=1)
    if np.max(np.abs(sums - 1.0)) > atol:
        raise ValueError(f"each row of probs must sum to one (worst row sums to "
                         f"{sums[np.argmax(np.abs(sums - 1))]:.4f}); apply a softmax over the classes "
                         "(cxrlab.probabilities.probabilities)")
    if labels is None:
        return p, None
    y = _to_numpy(labels, "labels")
    if y.ndim != 1 or len(y) != len(p):
        raise ValueError(f"labels must be a 1-D array with one entry per row of probs "
                         f"({len(p)}), got shape {np.shape(labels)}")
    if y.dtype.kind not in "biuf":
        raise ValueError(f"labels must be integer class indices, got dtype {y.dtype}")
    require_finite(y, "labels")
    if not np.all(np.equal(np.mod(y, 1), 0)):
        raise ValueError("labels must be integer class indices, not probabilities or one-hot rows")
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise ValueError(f"labels must be class indices in [0, {p.shape[1] - 1}], got values in "
                         f"[{y.min()}, {y.max()}]")
    return p, y


def _check_bins(n_bins: int) -> int:
    return positive_int(n_bins, "n_bins")


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

    Args:
        probs: (N, C) probabilities (rows sum to one) or (N,) positive-class probabilities.
        labels: (N,) integer class indices.
        n_bins: number of equal-width bins (integer >= 1); bins are right-closed (lo, hi],
            the first also holds 0.

    Returns:
        ReliabilityCurve with, per bin, the mean confidence, the fraction of examples whose top
        class is the true class (NaN for an empty bin), and the count.

    Raises:
        ValueError: as ``check_probs_labels``, or n_bins < 1.
    """
    p, y = check_probs_labels(probs, labels)
    n_bins = _check_bins(n_bins)
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    return _binned_curve(confidence, correct, n_bins)


def _binned_curve(scores: np.ndarray, outcomes: np.ndarray, n_bins: int) -> ReliabilityCurve:
    """Equal-width bins of ``scores`` in [0, 1]: per bin the mean score, the mean outcome (0/1)
    and the count; an empty bin's means are NaN."""
    # right-closed bins (lo, hi], 0 goes to the first: bin b = how many inner edges lie below the
    # score, counted against the very edges returned (ceil(score * n_bins) - 1 put a score equal
    # to linspace's edge 0.30000000000000004 of 10 bins into (0.3, 0.4])
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.searchsorted(edges[1:-1], scores, side="left")
    counts = np.bincount(index, minlength=n_bins).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_score = np.bincount(index, weights=scores, minlength=n_bins) / counts
        mean_outcome = np.bincount(index, weights=outcomes, minlength=n_bins) / counts
    return ReliabilityCurve(edges, mean_score, mean_outcome, counts)


def expected_calibration_error(probs: ArrayLike, labels: ArrayLike, n_bins: int = 15) -> float:
    """Top-label expected calibration error (Naeini et al. 2015; Guo et al. 2017).

    Args:
        probs: (N, C) probabilities (rows sum to one) or (N,) positive-class probabilities.
        labels: (N,) integer class indices.
        n_bins: equal-width bins of the top-label confidence (15 as in Guo et al.).

    Returns:
        ECE in [0, 1]: sum over bins of (n_b / N) * |accuracy_b - confidence_b|; 0 means
        calibrated in every bin. The value depends on ``n_bins``.

    Raises:
        ValueError: as ``check_probs_labels`` (NaN rows are named), or n_bins < 1.
    """
    return reliability_curve(probs, labels, n_bins).ece()


def brier_score(probs: ArrayLike, labels: ArrayLike) -> float:
    """Brier score (Brier 1950): mean squared error between probabilities and the outcome.

    For (N, C) probs this is Brier's multi-class form, mean over examples of
    sum_c (p_c - 1[y = c])^2, in [0, 2]. For a 1-D positive-class probability it is the
    binary form mean (p - y)^2 in [0, 1], the same as
    ``sklearn.metrics.brier_score_loss`` (half the two-column multi-class value).

    Raises:
        ValueError: as ``check_probs_labels``.
    """
    raw = _to_numpy(probs, "probs")
    binary = raw.ndim == 1 or (raw.ndim == 2 and raw.shape[1] == 1)
    p, y = check_probs_labels(probs, labels)
    onehot = np.eye(p.shape[1])[y]
    if binary:
        return float(np.mean((p[:, 1] - onehot[:, 1]) ** 2))
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def _logits_and_labels(logits: ArrayLike, labels: ArrayLike, multi_label: bool = False
                  ) -> tuple[np.ndarray, np.ndarray, bool]:
    """(logits (N, C) float64, labels, sigmoid?) following the rule of ``cxrlab.probabilities``."""
    z = _to_numpy(logits, "logits").astype(np.float64)
    if z.ndim == 1:
        z = z[:, None]
    if z.ndim != 2 or z.shape[1] < 1 or len(z) == 0:
        raise ValueError(f"logits must have shape (N, C) (or (N,) for one binary logit), got {np.shape(logits)}")
    require_finite(z, "logits")
    sigmoid = multi_label or z.shape[1] == 1
    y = _to_numpy(labels, "labels")
    if y.dtype.kind not in "biuf":
        raise ValueError(f"labels must be integers, got dtype {y.dtype}")
    require_finite(y, "labels")
    if multi_label:
        if y.shape != z.shape or not np.isin(y, (0, 1)).all():
            raise ValueError(f"multi-label labels must be a 0/1 array of the logits' shape {z.shape}, "
                             f"got shape {y.shape}")
        return z, y.astype(np.float64), True
    if z.shape[1] == 1:
        if y.shape != (len(z),) or not np.isin(y, (0, 1)).all():
            raise ValueError(f"a single-logit (binary) model needs labels 0 or 1, one per row ({len(z)}), "
                             f"got shape {y.shape}")
        return z, y.astype(np.float64)[:, None], True
    _, y = check_probs_labels(np.full(z.shape, 1.0 / z.shape[1]), y)
    return z, y, sigmoid


def _check_logits(logits: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(logits (N, C), labels (N,)) of a model with C >= 2 exclusive classes (older helper)."""
    z, y, sigmoid = _logits_and_labels(logits, labels)
    if sigmoid:
        raise ValueError(f"logits must have shape (N, C) with C >= 2, got {np.shape(logits)}")
    return z, y


def _nll(z: np.ndarray, y: np.ndarray, sigmoid: bool, temperature: float) -> float:
    scaled = z / temperature
    if sigmoid:  # Bernoulli log-likelihood of each output, summed over outputs
        return float(-np.mean(np.sum(y * log_expit(scaled) + (1 - y) * log_expit(-scaled), axis=1)))
    return float(-np.mean(log_softmax(scaled, axis=1)[np.arange(len(y)), y]))


def _check_temperature(temperature: float) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.floating)) or \
            not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
    return float(temperature)


def negative_log_likelihood(logits: ArrayLike, labels: ArrayLike, temperature: float = 1.0, *,
                            multi_label: bool = False) -> float:
    """Mean negative log-likelihood (nats per image) of the labels under the tempered logits.

    Args:
        logits: (N, C) raw model outputs, or (N,) / (N, 1) for one binary logit.
        labels: (N,) class indices in [0, C); 0/1 for one logit; (N, C) 0/1 when ``multi_label``.
        temperature: T > 0; the logits are divided by T.
        multi_label: the C outputs are independent findings.

    Returns:
        The mean cross-entropy in nats: of ``softmax(logits / T)`` for C >= 2 exclusive classes,
        of ``sigmoid(logits / T)`` (summed over outputs) for one logit or multi-label, the rule
        of ``cxrlab.probabilities.probabilities``. A uniform guess scores log C (log 2 per output).

    Raises:
        ValueError: bad shapes, NaN or infinity (the row is named), labels out of range, T <= 0.
    """
    z, y, sigmoid = _logits_and_labels(logits, labels, multi_label)
    return _nll(z, y, sigmoid, _check_temperature(temperature))


def fit_temperature(logits: ArrayLike, labels: ArrayLike, *, bounds: tuple[float, float] = (1e-4, 1e4),
                    multi_label: bool = False) -> float:
    """Temperature T > 0 that minimises the validation NLL of the tempered logits (Guo et al. 2017).

    Fit on a validation (calibration) split, never on the test split. One parameter, so it
    cannot change which class is predicted (accuracy is unchanged); T > 1 softens
    over-confident probabilities, T < 1 sharpens under-confident ones. The search is over
    log T (the NLL is unimodal in it), bounded only far away: ``bounds`` default to
    [1e-4, 1e4], so logits scaled by 40 get T of about 40, not a clipped value.

    Args:
        logits: (N, C) validation logits, or (N,) / (N, 1) for one binary logit (sigmoid).
        labels: as in ``negative_log_likelihood``.
        bounds: (low, high) with 0 < low < 1 < high: the search interval of T.
        multi_label: the outputs are independent findings (one sigmoid each, one shared T).

    Returns:
        The fitted temperature (float, > 0).

    Warns:
        RuntimeWarning: when T lies at a bound of the search (the optimum may lie beyond it:
            the value returned is not the optimum), or when the calibrated NLL is no better
            than log C, the NLL of a uniform guess (the logits carry no information about the
            labels, so no temperature can calibrate them).

    Raises:
        ValueError: bad logits or labels (as ``negative_log_likelihood``) or bad bounds.
    """
    z, y, sigmoid = _logits_and_labels(logits, labels, multi_label)
    lo, hi = (float(b) for b in bounds)
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < 1 < hi):
        raise ValueError(f"bounds must satisfy 0 < low < 1 < high, got {bounds}")
    result = minimize_scalar(lambda log_t: _nll(z, y, sigmoid, float(np.exp(log_t))),
                             bounds=(np.log(lo), np.log(hi)), method="bounded", options={"xatol": 1e-7})
    log_t = float(result.x)
    temperature = float(np.exp(log_t))
    if min(log_t - np.log(lo), np.log(hi) - log_t) < 1e-3:
        temperature = lo if log_t - np.log(lo) < np.log(hi) - log_t else hi
        warnings.warn(f"the fitted temperature {temperature:g} sits at the bound of the search {bounds}: the "
                      "optimum lies at or beyond it, so this T is not the NLL minimum; widen the bounds or "
                      "check the logits", RuntimeWarning, stacklevel=2)
    nll = _nll(z, y, sigmoid, temperature)
    uniform = z.shape[1] * np.log(2.0) if sigmoid else float(np.log(z.shape[1]))
    if nll >= uniform - 1e-9:
        warnings.warn(f"the calibrated NLL {nll:.4f} nats is no better than log C = {uniform:.4f}, the NLL of a "
                      "uniform guess: these logits carry no information about the labels", RuntimeWarning,
                      stacklevel=2)
    return temperature


def apply_temperature(logits: ArrayLike, temperature: float, *, multi_label: bool = False) -> np.ndarray:
    """Probabilities of the tempered logits, by the package's one rule.

    Args:
        logits: (N, C) raw model outputs, or (N,) / (N, 1) for one binary logit.
        temperature: T > 0 (from ``fit_temperature``).
        multi_label: the outputs are independent findings.

    Returns:
        float64 array: ``cxrlab.probabilities.probabilities(logits / T)``, i.e. (N, C) softmax
        rows that sum to one, or sigmoids of the shape of the logits for one logit or multi-label.

    Raises:
        ValueError: logits that are not 1-D or 2-D or not finite (the row is named), T <= 0.
    """
    z = _to_numpy(logits, "logits").astype(np.float64)
    one_dim = z.ndim == 1
    if one_dim:
        z = z[:, None]
    if z.ndim != 2:
        raise ValueError(f"logits must have shape (N, C) (or (N,) for one binary logit), got {np.shape(logits)}")
    temperature = _check_temperature(temperature)
    p = probabilities(torch.from_numpy(z / temperature), multi_label=multi_label).numpy()
    return p[:, 0] if one_dim else p


def plot_reliability(curve: ReliabilityCurve, ax=None, *, label: str = "model", color: str = "C0",
                     title: str | None = None):
    """Reliability diagram: accuracy per confidence bin as bars, the diagonal, and the gaps.

    Args:
        curve: from ``reliability_curve``.
        ax: matplotlib Axes to draw on (a new square figure, 0.7 of the page wide, when None).
        label, color: legend label (the ECE is appended) and bar colour.
        title: Axes title.

    Returns:
        The Axes. Bars are drawn at each non-empty bin's edges; the red hatched part is the
        gap to the diagonal (how far accuracy is from the confidence).
    """
    import matplotlib.pyplot as plt

    from .figures import PAGE_WIDTH

    if ax is None:
        _, ax = plt.subplots(figsize=(0.7 * PAGE_WIDTH, 0.7 * PAGE_WIDTH))
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
    ax.legend(loc="upper left", frameon=False)
    return ax


@dataclass
class Interval:
    """A point estimate with a (lower, upper) percentile bootstrap interval.

    ``unit`` says what was resampled ("images", or "patients" for a cluster bootstrap) and
    ``n_units`` how many there were. A NaN interval means too few resamples gave a defined value.
    """

    estimate: float
    lower: float
    upper: float
    level: float = 0.95
    unit: str = "images"
    n_units: int = 0

    def __str__(self) -> str:
        return f"{self.estimate:.3f} [{self.lower:.3f}, {self.upper:.3f}]"


def bootstrap_ci(metric: Callable[..., float], *arrays: ArrayLike, n_boot: int = 1000,
                 level: float = 0.95, seed: int = 0, patients: Sequence | np.ndarray | None = None) -> Interval:
    """Percentile bootstrap interval of ``metric(*arrays)`` (Efron and Tibshirani 1993).

    Args:
        metric: function of the arrays returning a float (e.g. ``expected_calibration_error``).
        *arrays: arrays of N rows each (probabilities, labels); the same rows are drawn from each.
        n_boot: number of resamples (>= 10; about 1000 for a report).
        level: coverage of the interval, in (0, 1).
        seed: seed of the resampling (the same seed gives the same interval).
        patients: optional (N,) patient identifiers. When a patient has several images, pass
            them: whole patients are resampled (a cluster bootstrap, through
            ``cxrlab.bootstrap.bootstrap_interval``), as images of one patient are not
            independent and resampling images gives intervals that are too narrow.

    Returns:
        Interval(estimate, lower, upper, level, unit, n_units). Resamples where the metric is
        undefined (it raises ValueError or returns NaN, e.g. an AUROC with one class) are
        skipped; when fewer than half of them are defined, or the metric is undefined on the
        full data, the bounds are NaN.

    Raises:
        ValueError: n_boot < 10, level outside (0, 1), arrays of different lengths or holding
            NaN/infinity (the row is named), patients of the wrong length.
    """
    level = probability(level, "level")
    n_boot = positive_int(n_boot, "n_boot (use about 1000 for a report)", minimum=10)
    data = [_to_numpy(a, f"array {i}") for i, a in enumerate(arrays)]
    n = len(data[0]) if data else 0
    if n == 0 or any(len(a) != n for a in data):
        raise ValueError(f"arrays must be non-empty and equally long, got lengths {[len(a) for a in data]}")
    for i, a in enumerate(data):
        require_finite(a, f"array {i}")
    if patients is not None and len(patients) != n:
        raise ValueError(f"patients has {len(patients)} entries for {n} rows; pass one patient id per row")
    unit, n_units = ("images", n) if patients is None else ("patients", len(np.unique(np.asarray(patients))))
    estimate = float(metric(*data))
    if not np.isfinite(estimate):
        return Interval(estimate, float("nan"), float("nan"), level, unit, n_units)
    try:
        interval = bootstrap_interval(metric, *data, clusters=patients, n_resamples=n_boot, confidence=level,
                                      seed=seed, min_resamples=max(1, n_boot // 2))
    except ValueError as error:
        if "resamples gave a defined statistic" not in str(error):
            raise
        return Interval(estimate, float("nan"), float("nan"), level, unit, n_units)
    return Interval(interval.estimate, interval.low, interval.high, level, interval.unit, interval.n_units)


__all__ = [
    "ReliabilityCurve", "reliability_curve", "expected_calibration_error", "brier_score",
    "negative_log_likelihood", "fit_temperature", "apply_temperature", "check_probs_labels",
    "Interval", "bootstrap_ci", "plot_reliability",
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
    return _binned_curve(p[:, 0], y[:, 0].astype(np.float64), n_bins)


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
                             title: str | None = None, legend: bool = True):
    """Reliability diagram of one finding: observed rate against mean predicted probability per bin.

    Points are sized by the number of images in the bin (most images of a rare finding sit in
    the lowest bin); the dashed diagonal is perfect calibration. Text follows the book's
    figure style (``cxrlab.figures``): no font is set below its minimum.

    Args:
        curve: from ``finding_reliability_curve``.
        ax: matplotlib Axes to draw on (a new square figure half the page wide when None).
        label, color: legend label (the ECE is appended) and colour of the points.
        title: Axes title.
        legend: draw a legend in the Axes; pass False in a grid of diagrams and give the
            figure one shared legend instead.

    Returns:
        The Axes.
    """
    import matplotlib.pyplot as plt

    from .figures import PAGE_WIDTH

    if ax is None:
        _, ax = plt.subplots(figsize=(PAGE_WIDTH / 2, PAGE_WIDTH / 2))
    used = curve.counts > 0
    sizes = 12 + 160 * np.sqrt(curve.counts[used] / max(1, curve.counts.sum()))
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.plot(curve.confidence[used], curve.accuracy[used], "-", color=color, lw=1.2, alpha=0.8)
    ax.scatter(curve.confidence[used], curve.accuracy[used], s=sizes, color=color, edgecolor="black",
               linewidth=0.4, zorder=3, label=f"{label} (ECE {curve.ece():.3f})")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="predicted probability", ylabel="observed rate",
           title=title or "Reliability of one finding")
    if legend:
        ax.legend(loc="upper left", frameon=False)
    return ax


__all__ += [
    "finding_reliability_curve", "reliability_curves_per_finding", "expected_calibration_error_per_finding",
    "fit_temperatures_per_finding", "apply_temperatures_per_finding", "binary_negative_log_likelihood_per_finding",
    "plot_finding_reliability", "ece_per_finding_with_interval",
]
