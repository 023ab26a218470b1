"""Localisation and faithfulness metrics: known values, invariants, library cross-checks."""

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
from sklearn.metrics import auc as sklearn_auc

from cxrlab.explain import blur, curve_auc, deletion_curve, insertion_curve, pointing_game, topk_iou

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def square_mask(size=8, top=2, left=2, side=3):
    mask = torch.zeros(size, size, dtype=torch.bool)
    mask[top:top + side, left:left + side] = True
    return mask


def test_pointing_game_known_values_tolerance_and_empty_masks():
    masks = torch.stack([square_mask(), square_mask(), torch.zeros(8, 8, dtype=torch.bool)])
    maps = torch.zeros(3, 8, 8)
    maps[0, 3, 3] = 1.0   # inside
    maps[1, 0, 7] = 1.0   # far outside
    maps[2, 4, 4] = 1.0   # no lesion: cannot be scored
    hits = pointing_game(maps, masks)
    assert hits[:2].tolist() == [1.0, 0.0] and math.isnan(hits[2])
    near = torch.zeros(1, 8, 8)
    near[0, 2, 6] = 1.0   # two columns right of the square (columns 2-4)
    assert pointing_game(near, masks[:1]).item() == 0.0
    assert pointing_game(near, masks[:1], tolerance=1).item() == 0.0
    assert pointing_game(near, masks[:1], tolerance=2).item() == 1.0
    assert torch.nanmean(hits).item() == 0.5


def test_topk_iou_known_values():
    mask = square_mask()[None]            # 9 pixels
    maps = mask.float() * 2 + 0.0         # the map is the mask
    maps[0, 7, 7] = 1.0                   # the 10th best pixel is outside
    # top 9 of 64 pixels (fraction 9/64) recovers the mask exactly
    assert topk_iou(maps, mask, fraction=9 / 64).item() == pytest.approx(1.0)
    # top 10: 9 inside + 1 outside -> IoU 9/10
    assert topk_iou(maps, mask, fraction=10 / 64).item() == pytest.approx(0.9)
    # top 1 pixel: 1/9
    assert topk_iou(maps, mask, fraction=1 / 64).item() == pytest.approx(1 / 9)
    empty = torch.zeros(1, 8, 8, dtype=torch.bool)
    assert math.isnan(topk_iou(maps, empty).item())
    # invariant to any increasing transform of the map
    assert topk_iou(torch.exp(3 * maps), mask, 10 / 64).item() == pytest.approx(0.9)


class RegionModel(nn.Module):
    """Two classes; logit of class 1 = 4 * (mean brightness of the 2x2 top-left block) - 2."""

    def forward(self, x):
        evidence = x[:, 0, :2, :2].mean((1, 2)) * 4 - 2
        return torch.stack([torch.zeros_like(evidence), evidence], 1)


def test_deletion_and_insertion_reward_the_right_ranking():
    images = torch.ones(2, 1, 8, 8)
    right = torch.zeros(2, 8, 8)
    right[:, :2, :2] = 1.0                 # the pixels the model uses
    wrong = 1.0 - right                    # everything else first
    model = RegionModel()
    good = deletion_curve(model, images, right, targets=1, steps=16)
    bad = deletion_curve(model, images, wrong, targets=1, steps=16)
    p_full = torch.sigmoid(torch.tensor(2.0)).item()
    assert good.fractions[0] == 0 and good.fractions[-1] == 1 and len(good.fractions) == 17
    assert good.scores[:, 0] == pytest.approx([p_full] * 2, abs=1e-6)     # intact image
    assert good.scores[:, -1] == pytest.approx([1 - p_full] * 2, abs=1e-6)  # all pixels zeroed: logit -2
    # removing the 4 used pixels (1/16 of 64 = step 1) kills the evidence at once
    assert good.scores[:, 1] == pytest.approx([1 - p_full] * 2, abs=1e-6)
    assert (good.auc < bad.auc).all()
    ins_good = insertion_curve(model, images, right, targets=1, substrate=0.0)
    ins_bad = insertion_curve(model, images, wrong, targets=1, substrate=0.0)
    assert (ins_good.auc > ins_bad.auc).all()


def test_curve_auc_matches_scikit_learn():
    rng = np.random.default_rng(0)
    fractions = np.linspace(0, 1, 11)
    scores = rng.random((3, 11))
    ours = curve_auc(torch.tensor(fractions), torch.tensor(scores))
    for i in range(3):
        assert ours[i].item() == pytest.approx(sklearn_auc(fractions, scores[i]), rel=1e-6)


def test_ties_are_broken_at_random_not_in_raster_order():
    # a constant map gives no ranking: deletion order must not favour the top-left block
    model = RegionModel()
    images = torch.ones(64, 1, 8, 8)
    curve = deletion_curve(model, images, torch.zeros(64, 8, 8), targets=1, steps=16, seed=0)
    raster = curve.scores[:, 1]  # after deleting 4 pixels
    assert raster.std() > 0       # different random orders per image
    assert raster.mean() > 0.5 * (curve.scores[0, 0] + curve.scores[0, -1])


def test_blur_keeps_constants_and_mean():
    x = torch.full((1, 2, 16, 16), 0.3)
    torch.testing.assert_close(blur(x, 2.0), x)
    y = torch.zeros(1, 1, 33, 33)
    y[0, 0, 16, 16] = 1.0
    out = blur(y, 2.0)
    assert out.sum().item() == pytest.approx(1.0, abs=1e-5) and out.argmax().item() == 16 * 33 + 16


def test_metric_errors():
    with pytest.raises(ValueError, match="same"):
        pointing_game(torch.zeros(2, 8, 8), torch.zeros(2, 4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="fraction"):
        topk_iou(torch.zeros(1, 4, 4), torch.ones(1, 4, 4, dtype=torch.bool), fraction=0)
    with pytest.raises(ValueError, match="maps"):
        deletion_curve(RegionModel(), torch.ones(2, 1, 8, 8), torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match="substrate"):
        insertion_curve(RegionModel(), torch.ones(1, 1, 8, 8), torch.zeros(1, 8, 8), substrate="noise")
