"""cxrlab.transfer: stages, freezing and unfreezing, splitting, head replacement, cached features, class subsets."""

import pytest
import torch
import torch.nn as nn
from torch.utils.data import TensorDataset

from cxrlab import nets
from cxrlab import transfer as models
from cxrlab.nets import count_parameters
from cxrlab.pretrained import build
from cxrlab.transfer import cache_features, class_subset, classifier_head, freeze, stages, unfreeze


def test_freeze_and_unfreeze_counts():
    model = build("resnet18", 5, pretrained=False)
    total = count_parameters(model)
    head = 512 * 5 + 5
    changed = freeze(model, except_=("fc",))
    assert changed == total - head
    assert count_parameters(model, trainable_only=True) == head
    layer4 = sum(p.numel() for n, p in model.named_parameters() if n.startswith("layer4."))
    assert unfreeze(model, "layer4") == layer4
    assert unfreeze(model, "layer4") == 0  # already trainable
    assert count_parameters(model, trainable_only=True) == head + layer4
    assert freeze(model) == head + layer4
    assert count_parameters(model, trainable_only=True) == 0


def test_vgg_stages_and_prefix_matching():
    model = build("vgg16", 3, pretrained=False)
    names = stages(model)
    assert [k for k in names if k.startswith("block")] == [f"block{i}" for i in range(1, 6)]
    assert names["block5"][0] == "features.24" and names["head"] == ["classifier.6"]
    freeze(model, except_="head")
    assert count_parameters(model, trainable_only=True) == 4096 * 3 + 3
    block5 = unfreeze(model, "block5")
    assert block5 == 3 * (512 * 512 * 9 + 512)  # three 3x3 conv layers, 512 -> 512
    # "features.2" must not also match "features.24"
    assert unfreeze(model, "features.2") == 64 * 64 * 9 + 64


def test_small_vgg_layout_split_and_head():
    torch.manual_seed(0)
    model = nets.SmallVGG(num_classes=5, width_divisor=8).eval()
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 8, 16, 16, 32, 32, 32, 64, 64, 64, 64, 64, 64]
    assert all(c.kernel_size == (3, 3) for c in convs)
    first, rest = models.split_at(model, "block4")
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert first(x).shape == (3, 64, 2, 2)
        torch.testing.assert_close(rest(first(x)), model(x))
    new = models.replace_head(model, 7)
    assert classifier_head(model) is new and model(x).shape == (3, 7)
    with pytest.raises(ValueError, match="block"):
        models.split_at(model, "head")
    with pytest.raises(ValueError, match="divide 64"):
        nets.SmallVGG(width_divisor=3)


def test_cache_features_equals_eval_forward():
    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5), nn.Flatten())
    backbone.train()
    x, y = torch.randn(10, 3, 6, 6), torch.arange(10)
    cached = cache_features(backbone, TensorDataset(x, y), batch_size=3, progress=False)
    assert backbone.training
    backbone.eval()
    with torch.no_grad():
        torch.testing.assert_close(cached.tensors[0], backbone(x))
    assert torch.equal(cached.tensors[1], y)
    assert not cached.tensors[0].requires_grad



def test_class_subset_relabels_and_counts():
    x = torch.arange(20).float().view(20, 1)
    y = torch.arange(20) % 4
    subset = class_subset((x, y), [3, 1], n_per_class=2, seed=0)
    labels = subset.tensors[1]
    assert labels.tolist() == [0, 0, 1, 1]
    assert (y[subset.tensors[0].long().flatten()] == torch.tensor([3, 3, 1, 1])).all()
    assert len(class_subset((x, y), [0, 2])) == 10
    with pytest.raises(ValueError, match="only 5"):
        class_subset((x, y), [0], n_per_class=6)
    with pytest.raises(ValueError, match="distinct"):
        class_subset((x, y), [1, 1])
