"""median_time and timed (cxrlab.timing); patient leakage counts (cxrlab.leakage)."""

import numpy as np
import pytest

from cxrlab.leakage import image_level_split, nih_patient_ids, split_leakage
from cxrlab.timing import median_time, timed


def test_median_time_warms_up_and_takes_the_median():
    calls = []

    def fn():
        calls.append(1)

    assert median_time(fn, repeats=3, warmup=2) >= 0 and len(calls) == 5
    result, seconds = timed(lambda: 42)
    assert result == 42 and seconds >= 0
    with pytest.raises(ValueError, match="repeats"):
        median_time(fn, repeats=0)
    with pytest.raises(TypeError, match="function"):
        median_time(3)


def test_leakage_counts_known_case():
    ids = np.array(["a", "a", "b", "c", "c", "c"])
    leak = split_leakage(ids, train=[0, 3], test=[1, 2, 4, 5])
    assert (leak.test_images, leak.leaked_images, leak.test_patients, leak.leaked_patients) == (4, 3, 3, 2)
    assert leak.fraction == pytest.approx(0.75)
    assert split_leakage(ids, train=[0, 1], test=[2]).leaked_images == 0
    with pytest.raises(ValueError, match="both"):
        split_leakage(ids, train=[0, 1], test=[1])
    with pytest.raises(ValueError, match="indices"):
        split_leakage(ids, train=[0], test=[9])


def test_image_level_split_sizes_and_determinism():
    train, test = image_level_split(100, test_fraction=0.2, seed=3)
    assert len(test) == 20 and len(train) == 80 and not np.intersect1d(train, test).size
    assert np.array_equal(test, image_level_split(100, test_fraction=0.2, seed=3)[1])


def test_nih_patient_ids_have_the_real_counts():
    ids = nih_patient_ids()
    assert len(ids) == 112_120 and len(np.unique(ids)) == 30_805 and np.bincount(ids).max() == 184
    from cxrlab.data.nih_table import load_nih_table, nih_table_present

    if nih_table_present():   # same images-per-patient counts as the table itself
        table_counts = np.sort(load_nih_table().groupby("patient_id").size().to_numpy())
        assert np.array_equal(np.sort(np.bincount(ids)), table_counts)
