"""Chapter 1 from scratch: convolution arithmetic as loops, and the training loop in five lines.

Each is checked against the library it stands for: ``conv2d_by_hand`` against
``torch.nn.functional.conv2d``, ``train_by_hand`` against :func:`cxrlab.train.fit` (the
same losses, epoch by epoch, for the same seed).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from ._checks import positive_int


def conv2d_by_hand(image: np.ndarray, kernel: np.ndarray, *, stride: int = 1, padding: int = 0) -> np.ndarray:
    """2-D cross-correlation of one grey image (H, W) with one kernel (kH, kW), as loops.

    This is what ``torch.nn.Conv2d`` computes (deep-learning "convolution" does not flip
    the kernel). Zero ``padding`` pixels are added on each side; returns an array of
    shape ((H + 2p - kH) // s + 1, (W + 2p - kW) // s + 1).

    Returns:
        The float64 output array.

    Raises:
        ValueError: for an image or kernel that is not 2-D, a stride below 1 or negative padding.
    """
    image = np.asarray(image, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    if image.ndim != 2 or kernel.ndim != 2:
        raise ValueError(f"expected a 2-D image and a 2-D kernel, got {image.shape} and {kernel.shape}")
    if stride < 1 or padding < 0:
        raise ValueError(f"stride must be >= 1 and padding >= 0, got {stride} and {padding}")
    padded = np.pad(image, padding)
    kh, kw = kernel.shape
    out_h = conv_output_size(image.shape[0], kh, stride, padding)
    out_w = conv_output_size(image.shape[1], kw, stride, padding)
    out = np.zeros((out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            patch = padded[i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[i, j] = np.sum(patch * kernel)
    return out


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution or pooling layer: floor((n + 2p - d(k-1) - 1) / s) + 1.

    Returns:
        The output side in pixels (an int >= 1).

    Raises:
        ValueError: when the (dilated) kernel does not fit the padded input.
    """
    effective = dilation * (kernel - 1) + 1
    if size + 2 * padding < effective:
        raise ValueError(f"kernel {kernel} (dilation {dilation}) does not fit an input of {size} with padding {padding}")
    return (size + 2 * padding - effective) // stride + 1


def receptive_field(layers: Sequence[tuple[int, int]]) -> int:
    """Receptive field (pixels) of one output unit after layers given as (kernel, stride).

    r_0 = 1; each layer adds (k - 1) times the product of all earlier strides.

    Returns:
        The side of the receptive field in input pixels.

    Raises:
        ValueError: for a kernel or stride below 1.
    """
    field, jump = 1, 1
    for kernel, stride in layers:
        if kernel < 1 or stride < 1:
            raise ValueError(f"kernel and stride must be >= 1, got ({kernel}, {stride})")
        field += (kernel - 1) * jump
        jump *= stride
    return field


def train_by_hand(model: nn.Module, data: TensorDataset | tuple[torch.Tensor, torch.Tensor], *,
                  epochs: int, lr: float, batch_size: int = 128, seed: int = 0) -> list[float]:
    """Train ``model`` with plain SGD and cross-entropy, written out step by step.

    Every step is the five lines every PyTorch loop has: forget the old gradients, forward
    pass, loss, backward pass, optimiser step. Each epoch visits the examples in the order
    of one ``torch.randperm`` drawn from a generator seeded with ``seed``; that is the
    order :func:`cxrlab.train.fit` uses, so ``fit(model, data, epochs=..., seed=seed,
    optimizer=torch.optim.SGD(model.parameters(), lr), schedule="constant")`` gives the
    same losses.

    Args:
        model: a classifier giving (N, classes) logits; trained in place on its own device.
        data: a TensorDataset or a tuple (inputs, integer labels).
        epochs: passes over the data.
        lr: the SGD learning rate (> 0).
        batch_size: examples per step.
        seed: seeds the shuffling.

    Returns:
        The mean training loss of each epoch (a list of ``epochs`` floats).

    Raises:
        ValueError: for a non-positive ``epochs``, ``batch_size`` or ``lr``.
    """
    positive_int(epochs, "epochs")
    positive_int(batch_size, "batch_size")
    if not lr > 0:
        raise ValueError(f"lr must be a positive learning rate, got {lr!r}")
    x, y = data.tensors if isinstance(data, TensorDataset) else data
    device = next(model.parameters()).device
    x, y = x.to(device), y.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator).to(device)
        total = 0.0
        for start in range(0, len(x), batch_size):
            batch = order[start:start + batch_size]
            optimizer.zero_grad()                          # 1. forget the last step's gradients
            logits = model(x[batch])                       # 2. forward pass
            loss = F.cross_entropy(logits, y[batch])       # 3. loss (mean over the batch)
            loss.backward()                                # 4. backward: d loss / d every weight
            optimizer.step()                               # 5. step: w <- w - lr * d loss / d w
            total += loss.item() * len(batch)
        losses.append(total / len(x))
    return losses
