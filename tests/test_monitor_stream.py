"""monitor.simulate_stream and the false-alarm rate measured on fresh stable windows."""

import numpy as np
import pandas as pd
import pytest

from cxrlab import monitor


def population(n, seed, shift=0.0, sites=("A", "B", "C")):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"site": rng.choice(sites, n), "score": rng.beta(2, 5, n) + shift,
                         "intensity": rng.normal(0.5 + shift, 0.1, n)})


def test_stream_layout_and_rows_used_once():
    stable = population(2000, 0).assign(row=lambda f: np.arange(len(f)))
    changed = population(400, 1, shift=0.3, sites=("B",)).assign(row=lambda f: -1 - np.arange(len(f)))
    stream = monitor.simulate_stream(stable, changed, change_at=500, n_after=600, changed_site="B", seed=3)
    assert len(stream) == 1100 and (stream.image.to_numpy() == np.arange(1100)).all()
    assert not stream.after_change[:500].any() and stream.after_change[500:].all()
    assert not stream.from_changed[:500].any()
    after = stream[stream.after_change]
    assert (after[~after.from_changed].site != "B").all()            # B's old detector is gone
    assert (after[after.from_changed].site == "B").all()
    share = (stable.site == "B").mean()
    assert abs(after.from_changed.mean() - share) < 0.07
    stable_rows = stream.row[stream.row >= 0]
    assert stable_rows.is_unique and stream.row[stream.row < 0].is_unique     # fresh: never reused


def test_too_few_rows_is_a_clear_error():
    with pytest.raises(ValueError, match="fresh stable images"):
        monitor.simulate_stream(population(300, 0), population(300, 1), change_at=250, n_after=200,
                                changed_share=0.3)
    with pytest.raises(ValueError, match="changed_share"):
        monitor.simulate_stream(population(300, 0), population(300, 1), change_at=10, n_after=10)
    with pytest.raises(ValueError, match="no stable image comes from"):
        monitor.simulate_stream(population(300, 0), population(300, 1), change_at=10, n_after=10, changed_site="Z")


def test_false_alarm_rate_on_fresh_windows_is_near_alpha():
    """Fresh stable windows alert at about alpha; the interval covers it."""
    baseline = population(2000, 10)[["score", "intensity"]]
    watch = monitor.DriftMonitor(baseline, window=100, alpha=0.1)
    fresh = population(100 * 150, 11)
    measured = monitor.false_alarm_rate(watch.run(fresh))
    assert measured.windows == 150
    assert measured.low <= 0.1 <= measured.high + 0.02    # Bonferroni over 2 features: at most alpha
    assert measured.rate <= 0.1 + 0.05


def test_false_alarm_rate_counts_only_windows_before_the_change():
    baseline = population(1000, 20)[["score", "intensity"]]
    watch = monitor.DriftMonitor(baseline, window=100, alpha=0.01)
    stable, changed = population(3000, 21), population(1000, 22, shift=0.5)
    stream = monitor.simulate_stream(stable, changed, change_at=1000, n_after=1000, changed_share=1.0)
    results = watch.run(stream)
    measured = monitor.false_alarm_rate(results, before=1000)
    assert measured.windows == 10
    report = monitor.alert_delay(results, 1000)
    assert report.false_alarm_windows == measured.alarms and report.delay is not None
    with pytest.raises(ValueError, match="no stable window"):
        monitor.false_alarm_rate(results, before=50)
