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
    table = flag_gaps(subgroup_metrics(data.y, data.score, data.site, n_boot=200, metrics=["auroc"]), "auroc", 0.05)
    flags = dict(zip(table.group, table.flag))
    assert flags == {"all": False, "A": False, "B": True}
    assert table.set_index("group").loc["B", "auroc_gap"] > 0.05


def test_noise_alone_raises_no_flag():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 600)
    score = 1 / (1 + np.exp(-(2 * (2 * y - 1) + rng.normal(size=600))))
    groups = rng.choice(["F", "M", "X"], 600)  # groups unrelated to performance
    table = flag_gaps(subgroup_metrics(y, score, groups, n_boot=200, metrics=["auroc"]), "auroc", 0.05)
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
    with pytest.raises(ValueError, match="metrics"):
        subgroup_metrics([0, 1, 1], [0.1, 0.2, 0.3], ["a", "a", "b"], metrics=["accuracy"])


def test_rank_auroc_equals_sklearn_with_ties():
    from cxrlab.fairness import auroc

    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.uniform(size=300), 1)  # many ties
    assert auroc(y, s) == pytest.approx(roc_auc_score(y, s))
    assert np.isnan(auroc(np.ones(5, int), s[:5]))


def test_gap_is_measured_against_the_rest_not_an_overall_that_contains_the_group():
    # Site A holds 90 % of the images and does worse than B: against an overall value made
    # mostly of A itself the gap is a tenth of the real one and was never flagged.
    rng = np.random.default_rng(6)
    frames = []
    for site, signal, n in (("A", 0.8, 900), ("B", 2.5, 100)):
        y = rng.integers(0, 2, n)
        logit = signal * (2 * y - 1) + rng.normal(size=n)
        frames.append(pd.DataFrame({"y": y, "score": 1 / (1 + np.exp(-logit)), "site": site}))
    data = pd.concat(frames, ignore_index=True)
    table = flag_gaps(subgroup_metrics(data.y, data.score, data.site, n_boot=300, metrics=["auroc"]), "auroc",
                      0.05).set_index("group")
    a_alone = roc_auc_score(data.y[data.site == "A"], data.score[data.site == "A"])
    b_alone = roc_auc_score(data.y[data.site == "B"], data.score[data.site == "B"])
    assert table.loc["A", "auroc_rest"] == pytest.approx(b_alone)
    assert table.loc["A", "auroc_gap"] == pytest.approx(b_alone - a_alone)  # about 0.15
    assert table.loc["A", "auroc_gap"] > 0.1 > table.loc["all", "auroc"] - a_alone
    assert table.loc["A", "flag"] and not table.loc["B", "flag"]
    assert table.loc["A", "auroc_gap_lo"] > 0  # the whole interval of the gap lies on the bad side


def test_holm_adjusted_p_values_by_hand():
    from cxrlab.fairness import holm

    # sorted 0.01, 0.03, 0.04 with m = 3: 3 * 0.01, max(0.03, 2 * 0.03), max(0.06, 1 * 0.04)
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, np.nan]), [0.03, 0.06, 0.06, np.nan])
    np.testing.assert_allclose(holm([0.5, 0.9]), [1.0, 1.0])


def test_many_groups_of_noise_flag_nothing_after_holm():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 1800)
    score = 1 / (1 + np.exp(-(1.5 * (2 * y - 1) + rng.normal(size=1800))))
    groups = rng.choice(list("ABCDEFGHI"), 1800)  # nine groups unrelated to performance
    table = flag_gaps(subgroup_metrics(y, score, groups, n_boot=200, metrics=["auroc"]), "auroc", 0.0)
    assert table.tested.sum() == 9 and not table.flag.any()
    assert (table.auroc_p_holm.dropna() >= table.auroc_p.dropna()).all()


def test_patient_ids_give_a_cluster_bootstrap():
    # every patient contributes four identical images: resampling images pretends to 4x the data
    rng = np.random.default_rng(8)
    y = rng.integers(0, 2, 150)
    score = 1 / (1 + np.exp(-(1.0 * (2 * y - 1) + rng.normal(size=150))))
    y4, s4, ids = np.repeat(y, 4), np.repeat(score, 4), np.repeat(np.arange(150), 4)
    groups = np.repeat(rng.choice(["F", "M"], 150), 4)
    by_image = subgroup_metrics(y4, s4, groups, n_boot=300, metrics=["auroc"]).set_index("group")
    by_patient = subgroup_metrics(y4, s4, groups, n_boot=300, patients=ids, metrics=["auroc"]).set_index("group")
    single = subgroup_metrics(y, score, groups[::4], n_boot=300, metrics=["auroc"]).set_index("group")
    width = lambda t: t.loc["all", "auroc_hi"] - t.loc["all", "auroc_lo"]  # noqa: E731
    assert width(by_patient) > 1.6 * width(by_image)
    assert width(by_patient) == pytest.approx(width(single), rel=0.25)
    with pytest.raises(ValueError, match="one patient id per image"):
        subgroup_metrics(y4, s4, groups, patients=ids[:10])
