"""Per-finding metrics: known values, scikit-learn cross-checks, the patient-level interval, errors."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from cxrlab.findings import CHEXNET_AUROC, auprc, auroc, chexnet_reference, macro_auroc, per_finding_table


def test_known_values():
    y = np.array([0, 0, 1, 1])
    assert auroc(y, [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)        # 3 of 4 pairs ordered
    assert auroc(y, [0.1, 0.2, 0.3, 0.4]) == 1.0 and auroc(y, [0.4, 0.3, 0.2, 0.1]) == 0.0
    assert auprc(y, [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert auprc(y, [0.1, 0.4, 0.35, 0.8]) == pytest.approx((1 + 2 / 3) / 2)


def test_matches_scikit_learn_and_ignores_scale():
    rng = np.random.default_rng(0)
    y = (rng.random((300, 3)) < [0.05, 0.2, 0.5]).astype(float)
    s = rng.normal(size=(300, 3)) + 1.5 * y
    for k in range(3):
        assert auroc(y[:, k], s[:, k]) == pytest.approx(roc_auc_score(y[:, k], s[:, k]))
        assert auprc(y[:, k], s[:, k]) == pytest.approx(average_precision_score(y[:, k], s[:, k]))
        assert auroc(y[:, k], 1 / (1 + np.exp(-s[:, k]))) == pytest.approx(auroc(y[:, k], s[:, k]))
    assert macro_auroc(y, s) == pytest.approx(np.mean([roc_auc_score(y[:, k], s[:, k]) for k in range(3)]))


def test_table_columns_and_patient_interval_is_wider_than_image_interval():
    rng = np.random.default_rng(1)
    patients = np.repeat(np.arange(60), 5)          # five images per patient, strongly alike
    base = rng.random(60)
    y = np.stack([(base[patients] < 0.3), (base[patients] > 0.8)], 1).astype(float)
    s = y + rng.normal(0, 0.9, (60, 1))[patients] + rng.normal(0, 0.1, y.shape)
    by_patient = per_finding_table(y, s, ["a", "b"], patient_ids=patients, n_resamples=200)
    by_image = per_finding_table(y, s, ["a", "b"], n_resamples=200)
    assert list(by_patient.columns[:6]) == ["prevalence", "positives", "auroc", "auroc_low", "auroc_high", "auprc"]
    assert by_patient.loc["a", "positives"] == y[:, 0].sum()
    assert by_patient.interval_unit.eq("patients").all() and by_image.interval_unit.eq("images").all()
    width = lambda t: (t.auroc_high - t.auroc_low)  # noqa: E731
    assert (width(by_patient) > width(by_image)).all(), "clustered images carry less information"
    assert ((by_patient.auroc_low <= by_patient.auroc) & (by_patient.auroc <= by_patient.auroc_high)).all()


def test_a_finding_without_positives_gets_nan_not_an_error():
    y = np.zeros((10, 2))
    y[:5, 0] = 1
    table = per_finding_table(y, np.random.default_rng(0).random((10, 2)), ["seen", "absent"], n_resamples=200)
    assert np.isnan(table.loc["absent", "auroc"]) and table.loc["absent", "positives"] == 0
    assert np.isfinite(table.loc["seen", "auroc"])


def test_chexnet_values_are_table_1_of_the_paper():
    assert len(CHEXNET_AUROC) == 14
    assert CHEXNET_AUROC["cardiomegaly"] == 0.9248 and CHEXNET_AUROC["nodule"] == 0.7802
    assert CHEXNET_AUROC["hernia"] == 0.9164 and CHEXNET_AUROC["emphysema"] == 0.9371
    ref = chexnet_reference(["nodule/mass", "effusion", "unknown"])
    assert ref == {"nodule/mass": "0.780 (nodule), 0.868 (mass)", "effusion": "0.864", "unknown": ""}


@pytest.mark.parametrize("labels, scores, words", [
    ([0, 1, 2], [0.1, 0.2, 0.3], "0/1"),
    ([0, 1], [0.1, np.nan], "NaN"),
    ([0, 1], [0.1, 0.2, 0.3], "shape"),
    ([1, 1], [0.1, 0.2], "positives and negatives"),
])
def test_bad_input(labels, scores, words):
    with pytest.raises(ValueError, match=words):
        auroc(labels, scores)


def test_table_bad_input():
    with pytest.raises(ValueError, match="names"):
        per_finding_table(np.zeros((4, 2)), np.zeros((4, 2)), ["one"])
    with pytest.raises(ValueError, match="patient_ids"):
        per_finding_table(np.zeros((4, 1)), np.zeros((4, 1)), ["one"], patient_ids=[1, 2])


def test_single_finding_turns_a_sigmoid_into_a_two_class_softmax():
    import torch

    from cxrlab.findings import SingleFinding

    model = torch.nn.Linear(3, 4)
    x = torch.randn(5, 3)
    wrapped = SingleFinding(model, 2)
    torch.testing.assert_close(wrapped(x).softmax(1)[:, 1], torch.sigmoid(model(x)[:, 2]))
    with pytest.raises(ValueError, match="does not exist"):
        SingleFinding(model, 7)(x)


def test_the_bootstrap_statistic_equals_scikit_learn_with_ties_and_refuses_one_class():
    from cxrlab.findings import _rank_auroc

    rng = np.random.default_rng(3)
    for _ in range(20):
        y = rng.integers(0, 2, 40)
        y[:2] = [0, 1]
        s = rng.integers(0, 6, 40).astype(float)  # many ties
        assert _rank_auroc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    with pytest.raises(ValueError, match="positives and negatives"):
        _rank_auroc(np.ones(5), np.arange(5.0))
