"""cxrlab.uncertainty: MC dropout keeps batch norm frozen, ensembles, entropy and BALD by hand."""

import numpy as np
import pytest
import torch
import torch.nn as nn

from cxrlab.uncertainty import (
    ensemble_predict,
    flag_for_review,
    mc_dropout_predict,
    mutual_information,
    predictive_entropy,
    review_threshold,
    selective_accuracy,
)


def small_net(dropout=0.5, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 3))


def test_entropy_and_mutual_information_by_hand():
    np.testing.assert_allclose(predictive_entropy([[0.5, 0.5], [1.0, 0.0]]), [np.log(2), 0.0], atol=1e-9)
    agree = np.array([[[0.5, 0.5]], [[0.5, 0.5]]])       # members agree: no epistemic part
    disagree = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])    # confident members that disagree
    np.testing.assert_allclose(mutual_information(agree), [0.0], atol=1e-9)
    np.testing.assert_allclose(mutual_information(disagree), [np.log(2)], atol=1e-9)


def test_mc_dropout_varies_but_leaves_batchnorm_and_modes_alone():
    net = small_net()
    net.train()
    stats_before = net[1].running_mean.clone()
    x = torch.randn(32, 4)
    result = mc_dropout_predict(net, x, n_samples=10)
    assert result.samples.shape == (10, 32, 3)
    np.testing.assert_allclose(result.samples.sum(-1), 1.0, atol=1e-6)
    assert result.std().max() > 0  # passes differ
    assert torch.equal(net[1].running_mean, stats_before)  # batch norm not updated
    assert net.training and net[3].training  # modes restored
    again = mc_dropout_predict(net, x, n_samples=10)
    np.testing.assert_allclose(again.samples, result.samples)  # seeded


def test_mc_dropout_with_p0_equals_eval_prediction():
    net = small_net(dropout=0.0).eval()
    x = torch.randn(8, 4)
    result = mc_dropout_predict(net, x, n_samples=3)
    with torch.no_grad():
        expected = torch.softmax(net(x), 1).double().numpy()
    np.testing.assert_allclose(result.mean, expected, atol=1e-6)
    assert np.allclose(result.mutual_information(), 0.0, atol=1e-9)


def test_ensemble_and_errors():
    nets = [small_net(seed=s).eval() for s in range(3)]
    x = torch.randn(16, 4)
    result = ensemble_predict(nets, x)
    assert result.samples.shape == (3, 16, 3) and result.mean.shape == (16, 3)
    assert (result.mutual_information() >= 0).all()
    with pytest.raises(ValueError, match="at least 2"):
        ensemble_predict(nets[:1], x)
    with pytest.raises(ValueError, match="no dropout"):
        mc_dropout_predict(nn.Linear(4, 3), x)


def test_review_flags_and_selective_accuracy():
    u = np.arange(100.0)
    t = review_threshold(u, 0.1)
    assert flag_for_review(u, t).sum() == 10
    correct = np.r_[np.ones(80, bool), np.zeros(20, bool)]  # the 20 most uncertain are wrong
    acc = selective_accuracy(correct, u, [0.0, 0.2])
    np.testing.assert_allclose(acc, [0.8, 1.0])
    with pytest.raises(ValueError, match="fraction"):
        review_threshold(u, 1.5)


def test_dropout_cnn_and_tiny_ensemble():
    from cxrlab.nets import dropout_cnn
    from cxrlab.uncertainty import train_ensemble

    net = dropout_cnn(3, 1, width=4, p=0.2)
    assert net(torch.zeros(2, 1, 16, 16)).shape == (2, 3)
    with pytest.raises(ValueError, match="dropout probability"):
        dropout_cnn(p=1.0)
    torch.manual_seed(0)
    x = torch.randn(40, 1, 16, 16)
    y = torch.randint(0, 3, (40,))
    members = train_ensemble(lambda: dropout_cnn(3, 1, width=4), (x, y), members=2, epochs=1,
                             batch_size=20, progress=False)
    assert len(members) == 2 and not members[0].training
    first = [p.detach().clone() for p in members[0].parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(first, members[1].parameters()))
    with pytest.raises(ValueError, match="epochs"):
        train_ensemble(lambda: dropout_cnn(3, 1, width=4), (x, y), members=2)


def test_penultimate_features_and_head():
    from cxrlab.nets import mlp_head
    from cxrlab.uncertainty import penultimate_features

    net = small_net().eval()
    x = torch.randn(10, 4)
    feats = penultimate_features(net, x, batch_size=3)
    assert feats.shape == (10, 16)
    with torch.no_grad():
        np.testing.assert_allclose(net[4](feats).numpy(), net(x).numpy(), atol=1e-5)  # last layer on features
    head = mlp_head(16, 3, hidden=8)
    assert head(feats).shape == (10, 3)
    with pytest.raises(ValueError, match="no nn.Linear"):
        penultimate_features(nn.Sequential(nn.ReLU()), x)


def test_multi_label_samples_use_sigmoids_and_binary_entropies():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 3))
    x = torch.randn(10, 4)
    result = mc_dropout_predict(net, x, n_samples=6, multi_label=True)
    assert result.samples.shape == (6, 10, 3) and not np.allclose(result.samples.sum(-1), 1.0)
    p = result.mean
    expected = -(p * np.log(p) + (1 - p) * np.log(1 - p)).sum(1)
    np.testing.assert_allclose(result.entropy(), expected, atol=1e-9)
    assert (result.mutual_information() >= 0).all()
    with pytest.raises(ValueError, match="index 2"):
        flag_for_review(np.array([0.1, 0.2, np.nan]), 0.5)
