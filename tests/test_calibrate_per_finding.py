"""Calibration per finding of a multi-label model: ECE by hand and against scikit-learn, temperatures."""

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score

from cxrlab import calibrate


def test_ece_of_one_finding_by_hand():
    # two bins: (0, .5] holds p = .1, .3 with one positive: mean p .2, rate .5 -> gap .3
    #           (.5, 1] holds p = .8, .9 with two positives: mean p .85, rate 1 -> gap .15
    probs = np.array([0.1, 0.3, 0.8, 0.9])
    labels = np.array([0, 1, 1, 1])
    curve = calibrate.finding_reliability_curve(probs, labels, n_bins=2)
    np.testing.assert_allclose(curve.confidence, [0.2, 0.85])
    np.testing.assert_allclose(curve.accuracy, [0.5, 1.0])
    assert curve.ece() == pytest.approx(0.5 * 0.3 + 0.5 * 0.15)


def test_curves_match_sklearn_calibration_curve():
    rng = np.random.default_rng(0)
    probs = rng.beta(0.6, 3.0, size=(4000, 3))
    labels = (rng.uniform(size=probs.shape) < probs ** 1.3).astype(int)   # mis-calibrated on purpose
    for k, curve in enumerate(calibrate.reliability_curves_per_finding(probs, labels, n_bins=10)):
        rate, mean_p = calibration_curve(labels[:, k], probs[:, k], n_bins=10, strategy="uniform")
        used = curve.counts > 0
        np.testing.assert_allclose(curve.accuracy[used], rate, atol=1e-12)
        np.testing.assert_allclose(curve.confidence[used], mean_p, atol=1e-12)
    ece = calibrate.expected_calibration_error_per_finding(probs, labels, n_bins=10)
    assert ece.shape == (3,) and np.all(ece > 0.01)


def test_ece_near_zero_when_calibrated():
    rng = np.random.default_rng(1)
    probs = rng.uniform(size=(200_000, 2))
    labels = (rng.uniform(size=probs.shape) < probs).astype(int)
    assert calibrate.expected_calibration_error_per_finding(probs, labels).max() < 0.005


def test_temperatures_recover_over_and_under_confidence():
    rng = np.random.default_rng(2)
    true_logits = rng.normal(scale=2.0, size=(20_000, 2)) - 1.0
    labels = (rng.uniform(size=true_logits.shape) < 1 / (1 + np.exp(-true_logits))).astype(int)
    shown = true_logits * np.array([2.0, 0.5])          # finding 0 over-confident, finding 1 under-confident
    temperatures = calibrate.fit_temperatures_per_finding(shown, labels)
    np.testing.assert_allclose(temperatures, [2.0, 0.5], rtol=0.06)
    scaled = calibrate.apply_temperatures_per_finding(shown, temperatures)
    for k in range(2):       # one positive temperature never reorders the images: AUROC unchanged
        assert roc_auc_score(labels[:, k], scaled[:, k]) == pytest.approx(roc_auc_score(labels[:, k], shown[:, k]))
    before = calibrate.binary_negative_log_likelihood_per_finding(shown, labels)
    after = calibrate.binary_negative_log_likelihood_per_finding(shown, labels, temperatures)
    assert np.all(after < before)
    assert after[0] == pytest.approx(log_loss(labels[:, 0], scaled[:, 0]))


def test_temperature_equals_logistic_regression_without_intercept():
    """A temperature is a one-feature logistic regression on the logit, no intercept: T = 1 / w."""
    rng = np.random.default_rng(3)
    z = rng.normal(scale=3.0, size=(3000, 1))
    y = (rng.uniform(size=z.shape) < 1 / (1 + np.exp(-z / 1.7))).astype(int)
    w = LogisticRegression(fit_intercept=False, C=np.inf).fit(z, y[:, 0]).coef_[0, 0]
    t = calibrate.fit_temperatures_per_finding(z, y)[0]
    assert t == pytest.approx(1 / w, rel=1e-3)


def test_clear_errors():
    with pytest.raises(ValueError, match="lie in"):
        calibrate.expected_calibration_error_per_finding(np.full((3, 2), 1.2), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="shape"):
        calibrate.expected_calibration_error_per_finding(np.full((3, 2), 0.2), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="0 .* or 1"):
        calibrate.expected_calibration_error_per_finding(np.full((3, 2), 0.2), np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match="NaN"):
        calibrate.fit_temperatures_per_finding(np.array([[np.nan], [1.0]]), np.array([[0], [1]]))
    with pytest.raises(ValueError, match="only negative"):
        calibrate.fit_temperatures_per_finding(np.ones((5, 1)), np.zeros((5, 1)))
    kept = calibrate.fit_temperatures_per_finding(np.c_[np.ones(6), np.arange(6.0) - 3],
                                                  np.c_[np.zeros(6), [0, 0, 1, 0, 1, 1]], if_single_class="keep")
    assert kept[0] == 1.0 and kept[1] != 1.0
    with pytest.raises(ValueError, match="positive"):
        calibrate.apply_temperatures_per_finding(np.ones((5, 2)), [1.0, 0.0])


def test_ece_interval_is_bias_corrected_and_holds_its_estimate():
    """The bootstrap ECEs sit above the estimate; the corrected estimate sits inside the basic interval."""
    rng = np.random.default_rng(4)
    patients = np.repeat(np.arange(150), 2)
    probs = rng.uniform(size=(150, 2))
    labels = np.repeat((rng.uniform(size=probs.shape) < probs).astype(int), 2, axis=0)   # calibrated: true ECE 0
    probs = np.repeat(probs, 2, axis=0)                                 # two identical studies per patient
    table = calibrate.ece_per_finding_with_interval(probs, labels, patient_ids=patients, n_resamples=200)
    np.testing.assert_allclose(table.ece, calibrate.expected_calibration_error_per_finding(probs, labels))
    assert (table.bias > 0).all() and (table.ece_corrected < table.ece).all()
    assert ((table.low <= table.ece_corrected) & (table.ece_corrected <= table.high)).all()
    assert set(table.unit) == {"patients"}
    by_image = calibrate.ece_per_finding_with_interval(probs, labels, n_resamples=200)
    assert ((by_image.high - by_image.low) < (table.high - table.low)).all()
    with pytest.raises(ValueError, match="n_resamples"):
        calibrate.ece_per_finding_with_interval(probs, labels, n_resamples=5)


def test_reliability_plots_follow_the_book_figure_style():
    # readable on a phone: no text under the book's minimum, no figure wider than the page;
    # in a grid the legend can be left to the figure
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cxrlab.figures import text_problems, use_book_style

    use_book_style()
    rng = np.random.default_rng(0)
    p = rng.uniform(size=400)
    y = (rng.uniform(size=400) < p).astype(float)
    ax = calibrate.plot_finding_reliability(calibrate.finding_reliability_curve(p, y), label="before")
    assert text_problems(ax.figure) == []
    assert [t.get_text() for t in ax.get_legend().get_texts()][0].startswith("before (ECE ")
    ax = calibrate.plot_finding_reliability(calibrate.finding_reliability_curve(p, y), legend=False)
    assert ax.get_legend() is None
    ax = calibrate.plot_reliability(calibrate.reliability_curve(np.c_[1 - p, p], y.astype(int)))
    assert text_problems(ax.figure) == []
    plt.close("all")
