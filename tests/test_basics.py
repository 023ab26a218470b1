"""Chapter 1's from-scratch convolution against torch, and the arithmetic helpers."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cxrlab.basics import conv2d_by_hand, conv_output_size, receptive_field


@pytest.mark.parametrize("stride,padding", [(1, 0), (1, 1), (2, 0), (2, 2), (3, 1)])
def test_conv_by_hand_equals_torch(stride, padding):
    rng = np.random.default_rng(stride * 10 + padding)
    image, kernel = rng.normal(size=(9, 11)), rng.normal(size=(3, 4))
    ours = conv2d_by_hand(image, kernel, stride=stride, padding=padding)
    theirs = F.conv2d(torch.tensor(image)[None, None], torch.tensor(kernel)[None, None],
                      stride=stride, padding=padding)[0, 0].numpy()
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_known_values():
    image = np.arange(9.0).reshape(3, 3)
    assert conv2d_by_hand(image, np.ones((2, 2))).tolist() == [[8.0, 12.0], [20.0, 24.0]]
    assert conv_output_size(32, 5) == 28 and conv_output_size(28, 2, stride=2) == 14
    assert conv_output_size(224, 11, stride=4, padding=2) == 55  # AlexNet's first layer
    assert receptive_field([(3, 1)] * 3) == 7 and receptive_field([(5, 1), (2, 2), (5, 1), (2, 2)]) == 16


def test_bad_input():
    with pytest.raises(ValueError, match="2-D image"):
        conv2d_by_hand(np.zeros((2, 2, 2)), np.ones((1, 1)))
    with pytest.raises(ValueError, match="does not fit"):
        conv_output_size(3, 5)


def test_train_by_hand_gives_fits_losses_for_the_same_seed():
    from cxrlab.basics import train_by_hand
    from cxrlab.train import fit

    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(300, 1, 8, 8, generator=g), torch.randint(0, 3, (300,), generator=g)

    def model():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                   torch.nn.Linear(4 * 6 * 6, 3))

    by_hand, by_fit = model(), model()
    hand_losses = train_by_hand(by_hand, (x, y), epochs=3, lr=0.05, batch_size=64, seed=7)
    history = fit(by_fit, (x, y), epochs=3, batch_size=64, seed=7, schedule="constant",
                  optimizer=torch.optim.SGD(by_fit.parameters(), lr=0.05), progress=False)
    np.testing.assert_allclose(hand_losses, history.train_loss, rtol=1e-5)
    assert hand_losses[-1] < hand_losses[0]  # it learns
    for a, b in zip(by_hand.parameters(), by_fit.parameters()):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="lr"):
        train_by_hand(model(), (x, y), epochs=1, lr=0)
