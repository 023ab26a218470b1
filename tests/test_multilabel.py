"""Multi-label training: pos_weight, the focal loss against torchvision, the loop learns."""

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss

from cxrlab.multilabel import fit_multilabel, focal_loss, make_loss, positive_weights, predict_logits
from cxrlab.nets.small_cnn import SmallCNN


def test_positive_weights_are_negatives_over_positives():
    y = torch.tensor([[1.0, 0, 0], [0, 0, 1], [0, 0, 1], [0, 0, 1]])
    torch.testing.assert_close(positive_weights(y), torch.tensor([3.0, 1.0, 1 / 3]))
    torch.testing.assert_close(positive_weights(y, max_weight=2.0), torch.tensor([2.0, 1.0, 1 / 3]))
    with pytest.raises(ValueError, match="0/1"):
        positive_weights(torch.tensor([[2.0]]))


def test_focal_loss_equals_torchvision_and_reduces_to_bce():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 4, generator=g) * 3
    targets = (torch.rand(50, 4, generator=g) < 0.2).float()
    for gamma, alpha in ((2.0, 0.25), (0.5, 0.7), (1.0, -1)):
        expected = sigmoid_focal_loss(logits, targets, alpha=alpha, gamma=gamma, reduction="mean")
        torch.testing.assert_close(focal_loss(logits, targets, gamma=gamma, alpha=alpha), expected)
    half_bce = 0.5 * F.binary_cross_entropy_with_logits(logits, targets)
    torch.testing.assert_close(focal_loss(logits, targets, gamma=0.0, alpha=0.5), half_bce)


def test_weighted_bce_weighs_positives():
    logits, targets = torch.zeros(4, 1), torch.tensor([[1.0], [0.0], [0.0], [0.0]])
    plain = make_loss("bce")(logits, targets)
    weighted = make_loss("weighted_bce", pos_weight=torch.tensor([3.0]))(logits, targets)
    torch.testing.assert_close(weighted, plain * 6 / 4)       # the positive counts 3 times: (3 + 3) / 4
    with pytest.raises(ValueError, match="pos_weight"):
        make_loss("weighted_bce")
    with pytest.raises(ValueError, match="loss must be"):
        make_loss("smote")


def test_fit_learns_two_findings_and_keeps_the_best_epoch(one_torch_thread):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(160, 1, 16, 16, generator=g) * 0.2
    y = (torch.rand(160, 2, generator=g) < 0.3).float()
    x[:, 0, :8, :8] += y[:, 0, None, None] * 0.8           # finding 0: a bright top-left square
    x[:, 0, 8:, 8:] += y[:, 1, None, None] * 0.8           # finding 1: bottom-right
    torch.manual_seed(0)
    net = SmallCNN(2, widths=(8, 8, 8, 8))
    history = fit_multilabel(net, (x[:120], y[:120]), (x[120:], y[120:]), loss="weighted_bce", epochs=6, lr=1e-2,
                             batch_size=16, progress=False, seed=0)
    assert history.epochs == 6 and history.best_epoch is not None and len(history.pos_weight) == 2
    assert max(history.val_macro_auroc) > 0.9
    assert history.to_frame().shape == (6, 5) and not net.training
    assert predict_logits(net, x[:5]).shape == (5, 2)


def test_fit_rejects_single_label_targets():
    with pytest.raises(ValueError, match="float"):
        fit_multilabel(SmallCNN(2), (torch.rand(4, 1, 16, 16), torch.tensor([0, 1, 0, 1])), epochs=1)


def test_small_cnn_names_its_grad_cam_layer():
    net = SmallCNN(3)
    assert isinstance(net.target_layer, torch.nn.ReLU) and net.target_layer is net.features[-1]
    assert net(torch.rand(2, 1, 32, 32)).shape == (2, 3)
    with pytest.raises(ValueError, match="outputs"):
        SmallCNN(0)
