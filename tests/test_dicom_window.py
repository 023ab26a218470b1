"""cxrlab.dicom.window_level against the PS3.3 C.11.2.1.2 formulas and pydicom's apply_windowing."""

import math

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import apply_windowing

from cxrlab.dicom import min_max, window_level


def test_linear_known_values_from_the_ps33_formula():
    # c = 40, w = 400 (a soft-tissue window): the ramp runs from c - 0.5 - (w-1)/2 = -160
    # (exclusive) to c - 0.5 + (w-1)/2 = 239 (inclusive), y = (x - 39.5) / 399 + 0.5
    x = np.array([-1000, -160, -159, 40, 239, 240, 5000], dtype=float)
    expected = [0.0, 0.0, (-159 - 39.5) / 399 + 0.5, (40 - 39.5) / 399 + 0.5, 1.0, 1.0, 1.0]
    np.testing.assert_allclose(window_level(x, 40, 400), expected, rtol=0, atol=1e-12)
    assert window_level(-159, 40, 400) == pytest.approx(1 / 399)  # first step above black


def test_linear_exact_and_sigmoid_known_values():
    np.testing.assert_allclose(window_level([-6, -5, 0, 2.5, 5, 6], 0, 10, "LINEAR_EXACT"),
                               [0, 0, 0.5, 0.75, 1, 1], atol=1e-12)
    assert window_level(100, 100, 50, "SIGMOID") == pytest.approx(0.5)
    assert window_level(100 + 50 / 4, 100, 50, "sigmoid") == pytest.approx(1 / (1 + math.exp(-1)))
    assert window_level(1e9, 0, 1, "SIGMOID") == 1.0
    assert window_level(-1e9, 0, 1, "SIGMOID") == pytest.approx(0.0, abs=1e-300)


def test_width_one_is_a_threshold_at_center_minus_half():
    np.testing.assert_array_equal(window_level([9, 9.5, 9.6, 10, 11], 10, 1), [0, 0, 1, 1, 1])


@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
@pytest.mark.parametrize("center,width", [(40, 400), (-600, 1500), (15000, 30000), (0.5, 2), (3, 1.5)])
def test_matches_pydicom_apply_windowing(function, center, width):
    if function == "LINEAR" and width < 1:
        pytest.skip("LINEAR needs width >= 1")
    ds = Dataset()
    ds.PhotometricInterpretation, ds.BitsStored, ds.PixelRepresentation = "MONOCHROME2", 16, 1
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = center, width, function
    x = np.random.default_rng(0).uniform(-32768, 32767, 5000)
    x = np.concatenate([x, center + np.linspace(-width, width, 401)])
    with np.errstate(over="ignore"):  # pydicom's sigmoid overflows harmlessly far from the window
        theirs = (apply_windowing(x, ds) + 32768) / 65535  # pydicom maps to the stored range
    np.testing.assert_allclose(window_level(x, center, width, function), theirs, rtol=0, atol=1e-9)


def test_output_is_monotone_and_in_unit_range():
    x = np.linspace(-5000, 5000, 2001)
    for function in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
        y = window_level(x, 100, 800, function)
        assert y.min() >= 0 and y.max() <= 1 and np.all(np.diff(y) >= 0)
        assert y.shape == x.shape and y.dtype == np.float64


def test_bad_windows_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="width >= 1"):
        window_level([0, 1], 0, 0.5)
    with pytest.raises(ValueError, match="width > 0"):
        window_level([0, 1], 0, 0, "SIGMOID")
    with pytest.raises(ValueError, match="not one of"):
        window_level([0, 1], 0, 10, "GAMMA")
    with pytest.raises(ValueError, match="finite"):
        window_level([0, 1], float("nan"), 10)
    with pytest.raises(ValueError, match="numbers"):
        window_level([0, 1], "forty", 10)


def test_min_max():
    np.testing.assert_allclose(min_max(np.array([2.0, 4.0, 6.0])), [0, 0.5, 1])
    np.testing.assert_array_equal(min_max(np.full((3, 3), 7.0)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="empty"):
        min_max(np.array([]))
