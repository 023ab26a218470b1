"""cxrlab.monitor: degenerate baselines rejected, false-alarm rate, detection delay, PSI, CUSUM."""

import numpy as np
import pandas as pd
import pytest

from cxrlab.monitor import DriftMonitor, alert_delay, cusum, population_stability_index


def stream(rng, n_before, n_after, shift):
    prob = np.concatenate([rng.beta(2, 5, n_before), rng.beta(2 + shift, 5, n_after)])
    intensity = np.concatenate([rng.normal(0.5, 0.05, n_before), rng.normal(0.5 + 0.02 * shift, 0.05, n_after)])
    return pd.DataFrame({"time": np.arange(n_before + n_after), "prob": prob, "intensity": intensity})


def test_constant_baseline_is_an_error():
    with pytest.raises(ValueError, match="degenerate"):
        DriftMonitor({"prob": [0.15] * 1000})
    with pytest.raises(ValueError, match="degenerate"):
        cusum(np.ones(10), [0.15] * 1000)
    with pytest.raises(ValueError, match="at least"):
        DriftMonitor({"prob": np.linspace(0, 1, 10)})
    with pytest.raises(ValueError, match="at least one feature"):
        DriftMonitor({})


def test_false_alarm_rate_on_a_stable_stream_is_near_alpha():
    rng = np.random.default_rng(0)
    baseline = stream(rng, 2000, 0, 0)
    monitor = DriftMonitor(baseline[["prob", "intensity"]], window=100, alpha=0.05)
    alarms = []
    for _ in range(10):
        results = monitor.run(stream(rng, 2000, 0, 0), time_column="time")
        alarms.append(results.groupby("window_start")["alert"].any().mean())
    # Bonferroni over 2 features: each window alerts with probability <= alpha (about alpha)
    assert np.mean(alarms) <= 0.05 + 0.03


def test_detects_a_shift_and_reports_the_delay():
    rng = np.random.default_rng(1)
    baseline = stream(rng, 2000, 0, 0)
    monitor = DriftMonitor(baseline[["prob", "intensity"]], window=100, alpha=0.01)
    live = stream(rng, 1000, 1000, shift=3)
    results = monitor.run(live, time_column="time")
    assert set(results.columns) >= {"window_start", "window_end", "time", "feature", "ks_statistic",
                                    "p_value", "psi", "alert"}
    assert len(results) == 2 * 20
    report = alert_delay(results, change_at=1000)
    assert report.delay is not None and 0 < report.delay <= 200
    assert report.stable_windows == 10 and report.false_alarm_windows <= 1
    post = results[results.window_start >= 1000]
    assert post.alert.mean() > 0.9 and post.psi.mean() > 0.25


def test_psi_known_values():
    rng = np.random.default_rng(2)
    e = rng.normal(size=20000)
    assert population_stability_index(e, rng.normal(size=20000)) < 0.01
    # all 'actual' values in the top decile: PSI = 0.9*ln(0.9/0.1)... computed by hand below
    a = np.full(1000, 10.0)
    expected = (1 - 0.1) * np.log(1 / 0.1) + 9 * (1e-4 - 0.1) * np.log(1e-4 / 0.1)
    assert population_stability_index(e, a) == pytest.approx(expected, rel=1e-3)


def test_cusum_alarms_after_a_mean_shift_not_before():
    rng = np.random.default_rng(3)
    base = rng.normal(0, 1, 1000)
    values = np.concatenate([rng.normal(0, 1, 500), rng.normal(1, 1, 500)])
    stat, first = cusum(values, base, k=0.5, h=8.0)
    assert stat.shape == (1000,) and np.all(stat >= 0)
    assert first is not None and 500 <= first < 560


def test_stream_errors():
    rng = np.random.default_rng(4)
    monitor = DriftMonitor({"prob": rng.uniform(size=500)}, window=50)
    with pytest.raises(KeyError, match="prob"):
        monitor.run(pd.DataFrame({"other": rng.uniform(size=100)}))
    with pytest.raises(ValueError, match="fewer than one window"):
        monitor.run(pd.DataFrame({"prob": rng.uniform(size=10)}))
    with pytest.raises(ValueError, match="window"):
        DriftMonitor({"prob": rng.uniform(size=500)}, window=5)


def test_a_few_missing_values_are_counted_tested_around_and_alerted():
    rng = np.random.default_rng(5)
    watch = DriftMonitor({"prob": rng.beta(2, 5, 1000)}, window=100, alpha=0.01)
    live = pd.DataFrame({"prob": rng.beta(2, 5, 200)})
    live.loc[[10, 20, 30], "prob"] = np.nan
    first = watch.run(live).iloc[0]
    assert first.nonfinite == 3 and first.n == 97 and np.isfinite(first.p_value) and first.alert
    assert "3 non-finite" in first.reason
    tolerant = DriftMonitor({"prob": rng.beta(2, 5, 1000)}, window=100, alpha=0.01, max_nonfinite=5)
    assert tolerant.run(live).alert.tolist() == [False, False]  # within the stated tolerance
    with pytest.raises(ValueError, match="index 3"):
        population_stability_index(np.linspace(0, 1, 100), [0.1, 0.2, 0.3, np.nan])
