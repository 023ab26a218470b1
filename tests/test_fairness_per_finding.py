"""Subgroup AUROC per finding with a patient-level bootstrap."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from cxrlab import fairness


def make_data(n_patients=150, studies=3, seed=0):
    rng = np.random.default_rng(seed)
    patient = np.repeat(np.arange(n_patients), studies)
    sex = np.repeat(rng.choice(["F", "M"], n_patients), studies)
    base = np.repeat(rng.normal(size=(n_patients, 2)), studies, axis=0)     # patients' images alike
    labels = (base + 0.3 * rng.normal(size=base.shape) > 0.8).astype(int)
    scores = 1 / (1 + np.exp(-(base + rng.normal(scale=0.8, size=base.shape))))
    return labels, scores, pd.DataFrame({"sex": sex}), patient


def test_values_match_sklearn_and_intervals_contain_them():
    labels, scores, groups, patient = make_data()
    table = fairness.subgroup_auroc_per_finding(labels, scores, groups, findings=["effusion", "nodule"],
                                                patient_ids=patient, n_resamples=200)
    assert list(table.group[:3]) == ["all", "F", "M"] and set(table.finding) == {"effusion", "nodule"}
    for row in table.itertuples():
        members = np.ones(len(labels), bool) if row.group == "all" else (groups.sex.to_numpy() == row.group)
        k = ["effusion", "nodule"].index(row.finding)
        assert row.auroc == pytest.approx(roc_auc_score(labels[members, k], scores[members, k]))
        assert row.auroc_low <= row.auroc <= row.auroc_high
        assert row.unit == "patients" and row.patients == len(np.unique(patient[members]))


def test_patient_bootstrap_is_wider_than_image_bootstrap_for_repeated_studies():
    """Four identical studies per patient carry the information of one: resampling images hides that."""
    labels, scores, groups, patient = make_data(n_patients=200, studies=1, seed=1)
    rep = lambda a: np.repeat(a, 4, axis=0)    # noqa: E731
    kw = dict(findings=["a", "b"], n_resamples=200, seed=0)
    by_patient = fairness.subgroup_auroc_per_finding(rep(labels), rep(scores), rep(groups.sex.to_numpy()),
                                                     patient_ids=rep(patient), **kw)
    by_image = fairness.subgroup_auroc_per_finding(rep(labels), rep(scores), rep(groups.sex.to_numpy()), **kw)
    width = lambda t: (t.auroc_high - t.auroc_low).to_numpy()    # noqa: E731
    assert np.all(width(by_patient) > 1.5 * width(by_image))
    assert set(by_image.unit) == {"images"}


def test_small_groups_are_reported_not_estimated():
    labels, scores, _, patient = make_data(n_patients=60, studies=1, seed=2)
    groups = np.where(np.arange(60) < 4, "tiny", "large")
    table = fairness.subgroup_auroc_per_finding(labels, scores, groups, patient_ids=patient, n_resamples=100)
    tiny = table[table.group == "tiny"]
    assert tiny.auroc.isna().all() and tiny.note.str.contains("fewer than").all()


def test_clear_errors():
    labels, scores, groups, patient = make_data(n_patients=20, studies=1)
    with pytest.raises(ValueError, match="shape"):
        fairness.subgroup_auroc_per_finding(labels, scores[:, :1], groups)
    with pytest.raises(ValueError, match="0 .* or 1"):
        fairness.subgroup_auroc_per_finding(labels * 2, scores, groups)
    with pytest.raises(ValueError, match="probabilities"):
        fairness.subgroup_auroc_per_finding(labels, scores * 3, groups)
    with pytest.raises(ValueError, match="one id per image"):
        fairness.subgroup_auroc_per_finding(labels, scores, groups, patient_ids=patient[:5])
    with pytest.raises(ValueError, match="findings"):
        fairness.subgroup_auroc_per_finding(labels, scores, groups, findings=["only one"])
