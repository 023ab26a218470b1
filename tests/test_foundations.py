"""The shared helpers: settings, input checks, eval mode, probabilities, the cluster bootstrap."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import recall_score, roc_auc_score

from cxrlab import settings
from cxrlab._checks import positive_int, probability, require_finite
from cxrlab._torch import eval_mode, model_device, train_mode
from cxrlab.bootstrap import bootstrap_interval
from cxrlab.probabilities import probabilities


@pytest.mark.parametrize("value,expected", [("0", False), ("false", False), ("No", False), ("off", False),
                                            ("1", True), ("yes", True), ("", True)])
def test_progress_rule_is_one_rule(monkeypatch, value, expected):
    monkeypatch.setenv(settings.PROGRESS_ENV, value)
    assert settings.progress_enabled() is expected
    assert settings.progress_enabled(True) is True and settings.progress_enabled(False) is False


def test_data_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv(settings.DATA_ENV, str(tmp_path))
    assert settings.data_dir() == tmp_path
    monkeypatch.delenv(settings.DATA_ENV)
    assert settings.data_dir() == settings.DEFAULT_DATA_DIR


def test_checks_refuse_bad_values():
    assert positive_int(np.int64(3), "n") == 3
    for bad in (0, -1, 2.0, True, "3"):
        with pytest.raises(ValueError, match="n must be an integer >= 1"):
            positive_int(bad, "n")
    assert probability(0.1, "alpha") == 0.1
    for bad in (0.0, 1.0, float("nan"), True):
        with pytest.raises(ValueError, match="alpha"):
            probability(bad, "alpha")
    with pytest.raises(ValueError, match="at index 2"):
        require_finite(np.array([[0.0], [1.0], [np.inf]]), "scores")
    require_finite(np.array([1, 2, 3]), "integers are always finite")


def test_eval_mode_restores_every_submodule():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(), torch.nn.BatchNorm1d(2))
    model.train()
    model[2].eval()  # a frozen block kept in eval mode
    with eval_mode(model):
        assert not any(m.training for m in model.modules())
    assert [m.training for m in model.modules()] == [True, True, True, False]
    model.eval()
    with train_mode(model):
        assert model[1].training
    assert not any(m.training for m in model.modules())
    assert model_device(torch.nn.ReLU()) == torch.device("cpu")


def test_probabilities_single_logit_is_sigmoid_not_softmax():
    logits = torch.tensor([[0.0], [2.0]])
    assert torch.allclose(probabilities(logits), torch.sigmoid(logits))
    two = torch.tensor([[0.0, float(np.log(3.0))]])
    assert torch.allclose(probabilities(two), torch.tensor([[0.25, 0.75]]))
    assert torch.allclose(probabilities(two, multi_label=True), torch.sigmoid(two))
    with pytest.raises(ValueError, match="at index 1"):
        probabilities(torch.tensor([[0.0, 1.0], [float("nan"), 0.0]]))
    with pytest.raises(ValueError, match="shape"):
        probabilities(torch.zeros(3))


def test_bootstrap_skips_what_the_metric_calls_undefined_and_still_shows_other_warnings():
    # recall_score scores a resample without positives 0.0 with an UndefinedMetricWarning; with
    # the warnings silenced those zeros went into the interval unseen (50 of 400 resamples here)
    y = np.zeros(20, dtype=int)
    y[[3, 11]] = 1
    predicted = np.zeros(20, dtype=int)
    predicted[[3, 5]] = 1

    def recall_or_raise(labels, predictions):
        if labels.sum() == 0:
            raise ValueError("no positives")
        return recall_score(labels, predictions)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        by_warning = bootstrap_interval(recall_score, y, predicted, n_resamples=400)
    assert by_warning == bootstrap_interval(recall_or_raise, y, predicted, n_resamples=400)
    assert by_warning.n_resamples < 400

    def mean_with_a_rare_warning(scores):  # warns on some resamples only, never on the full data
        if scores.mean() > 0.6:
            warnings.warn("mean above 0.6: check the scores", UserWarning)
        return float(scores.mean())

    with pytest.warns(UserWarning, match="above 0.6") as shown:
        bootstrap_interval(mean_with_a_rare_warning, np.linspace(0, 1, 11), n_resamples=200)
    assert len(shown) == 1  # once, not once per resample


def test_cluster_bootstrap_resamples_patients():
    rng = np.random.default_rng(1)
    patients = np.repeat(np.arange(60), 5)  # 60 patients, 5 images each, one label per patient
    y = np.repeat(rng.integers(0, 2, 60), 5)
    s = y + np.repeat(rng.normal(0, 1.0, 60), 5) + rng.normal(0, 0.1, 300)
    by_image = bootstrap_interval(roc_auc_score, y, s, n_resamples=400)
    by_patient = bootstrap_interval(roc_auc_score, y, s, clusters=patients, n_resamples=400)
    assert by_image.estimate == by_patient.estimate == pytest.approx(roc_auc_score(y, s))
    assert by_patient.unit == "patients" and by_patient.n_units == 60
    # images of one patient are near copies: the honest interval is wider
    assert (by_patient.high - by_patient.low) > 1.5 * (by_image.high - by_image.low)
    assert bootstrap_interval(roc_auc_score, y, s, clusters=patients, n_resamples=50, seed=3) == \
        bootstrap_interval(roc_auc_score, y, s, clusters=patients, n_resamples=50, seed=3)
    with warnings.catch_warnings():  # resamples with one class are skipped without a warning each
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="too few patients"):
            bootstrap_interval(roc_auc_score, np.array([0, 1, 1]), np.array([0.1, 0.9, 0.8]),
                               clusters=[0, 1, 1], n_resamples=200)
        few = bootstrap_interval(roc_auc_score, y[:40], s[:40], clusters=patients[:40], n_resamples=400)
    assert 0 < few.n_resamples < 400  # some resamples of 8 patients had one class: skipped, counted
    with pytest.raises(ValueError, match="one patient id per row"):
        bootstrap_interval(roc_auc_score, y, s, clusters=patients[:10])


def test_progress_bars_fall_back_to_text_without_ipywidgets_and_without_a_warning(monkeypatch):
    import importlib.util

    import tqdm.std

    from cxrlab._torch import progress_bar, tqdm_class

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ipywidgets" else real_find_spec(name, *a))
    assert tqdm_class() is tqdm.std.tqdm
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # tqdm.auto's "IProgress not found" would raise here
        assert list(progress_bar(range(3), enabled=True, disable=True)) == [0, 1, 2]
    assert list(progress_bar(range(3), enabled=False)) == [0, 1, 2]
