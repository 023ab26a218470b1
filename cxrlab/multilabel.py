"""Training a multi-label classifier: one sigmoid per finding, losses for rare findings.

Chest findings co-occur, so a chest model answers F yes/no questions at once: F logits,
each turned into a probability by its own sigmoid, and a binary cross-entropy (BCE) per
finding. Most findings are rare (NIH ChestX-ray14: 10 of 14 under 6 % of images), and an
unweighted BCE lets the many negatives dominate. Two standard remedies:

- ``pos_weight`` (PyTorch's ``BCEWithLogitsLoss``): multiply each positive's loss by
  negatives / positives of its finding, so both classes weigh the same in total;
- **focal loss** (Lin et al. 2017, eq. 5): ``-alpha_t (1 - p_t)^gamma log p_t``, which
  shrinks the loss of examples the model already gets right, whichever class they are.

``fit_multilabel`` is the training loop: in-memory batches, AdamW with a one-cycle schedule,
and the weights of the epoch with the best validation macro-AUROC kept. Like
``cxrlab.train.fit`` it runs unchanged under ``torchrun --nproc_per_node=N`` through
``cxrlab.distributed`` (DistributedDataParallel, global batches split over the ranks).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from . import distributed
from ._checks import positive_int
from ._torch import eval_mode, model_device, tqdm_class
from .settings import progress_enabled

LOSSES = ("bce", "weighted_bce", "focal")
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def positive_weights(labels: torch.Tensor, *, max_weight: float | None = None) -> torch.Tensor:
    """``pos_weight`` per finding: negatives / positives in ``labels``.

    Args:
        labels: float (N, F) 0/1 training targets.
        max_weight: optional cap (a finding with 3 positives in 1,000 images would otherwise
            weigh each positive 332 times, and its few images would dominate the gradient).

    Returns:
        float32 (F,) weights >= 0; a finding with no positive gets 1 (nothing to weigh).

    Raises:
        ValueError: labels not (N, F) 0/1.
    """
    if not isinstance(labels, torch.Tensor) or labels.ndim != 2 or len(labels) == 0:
        raise ValueError("labels must be a non-empty (N, F) tensor of 0/1 targets")
    if not torch.isin(labels, torch.tensor([0.0, 1.0], dtype=labels.dtype)).all():
        raise ValueError("labels must be 0/1 multi-label targets")
    positives = labels.float().sum(0)
    negatives = len(labels) - positives
    weights = torch.where(positives > 0, negatives / positives.clamp_min(1), torch.ones_like(positives))
    if max_weight is not None:
        weights = weights.clamp(max=float(max_weight))
    return weights.float()


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, *, gamma: float = 2.0, alpha: float = 0.25) -> torch.Tensor:
    """Mean sigmoid focal loss (Lin et al. 2017, eq. 5), over every image and finding.

    ``FL = -alpha_t (1 - p_t)^gamma log(p_t)``, with ``p_t`` the probability given to the true
    answer and ``alpha_t = alpha`` for positives, ``1 - alpha`` for negatives. ``gamma = 0`` and
    ``alpha = 0.5`` give half the BCE. Equal to ``torchvision.ops.sigmoid_focal_loss(...,
    reduction="mean")`` (a test checks it).

    Args:
        logits: (N, F) raw outputs; targets: (N, F) 0/1; gamma >= 0; alpha in [0, 1] (or < 0
            to drop the class weighting, as torchvision does).

    Returns:
        a scalar tensor.
    """
    if logits.shape != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} differ in shape")
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss.mean()


def make_loss(name: str, *, pos_weight: torch.Tensor | None = None, gamma: float = 2.0,
              alpha: float = 0.25) -> Loss:
    """The loss ``name`` as a function ``(logits, targets) -> scalar``.

    Args:
        name: "bce" (unweighted), "weighted_bce" (BCE with ``pos_weight``, required) or "focal".
        pos_weight: (F,) weights of the positives, for "weighted_bce".
        gamma, alpha: focal loss parameters (Lin et al.'s defaults 2 and 0.25).

    Raises:
        ValueError: an unknown name, or "weighted_bce" without ``pos_weight``.
    """
    if name == "bce":
        return lambda logits, targets: F.binary_cross_entropy_with_logits(logits, targets)
    if name == "weighted_bce":
        if pos_weight is None:
            raise ValueError("weighted_bce needs pos_weight (see positive_weights(train_labels))")
        return lambda logits, targets: F.binary_cross_entropy_with_logits(
            logits, targets, pos_weight=pos_weight.to(logits.device))
    if name == "focal":
        return lambda logits, targets: focal_loss(logits, targets, gamma=gamma, alpha=alpha)
    raise ValueError(f"loss must be one of {LOSSES}, got {name!r}")


@dataclass
class MultiLabelHistory:
    """Per-epoch record of ``fit_multilabel``; ``train_seconds`` is the wall-clock total (s).

    ``val_macro_auroc``: mean over findings of the validation AUROC after each epoch.
    ``pos_weight``: the weights used (empty for losses without them). ``loss``: its name.
    """

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_macro_auroc: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    train_seconds: float = 0.0
    loss: str = ""
    pos_weight: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        """Number of epochs run."""
        return len(self.train_loss)

    def to_frame(self) -> pd.DataFrame:
        """One row per epoch: training loss, validation loss and macro-AUROC, learning rate, seconds."""
        n = self.epochs
        frame = pd.DataFrame({
            "train_loss": self.train_loss, "val_loss": self.val_loss or [math.nan] * n,
            "val_macro_auroc": self.val_macro_auroc or [math.nan] * n,
            "learning_rate": self.learning_rate, "seconds": self.epoch_seconds,
        })
        frame.index = pd.RangeIndex(1, n + 1, name="epoch")
        return frame


def _tensors(data: TensorDataset | tuple) -> tuple[torch.Tensor, torch.Tensor]:
    tensors = data.tensors if isinstance(data, TensorDataset) else data
    if not isinstance(tensors, (tuple, list)) or len(tensors) != 2:
        raise TypeError("data must be a TensorDataset of (images, targets) or a tuple (images, targets)")
    x, y = tensors
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"images and targets must be non-empty and of one length, got {len(x)} and {len(y)}")
    if y.ndim != 2 or not y.is_floating_point():
        raise ValueError(f"multi-label targets must be float (N, F), got {y.dtype} {tuple(y.shape)}")
    return x, y


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, *, batch_size: int = 256) -> torch.Tensor:
    """float32 (N, F) logits on the CPU, in eval mode (every submodule's mode restored after)."""
    device = model_device(model)
    with eval_mode(model):
        out = [model(images[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(images), batch_size)]
    return torch.cat(out)


def _validation_logits(parallel: distributed.SingleProcess | distributed.DataParallel, model: nn.Module,
                       images: torch.Tensor, *, batch_size: int) -> torch.Tensor:
    """(N, F) logits of every validation image on every rank: each rank predicts one contiguous
    shard and the shards, zero elsewhere, are summed over the ranks (exact: x + 0 = x)."""
    if parallel.world_size == 1 or len(images) < parallel.world_size:
        return predict_logits(model, images, batch_size=batch_size)
    bounds = torch.linspace(0, len(images), parallel.world_size + 1).round().long().tolist()
    lo, hi = bounds[parallel.rank], bounds[parallel.rank + 1]
    shard = predict_logits(model, images[lo:hi], batch_size=batch_size)
    full = torch.zeros((len(images), shard.shape[1]), dtype=shard.dtype)
    full[lo:hi] = shard
    (full,) = parallel.sum(full)
    return full


def fit_multilabel(model: nn.Module, train: TensorDataset | tuple, val: TensorDataset | tuple | None = None, *,
                   loss: str = "weighted_bce", pos_weight: torch.Tensor | None = None, epochs: int,
                   lr: float = 2e-3, batch_size: int = 32, weight_decay: float = 1e-4,
                   max_pos_weight: float | None = None, gamma: float = 2.0, alpha: float = 0.25,
                   channels_last: bool = False, keep_best: bool = True, progress: bool | None = None,
                   seed: int | None = None) -> MultiLabelHistory:
    """Train ``model`` (F logits) on multi-label targets; return its per-epoch history.

    Args:
        model: network mapping (B, C, H, W) images to (B, F) logits.
        train, val: TensorDatasets (or tuples) of images and float (N, F) 0/1 targets.
        loss: "bce", "weighted_bce" or "focal" (see ``make_loss``).
        pos_weight: (F,) for "weighted_bce"; default ``positive_weights(train targets,
            max_weight=max_pos_weight)``.
        epochs: passes over the training set (>= 1).
        lr: peak learning rate of the one-cycle schedule (Smith 2018), AdamW optimiser.
        batch_size, weight_decay: as usual.
        gamma, alpha: focal loss parameters.
        channels_last: NHWC memory layout (often faster for convolutions on a CPU).
        keep_best: with ``val``, restore the weights of the epoch with the best validation
            macro-AUROC.
        progress: tqdm bar (None: on unless ``$CXRLAB_PROGRESS=0``).
        seed: seed of the batch order.

    Under ``torchrun --nproc_per_node=N`` the same call trains data-parallel, as
    ``cxrlab.train.fit`` does (``cxrlab.distributed``): the model in DistributedDataParallel,
    each global batch of ``batch_size`` split over the N processes (so the optimisation steps
    are those of one process at the same batch size), training losses summed over the ranks,
    the validation logits computed one shard per rank and summed into the full set on every
    rank (the macro-AUROC is not a mean over images, so the full set is needed), and the
    progress bar on rank 0 only. Every rank ends with the same weights.

    Returns:
        MultiLabelHistory (losses, validation macro-AUROC per epoch, the ``pos_weight`` used).

    Raises:
        ValueError / TypeError: bad data shapes, an unknown loss, epochs < 1.
    """
    from .findings import macro_auroc

    epochs = positive_int(epochs, "epochs")
    batch_size = positive_int(batch_size, "batch_size")
    x, y = _tensors(train)
    vx_vy = _tensors(val) if val is not None else None
    if loss == "weighted_bce" and pos_weight is None:
        pos_weight = positive_weights(y, max_weight=max_pos_weight)
    criterion = make_loss(loss, pos_weight=pos_weight, gamma=gamma, alpha=alpha)
    parallel = distributed.context(model_device(model))  # torchrun: one rank of a DDP job; else the plain loop
    device = parallel.device
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model.to(device=device, memory_format=memory_format)
    x = x.to(device, memory_format=memory_format) if x.ndim == 4 else x.to(device)
    y = y.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters (is everything frozen?)")
    trained = parallel.wrap(model)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    steps = math.ceil(len(x) / batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps)
    generator = parallel.generator(torch.Generator().manual_seed(seed) if seed is not None else None)
    history = MultiLabelHistory(loss=loss, pos_weight=[] if pos_weight is None or loss != "weighted_bce"
                                else [float(w) for w in pos_weight])
    best_state, best = None, -math.inf
    bar = None
    if progress_enabled(progress) and parallel.is_main:
        bar = tqdm_class()(total=epochs * steps, desc=f"training ({loss})", unit="batch", leave=False)
    start = time.perf_counter()
    try:
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            model.train()
            total = torch.zeros((), device=device)
            seen = torch.zeros((), device=device, dtype=torch.long)
            for xb, yb in parallel.batches(x, y, batch_size, generator):  # this rank's shard of each batch
                batch_loss = criterion(trained(xb), yb)
                opt.zero_grad(set_to_none=True)
                batch_loss.backward()  # DDP averages the gradients of the ranks here
                opt.step()
                schedule.step()
                total += batch_loss.detach() * len(yb)
                seen += len(yb)
                if bar is not None:
                    bar.update(1)
            total, seen = parallel.sum(total, seen)
            history.train_loss.append(total.item() / seen.item())
            history.learning_rate.append(opt.param_groups[0]["lr"])
            if vx_vy is not None:
                logits = _validation_logits(parallel, model, vx_vy[0], batch_size=max(256, batch_size))
                history.val_loss.append(float(criterion(logits.to(device), vx_vy[1].to(device))))
                score = macro_auroc(vx_vy[1], logits)
                history.val_macro_auroc.append(score)
                if np.isfinite(score) and score > best:
                    best, history.best_epoch = score, epoch
                    if keep_best:
                        best_state = copy.deepcopy(model.state_dict())
            history.epoch_seconds.append(time.perf_counter() - t0)
            if bar is not None:
                bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}")
    finally:
        if bar is not None:
            bar.close()
    history.train_seconds = time.perf_counter() - start
    if best_state is not None:
        model.load_state_dict(best_state)
    model.to(memory_format=torch.contiguous_format).eval()
    return history


__all__ = ["LOSSES", "positive_weights", "focal_loss", "make_loss", "MultiLabelHistory", "fit_multilabel",
           "predict_logits"]
