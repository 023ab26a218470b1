"""cxrlab.augment: batched random crop with padding and horizontal flip."""

import pytest
import torch
import torchvision.transforms.v2.functional as TF

from cxrlab.augment import RandomCropFlip, horizontal_flip, random_crop


def batch(n=6, c=3, h=8, w=8):
    return torch.arange(n * c * h * w, dtype=torch.float32).reshape(n, c, h, w)


def test_crop_matches_torchvision_crop_of_the_padded_image():
    x = batch()
    g = torch.Generator().manual_seed(1)
    out, offsets = random_crop(x, 2, generator=g, return_offsets=True)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert offsets.min() >= 0 and offsets.max() <= 4
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i, (top, left) in enumerate(offsets.tolist()):
        expected = TF.crop(padded[i], top, left, 8, 8)
        assert torch.equal(out[i], expected)


def test_reflect_padding_matches_torchvision_pad_then_crop():
    x = batch(n=3)
    out, offsets = random_crop(x, 3, padding_mode="reflect", generator=torch.Generator().manual_seed(0),
                               return_offsets=True)
    padded = TF.pad(x, [3], padding_mode="reflect")
    for i, (top, left) in enumerate(offsets.tolist()):
        assert torch.equal(out[i], padded[i, :, top:top + 8, left:left + 8])


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate"])
def test_every_padding_mode_and_channels_last_match_a_per_image_crop(mode):
    x = torch.randn(5, 3, 7, 9).contiguous(memory_format=torch.channels_last)
    out, offsets = random_crop(x, 2, padding_mode=mode, generator=torch.Generator().manual_seed(4),
                               return_offsets=True)
    assert out.is_contiguous(memory_format=torch.channels_last)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="constant" if mode == "zeros" else mode)
    for i, (top, left) in enumerate(offsets.tolist()):
        assert torch.equal(out[i], padded[i, :, top:top + 7, left:left + 9])


def test_shift_only_augmentation_crops_and_never_flips():
    x = torch.arange(64.0).reshape(1, 1, 8, 8).repeat(300, 1, 1, 1)
    out = RandomCropFlip(padding=1, flip_p=0.0, padding_mode="replicate", seed=0)(x)
    # without a flip, a pixel's right-hand neighbour stays one larger wherever the crop did not clamp
    assert ((out[..., 2:-2, 3] - out[..., 2:-2, 2]) == 1).all()


def test_offsets_cover_every_position():
    x = torch.zeros(4000, 1, 4, 4)
    _, offsets = random_crop(x, 1, generator=torch.Generator().manual_seed(0), return_offsets=True)
    counts = torch.bincount(offsets[:, 0] * 3 + offsets[:, 1], minlength=9)
    assert (counts > 4000 / 9 * 0.8).all()  # uniform over the 3x3 offsets


def test_zero_padding_and_no_flip_is_identity():
    x = batch()
    assert torch.equal(random_crop(x, 0), x)
    assert torch.equal(horizontal_flip(x, 0.0), x)
    assert torch.equal(horizontal_flip(x, 1.0), x.flip(-1))


def test_flip_mask_and_rate():
    x = torch.randn(2000, 1, 2, 3)
    out, mask = horizontal_flip(x, 0.5, generator=torch.Generator().manual_seed(3), return_mask=True)
    assert torch.equal(out[mask], x[mask].flip(-1)) and torch.equal(out[~mask], x[~mask])
    assert 0.45 < mask.float().mean().item() < 0.55


def test_random_crop_flip_is_seeded_and_keeps_the_input():
    x = torch.randn(16, 3, 32, 32)
    copy = x.clone()
    a, b = RandomCropFlip(seed=7), RandomCropFlip(seed=7)
    assert torch.equal(a(x), b(x)) and torch.equal(a(x), b(x))  # same sequence, call after call
    assert not torch.equal(a(x), RandomCropFlip(seed=8)(x))
    assert torch.equal(x, copy)  # never modified in place


def test_channels_last_input_stays_channels_last_and_fit_accepts_it():
    from cxrlab.train import fit

    x = torch.randn(8, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    assert RandomCropFlip(seed=0)(x).shape == x.shape
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                torch.nn.Linear(4, 2))
    history = fit(model, (torch.randn(32, 3, 8, 8), torch.randint(0, 2, (32,))), epochs=1,
                  augment=RandomCropFlip(seed=0), progress=False)
    assert history.epochs == 1


@pytest.mark.parametrize("call, message", [
    (lambda: random_crop(torch.zeros(3, 8, 8), 2), "N, C, H, W"),
    (lambda: random_crop(torch.zeros(1, 3, 8, 8), -1), "non-negative"),
    (lambda: random_crop(torch.zeros(1, 3, 8, 8), 2, padding_mode="wrap"), "padding_mode"),
    (lambda: random_crop(torch.zeros(1, 3, 4, 4), 4, padding_mode="reflect"), "reflect"),
    (lambda: horizontal_flip(torch.zeros(1, 3, 8, 8), 1.5), "probability"),
    (lambda: RandomCropFlip(padding=2.5), "padding"),
    (lambda: RandomCropFlip(flip_p=-0.1), "probability"),
])
def test_bad_input_is_explained(call, message):
    with pytest.raises(ValueError, match=message):
        call()
