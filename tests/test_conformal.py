"""cxrlab.conformal: the order-statistic quantile, the coverage guarantee, Mondrian sets, errors."""

import math

import numpy as np
import pytest
from scipy.special import softmax

from cxrlab.conformal import (
    SplitConformal,
    class_coverage,
    class_scores,
    conformal_quantile,
    coverage,
    describe_set,
    mean_set_size,
    min_calibration_size,
    set_size_counts,
)


def synthetic(n, rng, classes=4, sharp=2.0):
    """Probabilities of a slightly over-confident model and labels drawn from a softer truth."""
    logits = rng.normal(size=(n, classes)) * sharp
    truth = softmax(logits / 1.5, axis=1)
    labels = (truth.cumsum(1) > rng.uniform(size=(n, 1))).argmax(1)
    return softmax(logits, axis=1), labels


def test_quantile_is_the_kth_order_statistic():
    scores = np.arange(1, 101) / 100.0  # 0.01 .. 1.00, shuffled
    rng = np.random.default_rng(0)
    rng.shuffle(scores)
    k = math.ceil(101 * 0.9)  # 91
    assert conformal_quantile(scores, 0.1) == pytest.approx(k / 100)
    assert conformal_quantile(scores, 0.1) == np.quantile(scores, k / 100, method="inverted_cdf")
    # linear interpolation is a different number; method="higher" picks the next score up
    assert np.quantile(scores, k / 100, method="higher") == pytest.approx((k + 1) / 100)


def test_quantile_small_n_edge():
    assert min_calibration_size(0.1) == 9
    assert min_calibration_size(0.05) == 19
    assert conformal_quantile(np.arange(9.0), 0.1) == 8.0  # k = n = 9: the largest score
    with pytest.raises(ValueError, match="too few"):
        conformal_quantile(np.arange(8.0), 0.1)


@pytest.mark.parametrize("score", ["lac", "aps"])
def test_mean_coverage_within_the_guarantee(score):
    alpha, n_cal, n_test, repeats = 0.1, 300, 1000, 120
    rng = np.random.default_rng(1)
    probs, labels = synthetic(n_cal + n_test, rng)
    results = []
    for r in range(repeats):
        order = rng.permutation(len(labels))
        cal, test = order[:n_cal], order[n_cal:]
        cp = SplitConformal(score=score, alpha=alpha, seed=r).fit(probs[cal], labels[cal])
        results.append(coverage(cp.predict(probs[test]), labels[test]))
    results = np.array(results)
    mean, se = results.mean(), results.std(ddof=1) / np.sqrt(repeats)
    lower, upper = 1 - alpha, 1 - alpha + 1 / (n_cal + 1)
    assert lower - 3 * se <= mean <= upper + 3 * se, (mean, se, lower, upper)


def test_randomized_aps_and_mondrian_cover_every_class():
    alpha = 0.1
    rng = np.random.default_rng(2)
    probs, labels = synthetic(6000, rng, classes=3)
    cal, test = slice(0, 3000), slice(3000, None)
    mondrian = SplitConformal("lac", alpha, class_conditional=True).fit(probs[cal], labels[cal])
    per_class = class_coverage(mondrian.predict(probs[test]), labels[test])
    assert per_class.shape == (3,)
    assert np.all(per_class >= 1 - alpha - 0.03)
    aps = SplitConformal("aps", alpha, randomized=True).fit(probs[cal], labels[cal])
    assert abs(coverage(aps.predict(probs[test]), labels[test]) - (1 - alpha)) < 0.03


def test_set_size_grows_as_alpha_shrinks_and_lac_smallest():
    rng = np.random.default_rng(3)
    probs, labels = synthetic(3000, rng)
    cal, test = slice(0, 1500), slice(1500, None)
    sizes = [mean_set_size(SplitConformal("lac", a).fit(probs[cal], labels[cal]).predict(probs[test]))
             for a in (0.3, 0.2, 0.1, 0.05)]
    assert sizes == sorted(sizes)
    aps = SplitConformal("aps", 0.1).fit(probs[cal], labels[cal]).predict(probs[test])
    assert sizes[2] <= mean_set_size(aps) + 1e-9
    counts = set_size_counts(aps)
    assert counts.sum() == 1500 and len(counts) == 5


def test_aps_scores_are_cumulative_probabilities():
    p = np.array([[0.5, 0.3, 0.2]])
    np.testing.assert_allclose(class_scores(p, "aps"), [[0.5, 0.8, 1.0]])
    np.testing.assert_allclose(class_scores(p, "lac"), [[0.5, 0.7, 0.8]])


def test_bad_input_gets_clear_errors():
    probs = np.full((20, 3), 1 / 3)
    labels = np.zeros(20, dtype=int)
    for alpha in (0, 1, -0.1, 1.5):
        with pytest.raises(ValueError, match="alpha"):
            SplitConformal("lac", alpha)
    with pytest.raises(ValueError, match="score"):
        SplitConformal("raps")
    with pytest.raises(ValueError, match="sum to one"):
        SplitConformal().fit(np.full((20, 3), 0.5), labels)
    with pytest.raises(ValueError, match="too few"):
        SplitConformal(alpha=0.01).fit(probs, labels)
    with pytest.raises(ValueError, match="class 1 has 0"):
        SplitConformal(alpha=0.1, class_conditional=True).fit(probs, labels)
    with pytest.raises(RuntimeError, match="fit"):
        SplitConformal().predict(probs)
    cp = SplitConformal().fit(probs, labels)
    with pytest.raises(ValueError, match="classes"):
        cp.predict(np.full((2, 2), 0.5))


def test_describe_set_for_a_clinician():
    classes = ["normal", "pneumonia", "nodule"]
    text = describe_set(np.array([False, True, True]), np.array([0.1, 0.6, 0.3]), classes, 0.1)
    assert text.startswith("{pneumonia (60%), nodule (30%)}") and "90 %" in text
    assert "refer" in describe_set(np.zeros(3, bool), np.array([0.4, 0.3, 0.3]), classes, 0.1)
