"""cxrlab.calibrate: ECE and reliability by hand, Brier against scikit-learn, temperature scaling."""

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.metrics import brier_score_loss, log_loss

from cxrlab.calibrate import (
    apply_temperature,
    bootstrap_ci,
    brier_score,
    expected_calibration_error,
    finding_reliability_curve,
    fit_temperature,
    negative_log_likelihood,
    reliability_curve,
)


def test_ece_hand_computed_two_bins():
    # confidences 0.9 (bin 10/10), 0.9, 0.6, 0.6 with 2 bins: bin (0, .5] empty, (.5, 1] all four
    probs = np.array([[0.9, 0.1], [0.1, 0.9], [0.6, 0.4], [0.4, 0.6]])
    labels = np.array([0, 0, 0, 0])  # correct, wrong, correct, wrong
    # one bin: accuracy 0.5, mean confidence 0.75 -> ECE 0.25
    assert expected_calibration_error(probs, labels, n_bins=2) == pytest.approx(0.25)
    # ten bins: bin (0.8, 0.9]: acc 0.5, conf 0.9; bin (0.5, 0.6]: acc 0.5, conf 0.6
    assert expected_calibration_error(probs, labels, n_bins=10) == pytest.approx(0.5 * 0.4 + 0.5 * 0.1)


def test_reliability_bins_are_right_closed_at_the_edges_they_return():
    # hand count for 5 bins: 0 joins the first bin, an edge belongs to the bin it closes
    scores = np.array([0.0, 0.2, 0.2000001, 0.4, 0.5, 0.6, 0.8, 1.0, 1.0])
    outcome = np.array([0, 0, 1, 1, 0, 1, 1, 1, 0])
    curve = finding_reliability_curve(scores, outcome, n_bins=5)
    assert curve.counts.tolist() == [2, 2, 2, 1, 2]
    np.testing.assert_allclose(curve.confidence, [0.1, 0.30000005, 0.55, 0.8, 1.0])
    np.testing.assert_allclose(curve.accuracy, [0.0, 1.0, 0.5, 1.0, 0.5])
    top = reliability_curve(np.array([[1.0, 0.0], [0.5, 0.5], [0.3, 0.7], [0.4, 0.6]]), np.array([0, 1, 1, 0]), 5)
    assert top.counts.tolist() == [0, 0, 2, 1, 1] and top.accuracy[2:].tolist() == [0.0, 1.0, 1.0]
    # a score equal to a returned edge lies in the bin that edge closes (0.30000000000000004,
    # 0.6000000000000001 and 0.7000000000000001 of 10 bins went one bin up: ceil(score * 10) - 1)
    for n_bins in (10, 20):
        edges = np.linspace(0.0, 1.0, n_bins + 1)
        for b in range(n_bins):
            curve = finding_reliability_curve(np.array([edges[b + 1]]), np.array([1]), n_bins=n_bins)
            assert curve.counts[b] == 1, (n_bins, edges[b + 1], np.flatnonzero(curve.counts))


def test_ece_three_classes_known_value():
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.3, 0.3, 0.4], [1.0, 0.0, 0.0]])
    labels = np.array([0, 0, 2, 0])
    # 5 bins: 0.7 -> (0.6,0.8] correct; 0.5 -> (0.4,0.6] wrong; 0.4 -> (0.2,0.4] correct; 1.0 -> (0.8,1] correct
    expected = (abs(1 - 0.7) + abs(0 - 0.5) + abs(1 - 0.4) + abs(1 - 1.0)) / 4
    assert expected_calibration_error(probs, labels, n_bins=5) == pytest.approx(expected)


def test_ece_zero_for_perfectly_calibrated_bins_and_independent_loop():
    rng = np.random.default_rng(0)
    probs = softmax(rng.normal(size=(500, 4)) * 2, axis=1)
    labels = rng.integers(0, 4, 500)
    # independent loop implementation of equal-width top-label ECE
    conf, pred = probs.max(1), probs.argmax(1)
    edges = np.linspace(0, 1, 16)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            ece += inside.mean() * abs((pred[inside] == labels[inside]).mean() - conf[inside].mean())
    assert expected_calibration_error(probs, labels) == pytest.approx(ece)
    curve = reliability_curve(probs, labels, 15)
    assert curve.counts.sum() == 500 and len(curve.edges) == 16
    assert curve.ece() == pytest.approx(ece)


def test_ece_one_dim_binary_equals_two_column():
    p = np.array([0.1, 0.8, 0.65, 0.3])
    y = np.array([0, 1, 0, 1])
    two = np.stack([1 - p, p], 1)
    assert expected_calibration_error(p, y) == pytest.approx(expected_calibration_error(two, y))


def test_brier_against_sklearn():
    rng = np.random.default_rng(1)
    p = rng.uniform(size=200)
    y = rng.integers(0, 2, 200)
    assert brier_score(p, y) == pytest.approx(brier_score_loss(y, p))
    # Brier's multi-class form on the two columns is twice the binary form
    assert brier_score(np.stack([1 - p, p], 1), y) == pytest.approx(2 * brier_score_loss(y, p))


def test_brier_multiclass_formula():
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3]])
    labels = np.array([0, 2])
    expected = ((0.3 ** 2 + 0.2 ** 2 + 0.1 ** 2) + (0.2 ** 2 + 0.5 ** 2 + 0.7 ** 2)) / 2
    assert brier_score(probs, labels) == pytest.approx(expected)
    assert brier_score(np.eye(3)[[0, 2]], labels) == 0.0


def test_nll_matches_sklearn_log_loss():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(100, 3))
    labels = rng.integers(0, 3, 100)
    assert negative_log_likelihood(logits, labels, 2.0) == pytest.approx(
        log_loss(labels, softmax(logits / 2.0, axis=1), labels=[0, 1, 2]))


def test_temperature_recovers_the_true_temperature():
    rng = np.random.default_rng(3)
    true_t = 2.5
    logits = rng.normal(size=(4000, 5)) * 4
    true_p = softmax(logits / true_t, axis=1)
    labels = np.array([rng.choice(5, p=row) for row in true_p])
    t = fit_temperature(logits, labels)
    assert t == pytest.approx(true_t, rel=0.12)
    assert negative_log_likelihood(logits, labels, t) <= negative_log_likelihood(logits, labels, 1.0)
    calibrated = apply_temperature(logits, t)
    assert np.array_equal(calibrated.argmax(1), logits.argmax(1))  # accuracy unchanged
    assert expected_calibration_error(calibrated, labels) < expected_calibration_error(softmax(logits, 1), labels)


def test_bootstrap_interval_contains_estimate_and_narrows_with_n():
    rng = np.random.default_rng(4)
    small = rng.normal(size=50)
    large = rng.normal(size=2000)
    a = bootstrap_ci(np.mean, small, n_boot=400)
    b = bootstrap_ci(np.mean, large, n_boot=400)
    assert a.lower <= a.estimate <= a.upper
    assert (b.upper - b.lower) < (a.upper - a.lower)
    # the 95 % interval of a mean is close to +-1.96 standard errors
    se = large.std() / np.sqrt(len(large))
    assert (b.upper - b.lower) == pytest.approx(2 * 1.96 * se, rel=0.2)


@pytest.mark.parametrize("probs, labels, message", [
    (np.array([[2.0, -1.0]]), [0], "logits"),
    (np.array([[0.5, 0.4]]), [0], "sum to one"),
    (np.array([[0.5, 0.5]]), [2], "class indices"),
    (np.array([[0.5, 0.5]]), [0.5], "integer"),
    (np.array([0.5, 0.5, 0.5]).reshape(1, 1, 3), [0], "shape"),
    (np.array([[0.5, 0.5], [0.5, 0.5]]), [0], "one entry per row"),
])
def test_bad_input_is_named(probs, labels, message):
    with pytest.raises(ValueError, match=message):
        expected_calibration_error(probs, labels)


def test_bad_bins_and_temperature():
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error([[0.5, 0.5]], [0], n_bins=0)
    with pytest.raises(ValueError, match="temperature"):
        apply_temperature(np.zeros((2, 2)), 0.0)
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci(np.mean, np.ones(5), level=95)


def test_bootstrap_resamples_patients_when_given_their_ids():
    rng = np.random.default_rng(5)
    values = rng.normal(size=100)
    four_each = np.repeat(values, 4)  # four identical images per patient
    ids = np.repeat(np.arange(100), 4)
    by_image = bootstrap_ci(np.mean, four_each, n_boot=400)
    by_patient = bootstrap_ci(np.mean, four_each, n_boot=400, patients=ids)
    single = bootstrap_ci(np.mean, values, n_boot=400)
    assert by_patient.unit == "patients" and by_patient.n_units == 100 and by_image.unit == "images"
    assert (by_patient.upper - by_patient.lower) == pytest.approx(single.upper - single.lower, rel=0.2)
    assert (by_patient.upper - by_patient.lower) > 1.6 * (by_image.upper - by_image.lower)
    with pytest.raises(ValueError, match="one patient id per row"):
        bootstrap_ci(np.mean, four_each, patients=ids[:5])


def test_temperature_scaling_multi_label_shares_one_temperature():
    rng = np.random.default_rng(6)
    z = rng.normal(size=(3000, 3)) * 3
    labels = (rng.uniform(size=z.shape) < 1 / (1 + np.exp(-z / 1.5))).astype(int)
    t = fit_temperature(z, labels, multi_label=True)
    assert t == pytest.approx(1.5, rel=0.1)
    p = apply_temperature(z, t, multi_label=True)
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-z / t)))
