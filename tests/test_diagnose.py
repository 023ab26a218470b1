"""cxrlab.diagnose: the verdict follows the curves' gap, trend and validation-loss minimum."""

import numpy as np
import pytest
from scipy.stats import linregress

from cxrlab.diagnose import diagnose, least_squares_slope
from cxrlab.train import History


def make(train_acc, val_acc, train_loss, val_loss):
    n = len(train_acc)
    return History(train_loss=list(train_loss), train_accuracy=list(train_acc), val_loss=list(val_loss),
                   val_accuracy=list(val_acc), learning_rate=[1e-3] * n, epoch_seconds=[1.0] * n)


def test_slope_matches_scipy_linregress():
    rng = np.random.default_rng(0)
    y = rng.normal(size=9).cumsum()
    assert least_squares_slope(y) == pytest.approx(linregress(np.arange(9), y).slope)
    assert least_squares_slope([1.0, 3.0, 5.0]) == pytest.approx(2.0)
    assert least_squares_slope([4.0, 4.0]) == 0.0


def test_overfitting_gap_widening_and_val_loss_past_its_minimum():
    h = make(train_acc=[0.70, 0.80, 0.88, 0.94, 0.98, 0.99],
             val_acc=[0.68, 0.76, 0.80, 0.81, 0.80, 0.80],
             train_loss=[0.9, 0.6, 0.35, 0.2, 0.08, 0.04],
             val_loss=[0.95, 0.7, 0.55, 0.56, 0.65, 0.75])
    d = diagnose(h, last=3)
    assert d.verdict == "overfitting"
    assert d.window == (4, 6)
    assert d.gap == pytest.approx(np.mean([0.13, 0.18, 0.19]))
    assert d.gap_slope == pytest.approx(0.03)
    assert d.val_loss_min_epoch == 3
    assert d.val_loss_rise == pytest.approx(0.75 / 0.55 - 1)
    assert "OVERFITTING" in d.summary()


def test_large_but_stable_gap_is_not_overfitting():
    # The seed's fixed rule (last-epoch gap > 5 points -> overfitting) would say overfitting here.
    h = make(train_acc=[0.80, 0.90, 0.95, 0.95, 0.95], val_acc=[0.75, 0.85, 0.88, 0.88, 0.88],
             train_loss=[0.5, 0.3, 0.2, 0.199, 0.198], val_loss=[0.6, 0.4, 0.33, 0.33, 0.33])
    d = diagnose(h, last=3)
    assert d.gap == pytest.approx(0.07)
    assert d.verdict == "good fit"


def test_still_learning_is_underfitting():
    h = make(train_acc=[0.3, 0.4, 0.5, 0.6], val_acc=[0.3, 0.4, 0.5, 0.6],
             train_loss=[2.0, 1.6, 1.3, 1.0], val_loss=[2.0, 1.7, 1.4, 1.1])
    d = diagnose(h)
    assert d.verdict == "underfitting" and d.val_loss_min_epoch == 4
    assert d.train_loss_trend == pytest.approx(least_squares_slope([1.6, 1.3, 1.0]) / 1.3)


def test_low_training_accuracy_is_underfitting_only_with_a_target():
    flat = make(train_acc=[0.4, 0.41, 0.41], val_acc=[0.4, 0.41, 0.41],
                train_loss=[1.5, 1.49, 1.49], val_loss=[1.5, 1.49, 1.495])
    assert diagnose(flat).verdict == "good fit"
    assert diagnose(flat, min_train_accuracy=0.9).verdict == "underfitting"


def test_thresholds_change_the_verdict():
    h = make(train_acc=[0.8, 0.86, 0.9], val_acc=[0.8, 0.83, 0.85],
             train_loss=[0.5, 0.4, 0.35], val_loss=[0.5, 0.45, 0.44])
    assert diagnose(h, gap_tolerance=0.02, widening_tolerance=0.01).verdict == "overfitting"
    assert diagnose(h, gap_tolerance=0.10).verdict != "overfitting"


def test_window_longer_than_run_uses_whole_run():
    h = make([0.5, 0.6], [0.5, 0.6], [1.0, 0.9], [1.0, 0.9])
    assert diagnose(h, last=10).window == (1, 2)


@pytest.mark.parametrize("kwargs, message", [
    ({"last": 1}, "last"), ({"gap_tolerance": 5}, "fraction"), ({"rise_tolerance": -0.1}, "fraction"),
])
def test_bad_parameters(kwargs, message):
    h = make([0.5, 0.6], [0.5, 0.6], [1.0, 0.9], [1.0, 0.9])
    with pytest.raises(ValueError, match=message):
        diagnose(h, **kwargs)


def test_needs_validation_curve_and_two_epochs():
    with pytest.raises(ValueError, match="validation"):
        diagnose(History(train_loss=[1.0, 0.9], train_accuracy=[0.5, 0.6]))
    with pytest.raises(ValueError, match="2 epochs"):
        diagnose(make([0.5], [0.5], [1.0], [1.0]))
    with pytest.raises(TypeError, match="History"):
        diagnose({"train_loss": [1.0]})
    with pytest.raises(ValueError, match="NaN"):
        least_squares_slope([1.0, float("nan")])
