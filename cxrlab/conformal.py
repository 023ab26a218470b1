"""Split conformal prediction: sets of classes that contain the truth with probability >= 1 - alpha.

Score every calibration example with a non-conformity score s(x, y) (large = the label
looks wrong), take the k-th smallest score with k = ceil((n + 1)(1 - alpha)), and predict
for a new image every class whose score is at most that threshold (Vovk et al. 2005;
Angelopoulos and Bates 2023). If calibration and test examples are exchangeable, the
set contains the true class with probability at least 1 - alpha, and (for scores without
ties) at most 1 - alpha + 1 / (n + 1).

That guarantee is *marginal*: the probability is over the draw of the calibration set and of
the test image together. It is not a promise for any one image (a singleton set is not "90 %
sure" of that image), nor for one fixed calibration set: the coverage a given calibration
set achieves on new images is itself random, distributed as Beta(k, n + 1 - k) over the
draws of calibration sets (Vovk 2012; Angelopoulos and Bates 2023). Conformal
sets are no out-of-distribution detector either: an empty set means only that no class
reached the threshold.

Scores:
- ``"lac"`` (least ambiguous set-valued classifier, Sadinle et al. 2019): s = 1 - p_y.
  The smallest sets on average among sets with the coverage guarantee *when the model's
  probabilities are the true conditional probabilities*; with miscalibrated probabilities
  other scores can give smaller sets. A set is empty when no class reaches 1 - threshold
  (an image whose top probability is low), which says nothing about the image being unlike
  the calibration data.
- ``"aps"`` (adaptive prediction sets, Romano et al. 2020): s = total probability of the
  classes ranked above y plus p_y (times a uniform U when ``randomized``). Sets grow with
  the model's uncertainty; never empty unless randomised.

``class_conditional=True`` gives the Mondrian variant: one threshold per true class, so
coverage holds within every class (e.g. for the rare disease), not only on average.
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import ArrayLike, probability, require_finite, to_numpy
from .calibrate import check_probs_labels

SCORES = ("lac", "aps")


def _check_alpha(alpha: float) -> float:
    return probability(alpha, "alpha (the allowed miss rate, e.g. 0.1 for 90 % coverage)")


def min_calibration_size(alpha: float) -> int:
    """Smallest calibration size n for which ceil((n + 1)(1 - alpha)) <= n, i.e. n >= 1/alpha - 1.

    Raises:
        ValueError: alpha outside (0, 1).
    """
    alpha = _check_alpha(alpha)
    return max(1, math.ceil(1.0 / alpha - 1.0 - 1e-9))


def conformal_quantile(scores: ArrayLike, alpha: float) -> float:
    """The conformal threshold: the k-th smallest of n scores, k = ceil((n + 1)(1 - alpha)).

    This is an order statistic, equal to ``np.quantile(scores, k / n, method="inverted_cdf")``.
    Other quantile rules at level k / n land *at or above* it, so they keep the guarantee and
    over-cover slightly: linear interpolation (numpy's default) sits at 0-based position
    (n - 1) k / n = k - k / n, between the k-th and the (k+1)-th smallest score;
    ``method="higher"`` picks the (k+1)-th score whenever k < n. Only a rule that can land
    *below* the k-th score (``"lower"`` or ``"nearest"`` at a smaller level, or the plain
    level 1 - alpha without the (n + 1) correction) loses the guarantee.

    Args:
        scores: (n,) finite non-conformity scores of the calibration examples (any shape is
            flattened).
        alpha: allowed miss rate in (0, 1).

    Returns:
        The threshold (float): a new example's class is in the set when its score is at most it.

    Raises:
        ValueError: alpha outside (0, 1); NaN or infinity among the scores (the first bad
            index is named); n < 1/alpha - 1, when k > n and no finite threshold gives the
            guarantee (collect more calibration data or raise alpha).
    """
    alpha = _check_alpha(alpha)
    s = to_numpy(scores, "scores").astype(np.float64).ravel()
    n = len(s)
    require_finite(s, "scores")
    k = math.ceil((n + 1) * (1 - alpha) - 1e-9)
    if n == 0 or k > n:
        raise ValueError(f"{n} calibration examples are too few for alpha={alpha:g}: the "
                         f"guarantee needs at least {min_calibration_size(alpha)} "
                         f"(n >= 1/alpha - 1); add calibration data or use a larger alpha")
    return float(np.partition(s, k - 1)[k - 1])


def class_scores(probs: np.ndarray, score: str, *, randomized: bool = False,
                 rng: np.random.Generator | None = None) -> np.ndarray:
    """Non-conformity score of every candidate class (large = less plausible).

    Args:
        probs: (N, C) probabilities, already checked (``check_probs_labels``: rows sum to one).
        score: ``"lac"`` (1 - p_c; Sadinle et al. 2019) or ``"aps"`` (probability mass of the
            classes ranked at or above c; Romano et al. 2020), classes ranked by probability
            (ties by index).
        randomized: APS only: one uniform U per example multiplies that class's own probability.
        rng: NumPy generator for U (a fresh one when None).

    Returns:
        float64 array (N, C) in [0, 1].

    Raises:
        ValueError: an unknown score.
    """
    if score == "lac":
        return 1.0 - probs
    if score == "aps":
        order = np.argsort(-probs, axis=1, kind="stable")
        sorted_p = np.take_along_axis(probs, order, axis=1)
        cumulative = np.cumsum(sorted_p, axis=1)
        if randomized:
            rng = rng or np.random.default_rng()
            u = rng.uniform(size=(len(probs), 1))
            cumulative = cumulative - (1.0 - u) * sorted_p
        out = np.empty_like(probs)
        np.put_along_axis(out, order, cumulative, axis=1)
        return out
    raise ValueError(f"score must be one of {SCORES}, got {score!r}")


class SplitConformal:
    """Split conformal classifier on top of any model's probabilities.

    >>> cp = SplitConformal(score="aps", alpha=0.1).fit(cal_probs, cal_labels)
    >>> sets = cp.predict(test_probs)          # bool (N, C): class c is in set i

    ``alpha``: allowed miss rate in (0, 1). ``class_conditional``: one threshold per class
    (Mondrian conformal prediction; Vovk et al. 2005, Sadinle et al. 2019). ``seed`` drives
    the uniform draws of randomised APS.
    """

    def __init__(self, score: str = "lac", alpha: float = 0.1, *, class_conditional: bool = False,
                 randomized: bool = False, seed: int | None = 0):
        if score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {score!r}")
        if randomized and score != "aps":
            raise ValueError("randomized applies only to score='aps'")
        self.score = score
        self.alpha = _check_alpha(alpha)
        self.class_conditional = bool(class_conditional)
        self.randomized = bool(randomized)
        self._rng = np.random.default_rng(seed)
        self.threshold: float | np.ndarray | None = None
        self.n_classes: int | None = None
        self.n_calibration: int | None = None

    def fit(self, cal_probs: ArrayLike, cal_labels: ArrayLike) -> "SplitConformal":
        """Compute the threshold(s) from held-out calibration probabilities and true labels.

        Args:
            cal_probs: (n, C) probabilities of calibration images the model never trained on.
            cal_labels: (n,) their true classes.

        Returns:
            self, fitted.

        Raises:
            ValueError: as ``check_probs_labels`` (a NaN row is named); too few calibration
                examples for ``alpha`` (per class when ``class_conditional``).
        """
        p, y = check_probs_labels(cal_probs, cal_labels)
        scores = class_scores(p, self.score, randomized=self.randomized, rng=self._rng)[np.arange(len(y)), y]
        self.n_classes, self.n_calibration = p.shape[1], len(y)
        if not self.class_conditional:
            self.threshold = conformal_quantile(scores, self.alpha)
            return self
        thresholds = np.empty(p.shape[1])
        for c in range(p.shape[1]):
            members = scores[y == c]
            if len(members) < min_calibration_size(self.alpha):
                raise ValueError(f"class {c} has {len(members)} calibration examples; class-conditional "
                                 f"conformal at alpha={self.alpha:g} needs at least "
                                 f"{min_calibration_size(self.alpha)} per class (add data, raise alpha, "
                                 "or use class_conditional=False)")
            thresholds[c] = conformal_quantile(members, self.alpha)
        self.threshold = thresholds
        return self

    def predict(self, probs: ArrayLike) -> np.ndarray:
        """Prediction sets for new images.

        Args:
            probs: (N, C) probabilities, with the calibration data's C.

        Returns:
            bool array (N, C): True where class c is in the set of image i.

        Raises:
            RuntimeError: ``fit`` was not called.
            ValueError: as ``check_probs_labels``, or a different number of classes.
        """
        if self.threshold is None:
            raise RuntimeError("call fit(cal_probs, cal_labels) before predict")
        p, _ = check_probs_labels(probs)
        if p.shape[1] != self.n_classes:
            raise ValueError(f"probs have {p.shape[1]} classes, the calibration data had {self.n_classes}")
        scores = class_scores(p, self.score, randomized=self.randomized, rng=self._rng)
        return scores <= np.asarray(self.threshold)[None, ...] if self.class_conditional else scores <= self.threshold

    def __repr__(self) -> str:
        fitted = "unfitted" if self.threshold is None else f"n_cal={self.n_calibration}"
        return (f"SplitConformal(score={self.score!r}, alpha={self.alpha:g}, "
                f"class_conditional={self.class_conditional}, {fitted})")


def _check_sets(sets: ArrayLike) -> np.ndarray:
    s = np.asarray(sets)
    if s.ndim != 2 or s.dtype != bool:
        raise ValueError(f"prediction sets must be a bool array (N, C), got {s.dtype} {s.shape}")
    return s


def coverage(sets: ArrayLike, labels: ArrayLike) -> float:
    """Fraction of examples whose true class is in their prediction set.

    Args:
        sets: bool (N, C) prediction sets.
        labels: (N,) true classes in [0, C).

    Returns:
        Empirical coverage in [0, 1] (compare with 1 - alpha: the guarantee is marginal).

    Raises:
        ValueError: sets that are not bool (N, C), labels of the wrong length or out of range.
    """
    s = _check_sets(sets)
    y = np.asarray(labels, dtype=np.int64)
    if y.shape != (len(s),) or y.min() < 0 or y.max() >= s.shape[1]:
        raise ValueError(f"labels must be {len(s)} class indices in [0, {s.shape[1] - 1}]")
    return float(np.mean(s[np.arange(len(y)), y]))


def class_coverage(sets: ArrayLike, labels: ArrayLike) -> np.ndarray:
    """Coverage within each true class, shape (C,) (NaN for a class with no examples).

    Raises:
        ValueError: as ``coverage``.
    """
    s = _check_sets(sets)
    y = np.asarray(labels, dtype=np.int64)
    if y.shape != (len(s),) or y.min() < 0 or y.max() >= s.shape[1]:
        raise ValueError(f"labels must be {len(s)} class indices in [0, {s.shape[1] - 1}]")
    hit = s[np.arange(len(y)), y]
    return np.array([hit[y == c].mean() if np.any(y == c) else np.nan for c in range(s.shape[1])])


def mean_set_size(sets: ArrayLike) -> float:
    """Average number of classes per prediction set (0 to C; smaller is more informative).

    Raises:
        ValueError: sets that are not a bool array (N, C).
    """
    return float(_check_sets(sets).sum(axis=1).mean())


def set_size_counts(sets: ArrayLike) -> np.ndarray:
    """How many sets have 0, 1, ..., C classes: int array (C + 1,) summing to N.

    Raises:
        ValueError: sets that are not a bool array (N, C).
    """
    s = _check_sets(sets)
    return np.bincount(s.sum(axis=1), minlength=s.shape[1] + 1)


def describe_set(row: ArrayLike, probs: ArrayLike, classes: list[str], alpha: float) -> str:
    """One line for a clinician: the classes in the set, most probable first, and what it means.

    The wording follows what conformal sets do guarantee: coverage is marginal (over images
    and calibration draws), so a single class is no guarantee for this image, and an empty
    set means no class reached the threshold, not that the image is unlike the calibration
    data (conformal sets are no out-of-distribution test).

    Args:
        row: bool (C,) the image's prediction set.
        probs: (C,) the image's probabilities.
        classes: C class names.
        alpha: the miss rate the set was built for.

    Returns:
        One line of text.
    """
    row = np.asarray(row, dtype=bool)
    p = np.asarray(probs, dtype=float)
    members = [c for c in np.argsort(-p) if row[c]]
    level = f"{100 * (1 - alpha):.0f} %"
    if not members:
        return (f"empty set: no class reached the threshold of {level} coverage (every class looks unlikely "
                "for this image); refer for review")
    names = ", ".join(f"{classes[c]} ({p[c]:.0%})" for c in members)
    verdict = "one class" if len(members) == 1 else f"cannot separate {len(members)} findings"
    return f"{{{names}}} -- {verdict}; sets like this cover the truth for {level} of images on average"


__all__ = [
    "SCORES", "SplitConformal", "conformal_quantile", "min_calibration_size", "class_scores",
    "coverage", "class_coverage", "mean_set_size", "set_size_counts", "describe_set",
]
