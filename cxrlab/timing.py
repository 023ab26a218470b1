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
from ._torch import model_device
from .train import _make_optimizer

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

    A profile by layer, on a deep copy of ``model`` (so its parameters, gradients, buffers
    such as BatchNorm's running statistics, and train/eval flags are left as they were):
    one forward pass in train mode, without gradients, records the input every leaf module
    receives; then each module is timed on its own input with :func:`median_time`: its
    forward pass, then its backward pass from a random gradient of its output's shape. The
    input gradient is computed for every layer but the one that reads ``x`` itself (data
    need no gradient), so a frozen first block is timed as if it were trained; parameter
    gradients are computed and dropped. On a GPU every call is synchronised before the
    clock stops. The times of separate layers do not add up exactly to a whole step (which
    also runs the loss and the optimiser), but they show where the step spends its time. To
    compare two networks, use :func:`compare_layer_times`, which alternates them.

    Args:
        model: any network whose leaf modules each take one tensor (``nn.Sequential``
            stacks, ``LeNet5``).
        x: an input batch (N >= 1, ...), floating point in the model's dtype, in the memory
            format training uses (moved to the model's device).
        repeats, warmup: timed and untimed calls per layer (>= 1 and >= 0).

    Returns:
        A table, one row per leaf module in the order it ran, with columns ``layer`` (its
        name in the model), ``module`` (class name), ``input shape`` (without the batch
        axis), ``milliseconds`` (median forward + backward wall-clock time, ms) and
        ``share`` (of the sum over layers, 0-1); indexed from 1.

    Raises:
        TypeError: when ``model`` is not an ``nn.Module``.
        ValueError: when ``x`` is not a non-empty floating-point batch in the model's dtype;
            when called with gradients off (inside ``torch.no_grad()`` or
            ``torch.inference_mode()``); when a leaf module takes more than one input; or
            when no leaf module receives a tensor.
    """
    _check_call("layer_times", model, x)
    repeats = positive_int(repeats, "repeats")
    warmup = positive_int(warmup, "warmup", minimum=0)
    model = copy.deepcopy(model)
    device = model_device(model)
    x = x.to(device)
    seen: list[tuple[str, nn.Module, torch.Tensor, bool]] = []

    def record(name: str):
        def hook(module: nn.Module, inputs: tuple) -> None:
            tensors = [t for t in inputs if isinstance(t, torch.Tensor)]
            if len(inputs) > 1:
                raise ValueError(f"layer {name!r} ({type(module).__name__}) takes {len(inputs)} inputs; "
                                 "layer_times times layers that take one tensor (time the others with "
                                 "median_time)")
            if tensors:
                # clone keeps the memory format (channels-last stays channels-last)
                seen.append((name, module, tensors[0].detach().clone(), tensors[0] is x))
        return hook

    leaves = [(name, module) for name, module in model.named_modules()
              if name and not any(True for _ in module.children())]
    handles = [module.register_forward_pre_hook(record(name)) for name, module in leaves]
    try:
        model.train()
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    if not seen:
        raise ValueError("no leaf module of the model received a tensor from x (a single-layer model? "
                         "time it with median_time)")
    rows = []
    for name, module, layer_input, is_data in seen:
        rows.append({"layer": name, "module": type(module).__name__,
                     "input shape": tuple(layer_input.shape[1:]),
                     "milliseconds": 1000 * median_time(_layer_step(module, layer_input, is_data, device),
                                                        repeats=repeats, warmup=warmup)})
    table = pd.DataFrame(rows, columns=["layer", "module", "input shape", "milliseconds"])
    table["share"] = table["milliseconds"] / table["milliseconds"].sum()
    table.index = pd.RangeIndex(1, len(table) + 1)
    return table


def compare_layer_times(networks: Mapping[str, nn.Module], x: torch.Tensor, *, rounds: int = 3,
                        repeats: int = 11, warmup: int = 2) -> dict[str, pd.DataFrame]:
    """:func:`layer_times` of several networks on the same batch, measured side by side.

    Each round profiles every network once, in turn, and the order alternates between
    rounds, so that neither is always measured first (the first pays more of the memory
    allocator's one-off costs) and a change in a shared machine's load hits all alike. Each
    layer's ``milliseconds`` is the median over the rounds; ``share`` is recomputed from
    those medians.

    Args:
        networks: ``{name: model}``, at least one.
        x: the batch, as for :func:`layer_times`.
        rounds: rounds of measurement (>= 1); repeats, warmup: per layer and round.

    Returns:
        ``{name: table}``, each table as :func:`layer_times` returns it.

    Raises:
        ValueError: for an empty ``networks`` or a non-positive ``rounds``; as
            :func:`layer_times` for a bad model or batch.
    """
    tables = _take_turns(networks, rounds, lambda net: layer_times(net, x, repeats=repeats, warmup=warmup))
    result = {}
    for name, runs in tables.items():
        table = runs[0].copy()
        table["milliseconds"] = np.median(np.stack([run["milliseconds"].to_numpy() for run in runs]), axis=0)
        table["share"] = table["milliseconds"] / table["milliseconds"].sum()
        result[name] = table
    return result


def training_step_time(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, repeats: int = 11,
                       warmup: int = 3) -> float:
    """Median wall-clock seconds of one training step of a copy of ``model`` on the batch (x, y).

    A step is what ``fit`` does per batch without mixed precision: forward pass,
    cross-entropy loss, backward pass and an Adam update (here at a learning rate of 1e-4,
    with torch's fused implementation on a CPU or CUDA device, as ``fit`` builds it). It
    runs on a deep copy in train mode, so ``model`` itself, its gradients and buffers are
    untouched. On a GPU every step is synchronised before the clock stops. Compare two
    networks with :func:`training_step_times`, which alternates them.

    Args:
        model: a classifier returning (N, classes) logits, with trainable parameters.
        x: an input batch (N >= 1, ...), floating point in the model's dtype, in the memory
            format training uses.
        y: (N,) int64 class indices in [0, classes).
        repeats, warmup: timed and untimed steps (>= 1 and >= 0).

    Returns:
        float seconds per step (median).

    Raises:
        TypeError: when ``model`` is not an ``nn.Module``.
        ValueError: when ``x`` is not a non-empty floating-point batch in the model's dtype,
            ``y`` is not one int64 label per row of ``x`` within the model's classes, the
            model has nothing trainable, or gradients are off (``torch.no_grad()``).
    """
    _check_call("training_step_time", model, x)
    if not isinstance(y, torch.Tensor) or y.dtype != torch.long or y.shape != x.shape[:1]:
        raise ValueError(f"y must hold one int64 class index per row of x ({len(x)}), got "
                         f"{getattr(y, 'dtype', type(y).__name__)} of shape {tuple(getattr(y, 'shape', ()))}")
    copy_of_model = copy.deepcopy(model).train()
    # fit's own optimizer (fused Adam where torch has it); it refuses a model with nothing trainable
    optimizer = _make_optimizer(copy_of_model, "adam", lr=1e-4, weight_decay=0.0)
    device = model_device(copy_of_model)
    x, y = x.to(device), y.to(device)
    with torch.no_grad():
        classes = copy_of_model(x).shape[-1]
    if int(y.min()) < 0 or int(y.max()) >= classes:
        raise ValueError(f"y must hold class indices in [0, {classes}) for this model's {classes} outputs, "
                         f"got values from {int(y.min())} to {int(y.max())}")

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
    times = _take_turns(networks, rounds,
                        lambda net: training_step_time(net, x, y, repeats=repeats, warmup=warmup))
    return {name: float(np.median(values)) for name, values in times.items()}


def _take_turns(networks: Mapping[str, nn.Module], rounds: int,
                measure: Callable[[nn.Module], T]) -> dict[str, list[T]]:
    """``measure`` every network once per round, the order alternating between rounds."""
    if not isinstance(networks, Mapping) or not networks:
        raise ValueError("networks must be a non-empty {name: model} mapping")
    rounds = positive_int(rounds, "rounds")
    results: dict[str, list[T]] = {name: [] for name in networks}
    order = list(networks)
    for turn in range(rounds):
        for name in (order if turn % 2 == 0 else order[::-1]):
            results[name].append(measure(networks[name]))
    return results


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


def _check_call(function: str, model: nn.Module, x: torch.Tensor) -> None:
    """A module, a non-empty floating-point batch in its parameters' dtype, gradients on; else raise."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not torch.is_grad_enabled() or torch.is_inference_mode_enabled():
        raise ValueError(f"{function} runs backward passes: call it outside torch.no_grad() and "
                         "torch.inference_mode()")
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or not x.is_floating_point():
        raise ValueError("x must be a floating-point input batch with a batch axis, got "
                         f"{getattr(x, 'dtype', type(x).__name__)} of shape {tuple(getattr(x, 'shape', ()))}")
    if len(x) == 0:
        raise ValueError("x is an empty batch (N = 0): there is nothing to time; pass at least one example")
    dtype = next((p.dtype for p in model.parameters()), None)
    if dtype is not None and dtype != x.dtype:
        raise ValueError(f"x is {x.dtype} but the model's parameters are {dtype}: convert one to the other "
                         f"(x.to({dtype}) or model.to({x.dtype}))")


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


__all__ = ["compare_layer_times", "cpu_threads", "layer_times", "median_time", "timed", "training_step_time",
           "training_step_times"]
