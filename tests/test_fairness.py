"""cxrlab.fairness: per-group metrics against scikit-learn, intervals, and the gap flag."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix, roc_auc_score

from cxrlab.fairness import flag_gaps, subgroup_metrics


def make_data(rng, n_per_group=400):
    """Site A: informative scores; site B: the same prevalence but much weaker scores."""
    frames = []
    for site, signal in (("A", 2.5), ("B", 0.5)):
        y = rng.integers(0, 2, n_per_group)
        logit = signal * (2 * y - 1) + rng.normal(size=n_per_group)
        frames.append(pd.DataFrame({"y": y, "score": 1 / (1 + np.exp(-logit)), "site": site}))
    return pd.concat(frames, ignore_index=True)


def test_metrics_match_sklearn_per_group():
    rng = np.random.default_rng(0)
    data = make_data(rng)
    table = subgroup_metrics(data.y, data.score, data.site, threshold=0.5, n_boot=50)
    assert list(table.group) == ["all", "A", "B"]
    for _, row in table.iterrows():
        part = data if row.group == "all" else data[data.site == row.group]
        assert row.n == len(part) and row.positives == part.y.sum()
        assert row.prevalence == pytest.approx(part.y.mean())
        assert row.auroc == pytest.approx(roc_auc_score(part.y, part.score))
        tn, fp, fn, tp = confusion_matrix(part.y, part.score >= 0.5).ravel()
        assert row.sensitivity == pytest.approx(tp / (tp + fn))
        assert row.specificity == pytest.approx(tn / (tn + fp))
        for metric in ("auroc", "sensitivity", "specificity", "ece"):
            assert row[f"{metric}_lo"] <= row[metric] <= row[f"{metric}_hi"]


def test_flag_marks_the_weak_site_only():
    rng = np.random.default_rng(1)
    data = make_data(rng)
    table = flag_gaps(subgroup_metrics(data.y, data.score, data.site, n_boot=200), "auroc", 0.05)
    flags = dict(zip(table.group, table.flag))
    assert flags == {"all": False, "A": False, "B": True}
    assert table.set_index("group").loc["B", "auroc_gap"] > 0.05


def test_noise_alone_raises_no_flag():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 600)
    score = 1 / (1 + np.exp(-(2 * (2 * y - 1) + rng.normal(size=600))))
    groups = rng.choice(["F", "M", "X"], 600)  # groups unrelated to performance
    table = flag_gaps(subgroup_metrics(y, score, groups, n_boot=200), "auroc", 0.05)
    assert not table.flag.any()


def test_small_and_single_class_groups_are_nan_not_errors():
    y = np.array([0, 1] * 20 + [1] * 12)
    s = np.linspace(0.1, 0.9, len(y))
    g = np.array(["big"] * 40 + ["onlypos"] * 12)
    table = subgroup_metrics(y, s, g, n_boot=30, min_size=10).set_index("group")
    assert np.isnan(table.loc["onlypos", "auroc"]) and np.isnan(table.loc["onlypos", "specificity"])
    small = subgroup_metrics(y, s, g, n_boot=30, min_size=20).set_index("group")
    assert np.isnan(small.loc["onlypos", "sensitivity"])


def test_bad_input():
    with pytest.raises(ValueError, match="0 .*or 1"):
        subgroup_metrics([0, 2, 1], [0.1, 0.2, 0.3], ["a", "a", "b"])
    with pytest.raises(ValueError, match="probabilities"):
        subgroup_metrics([0, 1, 1], [0.1, 1.2, 0.3], ["a", "a", "b"])
    with pytest.raises(ValueError, match="one group per image"):
        subgroup_metrics([0, 1, 1], [0.1, 0.2, 0.3], ["a", "b"])
    with pytest.raises(ValueError, match="metric"):
        flag_gaps(pd.DataFrame({"group": ["all"]}), "accuracy")


def test_rank_auroc_equals_sklearn_with_ties():
    from cxrlab.fairness import auroc

    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.uniform(size=300), 1)  # many ties
    assert auroc(y, s) == pytest.approx(roc_auc_score(y, s))
    assert np.isnan(auroc(np.ones(5, int), s[:5]))
