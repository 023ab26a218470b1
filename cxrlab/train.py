"""One small training loop for every chapter: history, progress bar, best weights, timing.

The data are in-memory tensors, so batches are drawn by indexing a shuffled permutation
rather than through a DataLoader with per-sample transforms: on a CPU this removes the
Python overhead that dominates small models such as LeNet-5.
"""

from __future__ import annotations

import copy
import math
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from . import distributed
from ._checks import positive_int
from ._torch import eval_mode, model_device, tqdm_class, train_mode
from .settings import progress_enabled

Data = TensorDataset | tuple[torch.Tensor, torch.Tensor]
Augment = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class History:
    """Per-epoch record of a ``fit`` run; ``train_seconds`` is the wall-clock total (s)."""

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    train_seconds: float = 0.0
    #: CPU threads the training steps ran on (after ``threads="auto"``, the faster one); None when not set
    threads: int | None = None

    @property
    def epochs(self) -> int:
        """Number of epochs run."""
        return len(self.train_loss)

    def to_frame(self) -> pd.DataFrame:
        """The history as a table, one row per epoch (accuracies are fractions in [0, 1])."""
        frame = pd.DataFrame({
            "train_loss": self.train_loss, "train_accuracy": self.train_accuracy,
            "val_loss": self.val_loss or [math.nan] * self.epochs,
            "val_accuracy": self.val_accuracy or [math.nan] * self.epochs,
            "learning_rate": self.learning_rate, "seconds": self.epoch_seconds,
        })
        frame.index = pd.RangeIndex(1, self.epochs + 1, name="epoch")
        return frame


def as_tensors(data: Data) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, labels) from a TensorDataset or a 2-tuple.

    Raises:
        TypeError: for anything else; ValueError: for inputs and labels of different lengths, or none.

    Returns:
        ``(inputs, labels)``, the tensors themselves (no copy).
    """
    tensors = data.tensors if isinstance(data, TensorDataset) else data
    if not isinstance(tensors, (tuple, list)) or len(tensors) != 2:
        raise TypeError("data must be a TensorDataset of (inputs, labels) or a tuple (inputs, labels)")
    x, y = tensors
    if len(x) != len(y):
        raise ValueError(f"inputs and labels differ in length: {len(x)} vs {len(y)}")
    if len(x) == 0:
        raise ValueError("data is empty: no examples to train or evaluate on")
    return x, y


def batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, *, shuffle: bool,
            generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (inputs, labels) mini-batches by slicing in-memory tensors.

    With ``shuffle`` the order is one ``torch.randperm`` drawn from ``generator`` (on the
    CPU), so a seeded generator gives the same batches on every device.

    Returns:
        An iterator of ``(inputs, labels)`` batches, the last one possibly smaller.
    """
    n = len(x)
    order = torch.randperm(n, generator=generator, device="cpu") if shuffle else None
    for start in range(0, n, batch_size):
        if order is None:
            yield x[start:start + batch_size], y[start:start + batch_size]
        else:
            idx = order[start:start + batch_size].to(x.device)
            xb = x[idx]
            if x.ndim == 4 and x.is_contiguous(memory_format=torch.channels_last):
                xb = xb.contiguous(memory_format=torch.channels_last)  # indexing drops NHWC
            yield xb, y[idx]


def _place(x: torch.Tensor, y: torch.Tensor, device: torch.device,
           memory_format: torch.memory_format = torch.contiguous_format) -> tuple[torch.Tensor, torch.Tensor]:
    # Small data sets go to the accelerator once, so no batch is copied per step.
    if x.ndim == 4:
        x = x.to(memory_format=memory_format)
    return x.to(device, non_blocking=True), y.to(device, non_blocking=True)


@torch.no_grad()
def predict(model: nn.Module, data: Data, *, batch_size: int = 512,
            device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (logits, labels) on the CPU for every example, in order, in eval mode.

    Every submodule's own train/eval flag is restored afterwards.

    Args:
        model: a classifier giving (N, classes) logits.
        data: a TensorDataset or a tuple (inputs, labels).
        batch_size: examples per forward pass.
        device: where to run (default: the model's device).

    Returns:
        ``(logits, labels)``: float32 (N, classes) and the labels, both on the CPU.

    Raises:
        TypeError, ValueError: as :func:`as_tensors`; ValueError for a non-positive ``batch_size``.
    """
    x, y = as_tensors(data)
    positive_int(batch_size, "batch_size")
    device = torch.device(device) if device is not None else model_device(model)
    with eval_mode(model):
        outputs = [model(xb.to(device)).float().cpu() for xb, _ in batches(x, y, batch_size, shuffle=False)]
    return torch.cat(outputs), y.cpu()


def evaluate(model: nn.Module, data: Data, *, batch_size: int = 512,
             device: torch.device | str | None = None) -> dict[str, float]:
    """Mean cross-entropy ``loss`` and ``accuracy`` (fraction in [0, 1]) of ``model`` on ``data``.

    Returns:
        ``{"loss": float, "accuracy": float}``.

    Raises:
        As :func:`predict`.
    """
    logits, labels = predict(model, data, batch_size=batch_size, device=device)
    return {
        "loss": F.cross_entropy(logits, labels).item(),
        "accuracy": (logits.argmax(1) == labels).float().mean().item(),
    }


def fit(model: nn.Module, train: Data, val: Data | None = None, *, epochs: int,
        lr: float = 1e-3, batch_size: int = 128, optimizer: str | torch.optim.Optimizer = "adam",
        weight_decay: float = 0.0, schedule: str = "onecycle", label_smoothing: float = 0.0,
        augment: Augment | None = None, device: torch.device | str | None = None,
        amp: bool = False, channels_last: bool = False, keep_best: bool = True, patience: int | None = None,
        progress: bool | None = None, seed: int | None = None,
        checkpoint: str | os.PathLike | None = None, threads: int | str | None = None) -> History:
    """Train ``model`` with cross-entropy and return its per-epoch History.

    ``optimizer``: "adam", "adamw" (both torch's fused implementation when every parameter is
    a float32/float64 tensor on a CPU or CUDA device), "sgd" (momentum 0.9, Nesterov) or an
    optimizer you built. ``schedule``: "onecycle" (Smith 2018; ``lr`` is the peak), "cosine" or
    "constant". ``augment`` maps a batch of inputs to an augmented batch (on the device).
    ``amp`` uses float16 mixed precision on CUDA (ignored elsewhere); ``channels_last``
    stores images and convolution weights as NHWC, often about twice as fast for small
    convolutional networks on a CPU. With ``val`` given,
    ``keep_best`` restores the weights of the epoch with the best validation accuracy and
    ``patience`` stops after that many epochs without improvement. ``progress`` shows a
    tqdm bar (default: ``cxrlab.settings.progress_enabled()``). Times are wall-clock seconds.
    ``checkpoint``: a file that receives the best weights (the last ones without ``val``)
    after every epoch that improves them. ``threads``: CPU threads for training (ignored on an
    accelerator and restored on return): None keeps torch's setting, a number sets it, and
    "auto" times the first real training steps on one thread and on torch's current count
    and keeps the faster. A network as small as LeNet-5 gains little from splitting each
    layer over cores, and loses many times over when other programs share them (every
    layer waits for its slowest thread); the steps timed are training steps, none is wasted.
    In a chapter, pass ``**rt.fit_options()`` for the
    device, seed, mixed precision, memory format and progress bar of the run. Each
    submodule's own train/eval flag is restored when ``fit`` returns.

    Under ``torchrun --nproc_per_node=N`` the same call trains data-parallel
    (``cxrlab.distributed``): DistributedDataParallel, each global batch of ``batch_size``
    split over the N processes, losses and metrics summed over them, and progress bars and
    checkpoints on rank 0 only.

    Returns:
        The :class:`History` of the run.

    Raises:
        ValueError: for a non-positive ``epochs`` or ``batch_size``, an unknown optimizer or
            schedule, ``threads`` other than None, "auto" or a positive number, or a model with
            nothing trainable; TypeError/ValueError for bad data.
    """
    positive_int(epochs, "epochs")
    positive_int(batch_size, "batch_size")
    tuner = _ThreadTuner(threads)
    device = torch.device(device) if device is not None else model_device(model)
    parallel = distributed.context(device)  # torchrun: one rank of a DDP job; else the plain loop
    device = parallel.device
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model.to(device=device, memory_format=memory_format)
    x, y = _place(*as_tensors(train), device, memory_format)
    vx_vy = _place(*as_tensors(val), device, memory_format) if val is not None else None
    generator = parallel.generator(torch.Generator().manual_seed(seed) if seed is not None else None)
    trained = parallel.wrap(model)
    steps_per_epoch = math.ceil(len(x) / batch_size)

    opt = _make_optimizer(model, optimizer, lr, weight_decay)
    scheduler = _make_scheduler(opt, schedule, lr, epochs, steps_per_epoch)
    use_amp = amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda") if use_amp else None

    history = History()
    tuner.start(device)
    best_state, best_key = None, (-math.inf, math.inf)
    bar = None
    if progress_enabled(progress) and parallel.is_main:
        bar = tqdm_class()(total=epochs * steps_per_epoch, desc="training", unit="batch", leave=True)
    start = time.perf_counter()
    stale = 0
    with train_mode(model):  # on return, every submodule gets its own train/eval flag back
        try:
            for epoch in range(1, epochs + 1):
                t0 = time.perf_counter()
                model.train()
                loss_sum = torch.zeros((), device=device)
                correct = torch.zeros((), device=device, dtype=torch.long)
                seen = torch.zeros((), device=device, dtype=torch.long)
                for xb, yb in parallel.batches(x, y, batch_size, generator):
                    tuner.before_step()
                    if augment is not None:
                        xb = augment(xb)
                    with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=use_amp):
                        logits = trained(xb)
                        loss = F.cross_entropy(logits, yb, label_smoothing=label_smoothing)
                    opt.zero_grad(set_to_none=True)
                    if scaler is not None:
                        scaler.scale(loss).backward()
                        scaler.step(opt)
                        scaler.update()
                    else:
                        loss.backward()
                        opt.step()
                    if scheduler is not None:
                        scheduler.step()
                    tuner.after_step()
                    loss_sum += loss.detach() * len(yb)
                    correct += (logits.detach().argmax(1) == yb).sum()
                    seen += len(yb)
                    if bar is not None:
                        bar.update(1)
                loss_sum, correct, seen = parallel.sum(loss_sum, correct, seen)
                history.train_loss.append(loss_sum.item() / seen.item())
                history.train_accuracy.append(correct.item() / seen.item())
                history.learning_rate.append(opt.param_groups[0]["lr"])
                if vx_vy is not None:
                    metrics = parallel.evaluate(evaluate, model, vx_vy, batch_size=max(batch_size, 512), device=device)
                    history.val_loss.append(metrics["loss"])
                    history.val_accuracy.append(metrics["accuracy"])
                    key = (metrics["accuracy"], -metrics["loss"])
                    if key > best_key:
                        best_key, history.best_epoch, stale = key, epoch, 0
                        if keep_best:
                            best_state = copy.deepcopy(model.state_dict())
                        if checkpoint is not None:
                            parallel.save(model.state_dict(), checkpoint)
                    else:
                        stale += 1
                elif checkpoint is not None:
                    parallel.save(model.state_dict(), checkpoint)
                history.epoch_seconds.append(time.perf_counter() - t0)
                if bar is not None:
                    bar.set_postfix(_postfix(history))
                if patience is not None and stale >= patience:
                    break
        finally:
            history.threads = tuner.finish()
            if bar is not None:
                bar.close()
    history.train_seconds = time.perf_counter() - start
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


class _ThreadTuner:
    """``fit(threads=...)``: set torch's CPU thread count for a run, or pick it by timing steps."""

    TIMED_STEPS = 3  # per candidate, after one untimed step (oneDNN builds its kernels on the first)

    def __init__(self, threads: int | str | None):
        if not (threads is None or threads == "auto"
                or (isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1)):
            raise ValueError(f"threads must be None, 'auto' or a positive number of CPU threads, got {threads!r}")
        self.threads, self.saved = threads, torch.get_num_threads()
        self.queue: list[tuple[int, bool]] = []
        self.times: dict[int, list[float]] = {}
        self.current: tuple[int, bool] | None = None
        self.t0 = 0.0

    def start(self, device: torch.device) -> None:
        if self.threads is None or device.type != "cpu":
            self.threads = None
        elif self.threads == "auto":
            for n in sorted({self.saved, 1}, reverse=True):
                self.queue += [(n, False)] + [(n, True)] * self.TIMED_STEPS
        else:
            torch.set_num_threads(self.threads)

    def before_step(self) -> None:
        if self.queue:
            self.current = self.queue.pop(0)
            torch.set_num_threads(self.current[0])
            self.t0 = time.perf_counter()

    def after_step(self) -> None:
        if self.current is None:
            return
        n, timed = self.current
        self.current = None
        if timed:
            self.times.setdefault(n, []).append(time.perf_counter() - self.t0)
        if not self.queue:  # every candidate timed: keep the fastest for the rest of the run
            torch.set_num_threads(min(self.times, key=lambda k: statistics.median(self.times[k])))

    def finish(self) -> int | None:
        used = torch.get_num_threads() if self.threads is not None else None
        torch.set_num_threads(self.saved)
        return used


def _postfix(history: History) -> dict[str, str]:
    post = {"epoch": str(history.epochs), "loss": f"{history.train_loss[-1]:.3f}"}
    if history.val_accuracy:
        post["val_acc"] = f"{history.val_accuracy[-1]:.3f}"
    return post


def _make_optimizer(model: nn.Module, optimizer: str | torch.optim.Optimizer, lr: float,
                    weight_decay: float) -> torch.optim.Optimizer:
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters (is everything frozen?)")
    # torch's fused Adam: one kernel for every parameter's update (CPU and CUDA); the same
    # update up to float rounding (parameters differ by ~1e-7 after tens of steps)
    fused = all(p.device.type in ("cpu", "cuda") and p.dtype in (torch.float32, torch.float64) for p in params)
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=fused or None)
    if optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused or None)
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be 'adam', 'adamw', 'sgd' or an Optimizer, got {optimizer!r}")


def _make_scheduler(opt: torch.optim.Optimizer, schedule: str, lr: float, epochs: int,
                    steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    total = epochs * steps_per_epoch
    if schedule == "constant":
        return None
    if schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total)
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    raise ValueError(f"schedule must be 'onecycle', 'cosine' or 'constant', got {schedule!r}")
