"""Property-based tests (hypothesis): invariants that must hold for every input, not one example.

window_level (PS3.3 C.11.2.1.2), conformal_quantile, expected_calibration_error and
to_heatmap, each checked on 100 generated inputs in well under a second apiece.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cxrlab.calibrate import expected_calibration_error
from cxrlab.conformal import conformal_quantile, min_calibration_size
from cxrlab.dicom.window import window_level
from cxrlab.explain import to_heatmap

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
pixels = arrays(np.float64, st.integers(1, 60), elements=finite)


# ------------------------------------------------------------------ window_level

@FAST
@given(values=pixels, center=finite, width=st.floats(1.0, 1e5), function=st.sampled_from(
    ["LINEAR", "LINEAR_EXACT", "SIGMOID"]))
def test_window_level_is_a_monotone_map_into_the_unit_interval(values, center, width, function):
    out = window_level(values, center, width, function)
    assert out.shape == values.shape and out.dtype == np.float64
    assert np.all(np.isfinite(out)) and out.min() >= 0.0 and out.max() <= 1.0
    order = np.argsort(values, kind="stable")
    assert np.all(np.diff(out[order]) >= -1e-12)  # brighter input never gives a darker output


@FAST
@given(center=finite, width=st.floats(1.0, 1e5), function=st.sampled_from(["LINEAR", "LINEAR_EXACT", "SIGMOID"]))
def test_window_level_saturates_outside_the_window_and_centres_at_one_half(center, width, function):
    far = np.array([center - 50 * width - 10, center + 50 * width + 10])
    assert window_level(far, center, width, function).tolist() == pytest.approx([0.0, 1.0], abs=1e-12)
    if function != "LINEAR":  # LINEAR is centred on c - 0.5 (PS3.3 C.11.2.1.2.1)
        assert window_level(center, center, width, function) == pytest.approx(0.5)
    elif (width - 1) / 2 > 1e-9 * max(1.0, abs(center)):
        # a ramp wider than the float spacing at c (width 1 is a hard threshold at c - 0.5, no ramp)
        assert window_level(center - 0.5, center, width, function) == pytest.approx(0.5, abs=1e-9)


# ------------------------------------------------------------------ conformal_quantile

scores_and_alpha = st.tuples(
    arrays(np.float64, st.integers(1, 200), elements=st.floats(0, 1, allow_nan=False)),
    st.floats(0.01, 0.5))


@FAST
@given(scores_and_alpha)
def test_conformal_quantile_is_the_kth_order_statistic(case):
    scores, alpha = case
    n = len(scores)
    if n < min_calibration_size(alpha):
        with pytest.raises(ValueError, match="too few"):
            conformal_quantile(scores, alpha)
        return
    q = conformal_quantile(scores, alpha)
    k = math.ceil((n + 1) * (1 - alpha) - 1e-9)
    assert q == np.sort(scores)[k - 1]
    assert np.sum(scores <= q) >= k and np.sum(scores < q) < k  # at least k scores at or below it
    assert q == conformal_quantile(scores[::-1].copy(), alpha)  # order of the calibration data is irrelevant
    # linear interpolation and "higher" at level k / n land at or above it (so they over-cover)
    assert np.quantile(scores, k / n) >= q - 1e-12
    assert np.quantile(scores, k / n, method="higher") >= q
    assert np.quantile(scores, k / n, method="inverted_cdf") == q


@FAST
@given(scores_and_alpha)
def test_conformal_quantile_grows_as_alpha_shrinks(case):
    scores, alpha = case
    smaller = alpha / 2
    if len(scores) < min_calibration_size(smaller):
        return
    assert conformal_quantile(scores, smaller) >= conformal_quantile(scores, alpha)


# ------------------------------------------------------------------ expected_calibration_error

@st.composite
def probs_and_labels(draw):
    n = draw(st.integers(1, 80))
    classes = draw(st.integers(2, 5))
    raw = draw(arrays(np.float64, (n, classes), elements=st.floats(0.01, 1.0)))
    labels = draw(arrays(np.int64, n, elements=st.integers(0, classes - 1)))
    return raw / raw.sum(1, keepdims=True), labels


@FAST
@given(probs_and_labels(), st.integers(1, 20))
def test_ece_lies_in_unit_interval_below_the_mean_absolute_error_and_ignores_row_order(case, n_bins):
    probs, labels = case
    ece = expected_calibration_error(probs, labels, n_bins)
    assert 0.0 <= ece <= 1.0
    confidence = probs.max(1)
    correct = probs.argmax(1) == labels
    # |sum over a bin of (correct - confidence)| <= sum of |correct - confidence| (triangle inequality)
    assert ece <= np.mean(np.abs(correct - confidence)) + 1e-12
    order = np.random.default_rng(0).permutation(len(labels))
    assert expected_calibration_error(probs[order], labels[order], n_bins) == pytest.approx(ece, abs=1e-12)


@FAST
@given(arrays(np.float64, st.integers(1, 80), elements=st.floats(0, 1)), st.data())
def test_ece_of_a_binary_probability_equals_its_two_column_form(p, data):
    labels = data.draw(arrays(np.int64, len(p), elements=st.integers(0, 1)))
    two = np.stack([1 - p, p], 1)
    assert expected_calibration_error(p, labels) == pytest.approx(expected_calibration_error(two, labels), abs=1e-12)


# ------------------------------------------------------------------ to_heatmap

maps_strategy = arrays(np.float32, st.tuples(st.integers(1, 4), st.integers(1, 8), st.integers(1, 8)),
                       elements=st.floats(-1e3, 1e3, width=32))


@FAST
@given(maps_strategy, st.booleans(), st.floats(0.01, 100.0))
def test_to_heatmap_is_a_per_map_normalisation_into_the_unit_interval(maps, positive_only, scale):
    m = torch.from_numpy(maps)
    heat = to_heatmap(m, positive_only=positive_only)
    assert heat.shape == m.shape and heat.dtype == torch.float32
    assert torch.isfinite(heat).all() and heat.min() >= 0 and heat.max() <= 1
    evidence = m.clamp(min=0) if positive_only else m.abs()
    for i in range(len(m)):
        if evidence[i].max() > evidence[i].min():
            assert heat[i].max() == pytest.approx(1.0) and heat[i].min() == pytest.approx(0.0)
        else:
            assert torch.equal(heat[i], torch.zeros_like(heat[i]))  # no ranking: all zero
    torch.testing.assert_close(to_heatmap(m * scale, positive_only=positive_only), heat, atol=1e-4, rtol=0)
    # each map is normalised on its own: the others do not change it
    torch.testing.assert_close(to_heatmap(m[-1:], positive_only=positive_only), heat[-1:])


@FAST
@given(maps_strategy, st.data())
def test_to_heatmap_refuses_any_nan_and_names_its_map(maps, data):
    index = data.draw(st.integers(0, len(maps) - 1))
    bad = maps.copy()
    bad[index, 0, 0] = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    with pytest.raises(ValueError, match=f"index {index}"):
        to_heatmap(torch.from_numpy(bad))
