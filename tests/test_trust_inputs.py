"""Explanations and trust metrics on the inputs the field really sees (issue 13, items 12-17).

Each numbered example of the issue is a test with its right value, followed by cases of the
same kind: non-finite values, single-logit models, hooks after in-place operations, a
temperature far from 1, groups with missing values, NaN in a monitored stream, dropout
written as a function, and blank or tied maps in the localisation metrics.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy.special import softmax

from cxrlab import calibrate, fairness, monitor, uncertainty
from cxrlab.explain import (
    deletion_curve,
    grad_cam,
    grad_cam_per_image,
    insertion_curve,
    integrated_gradients,
    pointing_game,
    rank_correlation,
    saliency,
    shap_images,
    to_heatmap,
    topk_iou,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class TinyCNN(nn.Module):
    """conv (the target layer) -> in-place ReLU -> pool -> linear: two classes."""

    def __init__(self, outputs=2, inplace=True):
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Conv2d(1, 4, 3, padding=1)
        self.relu = nn.ReLU(inplace=inplace)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, outputs)

    def forward(self, x):
        return self.fc(self.pool(self.relu(self.features(x))).flatten(1))


def lesion_masks(batch=2, size=8):
    masks = torch.zeros(batch, size, size, dtype=torch.bool)
    masks[:, :3, :3] = True  # covers pixel (0, 0): where a raster-order argmax of a flat map lands
    return masks


# ---------------------------------------------------------------- 12. non-finite inputs

def test_12_one_nan_pixel_is_refused_not_turned_into_a_hit():
    model = TinyCNN()
    images = torch.rand(3, 1, 8, 8)
    images[1, 0, 4, 4] = float("nan")
    with pytest.raises(ValueError, match="index 1"):
        grad_cam(model, images, targets=0, target_layer=model.features)
    # the all-zero map that a NaN used to become must not score as a hit either (right value 0.0)
    blank = torch.zeros(2, 8, 8)
    assert pointing_game(blank, lesion_masks()).tolist() == [0.0, 0.0]


def test_12_to_heatmap_refuses_a_nan_instead_of_returning_zeros():
    maps = torch.rand(3, 4, 4)
    maps[2, 1, 1] = float("nan")
    with pytest.raises(ValueError, match="index 2"):
        to_heatmap(maps)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_12_every_explainer_and_metric_checks_finiteness(bad):
    model = TinyCNN()
    images = torch.rand(2, 1, 8, 8)
    images[1, 0, 0, 0] = bad
    for explain in (lambda: integrated_gradients(model, images, 0, steps=4),
                    lambda: saliency(model, images, 0),
                    lambda: shap_images(model, images, 0, background=torch.rand(2, 1, 8, 8), nsamples=2),
                    lambda: shap_images(model, images[:1].nan_to_num(0.0), 0, background=images, nsamples=2),
                    lambda: grad_cam_per_image(model, images, 0, target_layer=model.features),
                    lambda: deletion_curve(model, images, torch.rand(2, 8, 8), 0, steps=2),
                    lambda: insertion_curve(model, images, torch.rand(2, 8, 8), 0, steps=2)):
        with pytest.raises(ValueError, match="index 1"):
            explain()
    maps = torch.rand(2, 8, 8)
    maps[1, 3, 3] = bad
    masks = lesion_masks()
    for metric in (lambda: pointing_game(maps, masks), lambda: topk_iou(maps, masks),
                   lambda: rank_correlation(maps, torch.rand(2, 8, 8)),
                   lambda: deletion_curve(model, torch.rand(2, 1, 8, 8), maps, 0, steps=2)):
        with pytest.raises(ValueError, match="index 1"):
            metric()


def test_12_a_model_that_outputs_nan_gives_an_error_not_a_map():
    class NanModel(TinyCNN):
        def forward(self, x):
            out = super().forward(x)
            return out * torch.tensor([1.0, float("nan")])

    model = NanModel()
    with pytest.raises(ValueError, match="NaN"):
        grad_cam(model, torch.rand(2, 1, 8, 8), 1, target_layer=model.features)


def test_12_calibration_conformal_fairness_name_the_bad_row():
    probs = np.full((5, 2), 0.5)
    probs[3] = np.nan
    with pytest.raises(ValueError, match="index 3"):
        calibrate.expected_calibration_error(probs, np.zeros(5, int))
    from cxrlab.conformal import conformal_quantile

    scores = np.linspace(0, 1, 50)
    scores[7] = np.nan
    with pytest.raises(ValueError, match="index 7"):
        conformal_quantile(scores, 0.1)
    with pytest.raises(ValueError, match="index 2"):
        fairness.subgroup_metrics([0, 1, 0], [0.1, 0.9, np.nan], ["a", "a", "b"])


# ---------------------------------------------------------------- 13. one logit -> sigmoid

class OneLogit(nn.Module):
    """A binary model with ONE output: logit = 4 * (mean of the 2x2 top-left block) - 2."""

    def forward(self, x):
        return (x[:, 0, :2, :2].mean((1, 2)) * 4 - 2)[:, None]


def test_13_deletion_and_insertion_use_a_sigmoid_for_one_logit():
    images = torch.ones(2, 1, 8, 8)
    right = torch.zeros(2, 8, 8)
    right[:, :2, :2] = 1.0
    random_map = torch.rand(2, 8, 8, generator=torch.Generator().manual_seed(0))
    p_full, p_none = torch.sigmoid(torch.tensor(2.0)).item(), torch.sigmoid(torch.tensor(-2.0)).item()
    good = deletion_curve(OneLogit(), images, right, 0, steps=16)
    assert good.scores[:, 0].tolist() == pytest.approx([p_full] * 2, abs=1e-6)   # 0.881, not 1.0
    assert good.scores[:, -1].tolist() == pytest.approx([p_none] * 2, abs=1e-6)  # 0.119, not 1.0
    rand = deletion_curve(OneLogit(), images, random_map, 0, steps=16)
    assert (good.auc < rand.auc).all()  # the real map beats a random one
    ins = insertion_curve(OneLogit(), images, right, 0, substrate=0.0)
    assert ins.scores[:, 0].tolist() == pytest.approx([p_none] * 2, abs=1e-6)


def test_13_mc_dropout_and_ensembles_use_a_sigmoid_for_one_logit():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 1))
    x = torch.randn(16, 4)
    result = uncertainty.mc_dropout_predict(net, x, n_samples=20)
    assert result.samples.shape == (20, 16, 1)
    assert result.samples.max() < 1.0 and result.samples.std(axis=0).max() > 0  # not 1.0 everywhere
    net.eval()
    with torch.no_grad():
        expected = torch.sigmoid(net(x)).double().numpy()
    ens = uncertainty.ensemble_predict([net, net], x)
    np.testing.assert_allclose(ens.mean, expected, atol=1e-6)
    assert ens.entropy().shape == (16,)  # binary entropy of one sigmoid output
    np.testing.assert_allclose(ens.entropy(), -(expected * np.log(expected)
                                                + (1 - expected) * np.log(1 - expected))[:, 0], atol=1e-6)


def test_13_temperature_scaling_of_one_logit_uses_a_sigmoid():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3000, 1)) * 3
    labels = (rng.uniform(size=3000) < 1 / (1 + np.exp(-z[:, 0] / 2.0))).astype(int)  # true T = 2
    t = calibrate.fit_temperature(z, labels)
    assert t == pytest.approx(2.0, rel=0.15)
    p = calibrate.apply_temperature(z, t)
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-z / t)), atol=1e-12)


# ---------------------------------------------------------------- 14. grad_cam_per_image

def test_14_per_image_handles_the_in_place_relu_after_the_target_layer():
    model = TinyCNN(inplace=True)
    x = torch.rand(3, 1, 8, 8)
    slow = grad_cam_per_image(model, x, [0, 1, 0], target_layer=model.features)  # RuntimeError before
    torch.testing.assert_close(slow, grad_cam(model, x, [0, 1, 0], target_layer=model.features), atol=1e-6, rtol=0)


def test_14_per_image_refuses_clearly_like_the_batched_path():
    class TupleLayer(nn.Module):
        def forward(self, x):
            return x, x

    class TupleModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.pair = TupleLayer()
            self.fc = nn.Linear(64, 2)

        def forward(self, x):
            a, _ = self.pair(x)
            return self.fc(a.flatten(1))

    model = TupleModel()
    x = torch.rand(2, 1, 8, 8)
    for explain in (grad_cam, grad_cam_per_image):
        with pytest.raises(TypeError, match="not one tensor"):   # AttributeError before
            explain(model, x, 0, target_layer=model.pair)
    cnn = TinyCNN()
    for explain in (grad_cam, grad_cam_per_image):
        with pytest.raises(ValueError, match=r"\(B, K, h, w\)"):  # IndexError before
            explain(cnn, x, 0, target_layer=cnn.fc)
        with pytest.raises(ValueError, match="not a submodule"):
            explain(cnn, x, 0, target_layer=nn.Conv2d(1, 1, 1))  # not a submodule
        with pytest.raises(ValueError, match=r"\[0, 2\)"):
            explain(cnn, x, 5, target_layer=cnn.features)


class BatchMixer(TinyCNN):
    """Each image's logits depend on the other images of the batch (centred on the batch mean)."""

    def forward(self, x):
        a = self.relu(self.features(x))
        a = a - a.mean(0, keepdim=True)
        return self.fc(self.pool(a).flatten(1))


class BatchStatsNorm(TinyCNN):
    """BatchNorm without running statistics: it uses the batch's statistics even in eval mode."""

    def __init__(self):
        super().__init__()
        self.norm = nn.BatchNorm2d(4, track_running_stats=False)

    def forward(self, x):
        return self.fc(self.pool(self.relu(self.norm(self.features(x)))).flatten(1))


@pytest.mark.parametrize("model_class", [BatchMixer, BatchStatsNorm])
def test_14_batched_path_detects_images_that_are_not_independent(model_class):
    # Decision: when one image's logits change with the rest of the batch, grad_cam warns and
    # computes each map from that image alone, so it equals grad_cam_per_image.
    model = model_class()
    torch.manual_seed(1)
    x = torch.rand(4, 1, 8, 8)
    with pytest.warns(UserWarning, match="not independent"):
        batched = grad_cam(model, x, [0, 1, 0, 1], target_layer=model.features)
    torch.testing.assert_close(batched, grad_cam_per_image(model, x, [0, 1, 0, 1], target_layer=model.features),
                               atol=1e-6, rtol=0)


def test_14_batchnorm_in_train_mode_is_run_in_eval_mode_and_stays_per_image():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)).train()
    x = torch.rand(4, 1, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # independent in eval mode: no warning, one batched pass
        batched = grad_cam(model, x, 1, target_layer=model[0])
    torch.testing.assert_close(batched, grad_cam_per_image(model, x, 1, target_layer=model[0]), atol=1e-5, rtol=0)
    assert model.training and model[1].training


# ---------------------------------------------------------------- 15. temperature scaling

def calibrated_logits(rng, n=4000, classes=5, scale=2.0):
    z = rng.normal(size=(n, classes)) * scale
    labels = (softmax(z, 1).cumsum(1) > rng.uniform(size=(n, 1))).argmax(1)
    return z, labels


def test_15_logits_scaled_by_40_need_a_temperature_near_40_not_the_bound():
    rng = np.random.default_rng(0)
    z, labels = calibrated_logits(rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = calibrate.fit_temperature(40 * z, labels)
    assert t == pytest.approx(40, rel=0.1)  # 20.0 (the old bound) before
    nll_t = calibrate.negative_log_likelihood(40 * z, labels, t)
    assert nll_t < calibrate.negative_log_likelihood(40 * z, labels, 20.0)


def test_15_warns_at_a_bound_and_when_no_better_than_uniform():
    rng = np.random.default_rng(1)
    z, labels = calibrated_logits(rng)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = calibrate.fit_temperature(40 * z, labels, bounds=(0.5, 5.0))
    assert t == pytest.approx(5.0, rel=1e-3) and any("bound" in str(w.message) for w in caught)
    noise = rng.normal(size=(2000, 4))
    random_labels = rng.integers(0, 4, 2000)  # logits unrelated to the labels
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        calibrate.fit_temperature(noise, random_labels)
    assert any("log C" in str(w.message) for w in caught)


# ---------------------------------------------------------------- 16. subgroup metrics

def scored(rng, n):
    y = rng.integers(0, 2, n)
    s = 1 / (1 + np.exp(-(2 * (2 * y - 1) + rng.normal(size=n))))
    return y, s


@pytest.mark.parametrize("make_groups", [
    lambda g: np.where(g == 2, np.nan, g.astype(float)),                      # float column with NaN
    lambda g: pd.Series(np.where(g == 2, None, np.array(["F", "M", "?"])[g]), dtype=object),
    lambda g: pd.Series(pd.Categorical(np.where(g == 2, None, np.array(["F", "M", "?"])[g]))),
    lambda g: pd.array(np.where(g == 2, pd.NA, g), dtype="Int64"),
])
def test_16_missing_group_values_get_their_own_group_and_sizes_add_up(make_groups):
    rng = np.random.default_rng(0)
    y, s = scored(rng, 200)
    codes = np.r_[np.zeros(80, int), np.ones(80, int), np.full(40, 2)]
    table = fairness.subgroup_metrics(y, s, make_groups(codes), n_boot=30)
    sizes = dict(zip(table.group, table.n))
    assert sizes["missing"] == 40  # "nan" with n = 0 before, its 40 cases gone
    assert sum(n for g, n in sizes.items() if g != "all") == sizes["all"] == 200
    assert len(sizes) == 4


def test_16_a_real_group_called_missing_is_not_merged():
    with pytest.raises(ValueError, match="missing"):
        fairness.subgroup_metrics([0, 1] * 10, [0.2, 0.8] * 10, ["missing"] * 10 + [None] * 10, n_boot=30)


def test_16_intervals_and_flags_need_enough_of_each_class():
    rng = np.random.default_rng(1)
    y, s = scored(rng, 400)
    groups = np.array(["big"] * 390 + ["few_pos"] * 10)
    y[390:] = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]  # one positive: no interval can be trusted
    table = fairness.flag_gaps(fairness.subgroup_metrics(y, s, groups, n_boot=50, min_per_class=5,
                                                            metrics=["auroc"]), "auroc")
    row = table.set_index("group").loc["few_pos"]
    assert np.isnan(row.auroc_lo) and np.isnan(row.auroc_hi) and not row.flag and not row.tested


# ---------------------------------------------------------------- 17. drift monitor

def test_17_an_all_nan_window_alerts_and_counts_its_values():
    rng = np.random.default_rng(0)
    watch = monitor.DriftMonitor({"prob": rng.beta(2, 5, 1000)}, window=100, alpha=0.01)
    live = pd.DataFrame({"prob": rng.beta(2, 5, 300)})
    live.loc[100:199, "prob"] = np.nan  # the second window is all NaN
    live.loc[250, "prob"] = np.inf
    results = watch.run(live)
    assert results.nonfinite.tolist() == [0, 100, 1]
    assert results.alert.tolist() == [False, True, True]  # no alert before
    assert results.reason.iloc[1] != "" and np.isnan(results.p_value.iloc[1])


def test_17_cusum_does_not_restart_at_nan():
    rng = np.random.default_rng(3)
    base = rng.normal(0, 1, 1000)
    values = np.concatenate([rng.normal(0, 1, 500), rng.normal(1, 1, 500)])
    _, first_clean = monitor.cusum(values, base)
    gappy = values.copy()
    gappy[505::5] = np.nan  # every fifth value after the change is missing
    with pytest.warns(RuntimeWarning, match="non-finite"):
        stat, first = monitor.cusum(gappy, base)
    assert first is not None and 500 <= first < 600  # None before: the sums restarted at every NaN
    assert np.all(np.isfinite(stat)) and first_clean is not None


# ---------------------------------------------------------------- held back: functional dropout

class FunctionalDropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.bn, self.fc2, self.p = nn.Linear(4, 16), nn.BatchNorm1d(16), nn.Linear(16, 3), p

    def forward(self, x):
        return self.fc2(F.dropout(torch.relu(self.bn(self.fc1(x))), self.p, self.training))


def test_mc_dropout_samples_dropout_written_as_a_function():
    net = FunctionalDropout().eval()
    running = net.bn.running_mean.clone()
    result = uncertainty.mc_dropout_predict(net, torch.randn(8, 4), n_samples=10)  # refused before
    assert result.std().max() > 0.01  # the passes differ: dropout was sampled
    assert torch.equal(net.bn.running_mean, running) and not net.training  # BatchNorm not updated
    with pytest.raises(ValueError, match="dropout"):
        uncertainty.mc_dropout_predict(nn.Sequential(nn.Linear(4, 3)), torch.randn(8, 4))


# ---------------------------------------------------------------- held back: ties, constant maps

def test_constant_maps_never_score_a_hit_and_ties_ignore_raster_order():
    masks = lesion_masks(3)
    maps = torch.stack([torch.zeros(8, 8), torch.full((8, 8), 0.7), torch.zeros(8, 8)])
    maps[2, 0, 0] = maps[2, 7, 7] = 1.0  # two tied maxima: one in the lesion, one outside
    hits = pointing_game(maps, masks)
    assert hits.tolist() == [0.0, 0.0, 0.5]  # 1.0, 1.0, 1.0 before (raster order)
    assert hits[2] == pointing_game(maps.flip(-1).flip(-2), masks.flip(-1).flip(-2))[2]
    assert pointing_game(maps[:2], masks[:2], tolerance=3).tolist() == [0.0, 0.0]
    iou = topk_iou(maps, masks, fraction=9 / 64)
    assert iou[:2].tolist() == [0.0, 0.0]  # 1.0 before: the first 9 pixels in raster order
    whole = torch.ones(1, 8, 8, dtype=torch.bool)
    assert pointing_game(torch.zeros(1, 8, 8), whole).item() == 0.0
    assert topk_iou(torch.zeros(1, 8, 8), whole).item() == 0.0


def test_14_the_independence_check_can_be_turned_off_where_images_are_known_independent():
    model = BatchMixer()
    torch.manual_seed(1)
    x = torch.rand(4, 1, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        unchecked = grad_cam(model, x, [0, 1, 0, 1], target_layer=model.features, check_independence=False)
    assert not torch.allclose(unchecked, grad_cam_per_image(model, x, [0, 1, 0, 1], target_layer=model.features))
