"""Convolution arithmetic written from scratch, for chapter 1 (checked against torch)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def conv2d_by_hand(image: np.ndarray, kernel: np.ndarray, *, stride: int = 1, padding: int = 0) -> np.ndarray:
    """2-D cross-correlation of one grey image (H, W) with one kernel (kH, kW), as loops.

    This is what ``torch.nn.Conv2d`` computes (deep-learning "convolution" does not flip
    the kernel). Zero ``padding`` pixels are added on each side; returns an array of
    shape ((H + 2p - kH) // s + 1, (W + 2p - kW) // s + 1).
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
    """Output length of a convolution or pooling layer: floor((n + 2p - d(k-1) - 1) / s) + 1."""
    effective = dilation * (kernel - 1) + 1
    if size + 2 * padding < effective:
        raise ValueError(f"kernel {kernel} (dilation {dilation}) does not fit an input of {size} with padding {padding}")
    return (size + 2 * padding - effective) // stride + 1


def receptive_field(layers: Sequence[tuple[int, int]]) -> int:
    """Receptive field (pixels) of one output unit after layers given as (kernel, stride).

    r_0 = 1; each layer adds (k - 1) times the product of all earlier strides.
    """
    field, jump = 1, 1
    for kernel, stride in layers:
        if kernel < 1 or stride < 1:
            raise ValueError(f"kernel and stride must be >= 1, got ({kernel}, {stride})")
        field += (kernel - 1) * jump
        jump *= stride
    return field
