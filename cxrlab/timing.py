"""Timing a piece of code fairly: warm up, repeat, report the median wall-clock time.

The first call of a function pays one-off costs (memory allocation, kernel selection, caches),
and a shared machine adds noise in both directions; the median of a few repeats after a
warm-up is a robust summary. Compare two pieces of code by the ratio of their medians measured
side by side in one run, never by absolute times from different runs.
"""

from __future__ import annotations

import contextlib
import copy
import time
from typing import Callable, Iterator, Mapping, TypeVar

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from ._checks import positive_int
from ._torch import model_device, train_mode

T = TypeVar("T")


def median_time(fn: Callable[[], object], *, repeats: int = 3, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` calls, after ``warmup`` calls.

    Args:
        fn: a function of no arguments (wrap arguments in a lambda).
        repeats: timed calls (>= 1).
        warmup: untimed calls first (>= 0).

    Returns:
        float seconds (``time.perf_counter``), the median of the timed calls.

    Raises:
        TypeError: ``fn`` is not callable. ValueError: ``repeats`` < 1 or ``warmup`` < 0.
    """
    if not callable(fn):
        raise TypeError(f"fn must be a function of no arguments, got {type(fn).__name__}")
    repeats = positive_int(repeats, "repeats")
    warmup = positive_int(warmup, "warmup", minimum=0)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """Call ``fn()`` once; return (its result, the wall-clock seconds it took)."""
    if not callable(fn):
        raise TypeError(f"fn must be a function of no arguments, got {type(fn).__name__}")
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def layer_times(model: nn.Module, x: torch.Tensor, *, repeats: int = 11, warmup: int = 2) -> pd.DataFrame:
    """Each leaf layer's forward-plus-backward time in a training step on the batch ``x``.

    A profile by layer: one forward pass (train mode, no gradients) records the input every
    leaf module receives; then each module is timed on its own input, as in training, with
    :func:`median_time`: its forward pass, then its backward pass from a random gradient of
    its output's shape. As in training, the input gradient is computed for every layer but
    the one that reads ``x`` itself (data need no gradient), and parameter gradients are
    computed and dropped. On a GPU every call is synchronised before the clock stops. The
    times of separate layers do not add up exactly to a whole step (which also runs the loss
    and the optimiser), but they show where the step spends its time. The model's
    parameters, their gradients and every submodule's train/eval flag are left as they were.

    Args:
        model: any network whose leaf modules take one tensor (``nn.Sequential`` stacks,
            ``LeNet5``).
        x: an input batch, e.g. (N, C, H, W) float images, in the memory format training
            uses (moved to the model's device).
        repeats, warmup: timed and untimed calls per layer (>= 1 and >= 0).

    Returns:
        A table, one row per leaf module in the order it ran, with columns ``layer`` (its
        name in the model), ``module`` (class name), ``input shape`` (without the batch
        axis), ``milliseconds`` (median forward + backward wall-clock time, ms) and
        ``share`` (of the sum over layers, 0-1); indexed from 1.

    Raises:
        ValueError: when ``x`` is not a floating-point tensor with a batch axis, or no leaf
            module ran.
        TypeError: when ``model`` is not an ``nn.Module``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or not x.is_floating_point():
        raise ValueError("x must be a floating-point input batch with a batch axis, got "
                         f"{getattr(x, 'dtype', type(x).__name__)} of shape {tuple(getattr(x, 'shape', ()))}")
    repeats = positive_int(repeats, "repeats")
    warmup = positive_int(warmup, "warmup", minimum=0)
    device = model_device(model)
    x = x.to(device)
    seen: list[tuple[str, nn.Module, torch.Tensor, bool]] = []

    def record(name: str):
        def hook(module: nn.Module, inputs: tuple) -> None:
            if inputs and isinstance(inputs[0], torch.Tensor):
                # clone keeps the memory format (channels-last stays channels-last)
                seen.append((name, module, inputs[0].detach().clone(), inputs[0] is x))
        return hook

    leaves = [(name, module) for name, module in model.named_modules()
              if name and not any(True for _ in module.children())]
    grads = [(p, p.grad) for p in model.parameters()]
    handles = [module.register_forward_pre_hook(record(name)) for name, module in leaves]
    try:
        with train_mode(model):
            with torch.no_grad():
                model(x)
            for handle in handles:
                handle.remove()
            handles = []
            if not seen:
                raise ValueError("no leaf module of the model ran on x (is the model a single layer? time it "
                                 "with median_time)")
            rows = []
            for name, module, layer_input, is_data in seen:
                rows.append({"layer": name, "module": type(module).__name__,
                             "input shape": tuple(layer_input.shape[1:]),
                             "milliseconds": 1000 * median_time(_layer_step(module, layer_input, is_data, device),
                                                                repeats=repeats, warmup=warmup)})
    finally:
        for handle in handles:
            handle.remove()
        for parameter, grad in grads:
            parameter.grad = grad
    table = pd.DataFrame(rows, columns=["layer", "module", "input shape", "milliseconds"])
    table["share"] = table["milliseconds"] / table["milliseconds"].sum()
    table.index = pd.RangeIndex(1, len(table) + 1)
    return table


def training_step_time(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, repeats: int = 11,
                       warmup: int = 3) -> float:
    """Median wall-clock seconds of one training step of a copy of ``model`` on the batch (x, y).

    A step is what ``fit`` does per batch: forward pass, cross-entropy loss, backward pass
    and an Adam update at a learning rate of 1e-4, with torch's fused implementation on a
    CPU or CUDA device, as ``fit`` makes it. It runs on a deep copy in train mode,
    so ``model`` itself and its gradients are untouched. On a GPU every step is
    synchronised before the clock stops. Compare two networks by alternating calls in
    one run and taking the ratio of the medians (chapter 2).

    Args:
        model: a classifier returning (N, classes) logits.
        x: an input batch (N, ...) float, in the memory format training uses.
        y: (N,) int64 class indices.
        repeats, warmup: timed and untimed steps (>= 1 and >= 0).

    Returns:
        float seconds per step (median).

    Raises:
        TypeError: when ``model`` is not an ``nn.Module``.
        ValueError: when ``x`` is not a floating-point batch, or ``y`` is not one int64
            label per row of ``x``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or not x.is_floating_point():
        raise ValueError("x must be a floating-point input batch with a batch axis")
    if not isinstance(y, torch.Tensor) or y.dtype != torch.long or y.shape != x.shape[:1]:
        raise ValueError(f"y must hold one int64 class index per row of x ({len(x)}), got "
                         f"{getattr(y, 'dtype', type(y).__name__)} of shape {tuple(getattr(y, 'shape', ()))}")
    copy_of_model = copy.deepcopy(model).train()
    device = model_device(copy_of_model)
    x, y = x.to(device), y.to(device)
    parameters = [p for p in copy_of_model.parameters() if p.requires_grad]
    fused = all(p.device.type in ("cpu", "cuda") and p.dtype in (torch.float32, torch.float64) for p in parameters)
    optimizer = torch.optim.Adam(parameters, lr=1e-4, fused=fused or None)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(copy_of_model(x), y).backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return median_time(step, repeats=repeats, warmup=warmup)


def training_step_times(networks: Mapping[str, nn.Module], x: torch.Tensor, y: torch.Tensor, *,
                        rounds: int = 4, repeats: int = 11, warmup: int = 3) -> dict[str, float]:
    """Median seconds of one training step of each network, measured side by side.

    Each round times every network once with :func:`training_step_time`, in turn, and the
    order alternates between rounds, so that a change in a shared machine's load hits all
    of them alike. Compare the results as ratios.

    Args:
        networks: ``{name: model}``, at least one.
        x, y: the batch, as for :func:`training_step_time`.
        rounds: rounds of measurement (>= 1); repeats, warmup: per network and round.

    Returns:
        ``{name: seconds}``, the median over the rounds of each round's median.

    Raises:
        ValueError: for an empty ``networks`` or a non-positive ``rounds``; as
            :func:`training_step_time` for a bad model or batch.
    """
    if not isinstance(networks, Mapping) or not networks:
        raise ValueError("networks must be a non-empty {name: model} mapping")
    rounds = positive_int(rounds, "rounds")
    times: dict[str, list[float]] = {name: [] for name in networks}
    order = list(networks)
    for turn in range(rounds):
        for name in (order if turn % 2 == 0 else order[::-1]):
            times[name].append(training_step_time(networks[name], x, y, repeats=repeats, warmup=warmup))
    return {name: float(np.median(values)) for name, values in times.items()}


@contextlib.contextmanager
def cpu_threads(threads: int | None) -> Iterator[None]:
    """Run the ``with`` block on ``threads`` CPU threads (``torch.set_num_threads``), then restore.

    ``None`` leaves torch's setting as it is (e.g. ``History.threads`` of a run on a GPU),
    so timings can be taken on the thread count a training run used.

    Raises:
        ValueError: for a ``threads`` that is not None or a positive integer.
    """
    if threads is not None:
        positive_int(threads, "threads")
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _layer_step(module: nn.Module, layer_input: torch.Tensor, is_data: bool,
                device: torch.device) -> Callable[[], None]:
    """One layer's forward and backward on its recorded input, as a function of no arguments."""
    needs_input_grad = layer_input.is_floating_point() and not is_data
    trainable = [p for p in module.parameters() if p.requires_grad]
    layer_input = layer_input.requires_grad_(needs_input_grad)
    with torch.no_grad():
        upstream = torch.randn_like(module(layer_input)) if (needs_input_grad or trainable) else None

    def step() -> None:
        for parameter in trainable:
            parameter.grad = None
        layer_input.grad = None
        out = module(layer_input)
        if upstream is not None:
            out.backward(upstream)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return step


__all__ = ["cpu_threads", "layer_times", "median_time", "timed", "training_step_time", "training_step_times"]
