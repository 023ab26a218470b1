"""Data-parallel training on PyTorch's own engine: ``torchrun`` + DistributedDataParallel.

``cxrlab.train.fit`` asks :func:`context` once. Launched normally it gets a
:class:`SingleProcess` whose methods are the plain loop's own steps, so nothing changes.
Launched by ``torchrun --nproc_per_node=N script.py`` (which sets ``WORLD_SIZE``,
``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``) it gets a
:class:`DataParallel` that

- joins the process group (NCCL on CUDA, one GPU per process: ``cuda:LOCAL_RANK``; gloo on a CPU);
- wraps the model in :class:`torch.nn.parallel.DistributedDataParallel`, which averages the
  gradients of the ranks after every backward pass (Li et al. 2020, "PyTorch Distributed");
- cuts every *global* mini-batch of the one shared permutation into per-rank shards with
  :class:`torch.utils.data.DistributedSampler` (``shuffle=False``: the shuffle is the
  permutation's), so ``batch_size`` keeps its single-process meaning and N processes take
  the same optimisation steps as one process on the same global batch;
- sums losses, counts and validation metrics over the ranks (``all_reduce``), so every rank
  sees the same history and takes the same keep-best / early-stopping decision;
- lets only rank 0 draw progress bars and write checkpoints.

Nothing here is a distributed layer of its own: process groups, gradient averaging and
sharding are ``torch.distributed``'s. Batch normalisation keeps per-process statistics
(the DDP default); on GPUs, ``torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)``
before ``fit`` computes them over the global batch instead.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.utils.data import DistributedSampler

__all__ = ["context", "launched", "SingleProcess", "DataParallel", "is_main_process", "save_on_main"]


def launched() -> bool:
    """True when this process is one of several started by ``torchrun`` (``WORLD_SIZE`` > 1)
    or a process group with more than one rank is already initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size() > 1
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ
    except ValueError:
        raise ValueError(f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not an integer; "
                         "launch with torchrun --nproc_per_node=N") from None


def is_main_process() -> bool:
    """True on rank 0 (and in any process that is not part of a distributed run), also before
    the process group is initialised (from torchrun's ``RANK``)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return os.environ.get("RANK", "0").strip() in ("", "0")


def _atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    torch.save(obj, partial)
    os.replace(partial, path)  # atomic: a reader never sees half a file
    return path


def save_on_main(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj, path)`` on rank 0 only (atomically), then wait for every rank.

    Args:
        obj: what to save, e.g. a ``state_dict`` (tensors are saved from their device).
        path: the file; its folder is created.
    Returns:
        The path (on every rank), once the file is complete.
    """
    if is_main_process():
        _atomic_save(obj, path)
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
    return Path(path)


class SingleProcess:
    """The plain loop's steps, for a run that is not distributed (what ``fit`` gets by default)."""

    world_size = 1
    rank = 0
    is_main = True

    def __init__(self, device: torch.device):
        self.device = device

    def wrap(self, model: nn.Module) -> nn.Module:
        """The module to train: ``model`` itself."""
        return model

    def generator(self, generator: torch.Generator | None) -> torch.Generator | None:
        """The generator of the epoch permutations: the caller's own."""
        return generator

    def batches(self, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                generator: torch.Generator | None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Shuffled mini-batches of ``batch_size`` (see ``cxrlab.train.batches``)."""
        from .train import batches

        return batches(x, y, batch_size, shuffle=True, generator=generator)

    def sum(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The tensors themselves (there is nothing to add them to)."""
        return tensors

    def evaluate(self, evaluate: Callable[..., Mapping[str, float]], model: nn.Module,
                 data: tuple[torch.Tensor, torch.Tensor], **options: Any) -> dict[str, float]:
        """``evaluate(model, data, **options)``."""
        return dict(evaluate(model, data, **options))

    def save(self, obj: Any, path: str | os.PathLike) -> Path:
        """``torch.save`` to ``path``, atomically."""
        return _atomic_save(obj, path)


@dataclass
class DataParallel:
    """One rank of a ``torchrun`` job (see the module docstring). Build it with :func:`context`."""

    device: torch.device
    world_size: int
    rank: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs and writes checkpoints."""
        return self.rank == 0

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` in DistributedDataParallel (rank 0's weights are broadcast to every rank).

        Train through the returned module; the original ``model`` shares its parameters, so
        evaluation, ``state_dict()`` and checkpoints use ``model`` itself (no ``module.`` prefix).
        """
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def generator(self, generator: torch.Generator | None) -> torch.Generator:
        """A generator that draws the same permutations on every rank.

        With the caller's generator (``fit(seed=...)``) every rank already holds the same
        state. Without one, rank 0 draws a seed and broadcasts it.
        """
        if generator is not None:
            return generator
        seed = torch.randint(0, 2**62, (1,), dtype=torch.int64) if self.is_main else torch.zeros(1, dtype=torch.int64)
        seed = seed.to(self._collective_device())
        dist.broadcast(seed, src=0)
        return torch.Generator().manual_seed(int(seed.item()))

    def batches(self, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                generator: torch.Generator | None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's shard of every global mini-batch of ``batch_size`` examples.

        One permutation per epoch (the same on every rank); each global batch is split by
        ``DistributedSampler(shuffle=False)``: rank r takes its positions r, r + N, ...,
        padded with the batch's first examples when the batch does not divide by N (as the
        sampler pads a data set), so every rank takes the same number of steps.
        """
        from .train import batches

        for xb, yb in batches(x, y, batch_size, shuffle=True, generator=generator):
            positions = list(DistributedSampler(range(len(yb)), num_replicas=self.world_size,
                                                rank=self.rank, shuffle=False))
            index = torch.as_tensor(positions, device=xb.device)
            shard = xb[index]
            if xb.ndim == 4 and xb.is_contiguous(memory_format=torch.channels_last):
                shard = shard.contiguous(memory_format=torch.channels_last)
            yield shard, yb[index]

    def sum(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Each tensor summed over the ranks (``all_reduce``), returned in its own dtype and device."""
        out = []
        for tensor in tensors:
            total = tensor.detach().to(self._collective_device(), copy=True)
            dist.all_reduce(total, op=dist.ReduceOp.SUM)
            out.append(total.to(tensor.device))
        return tuple(out)

    def evaluate(self, evaluate: Callable[..., Mapping[str, float]], model: nn.Module,
                 data: tuple[torch.Tensor, torch.Tensor], **options: Any) -> dict[str, float]:
        """Per-example means (loss, accuracy) over ``data``, each rank evaluating one contiguous
        shard, combined exactly by summing mean x count over the ranks."""
        x, y = data
        if len(y) < self.world_size:  # too few to shard: every rank evaluates all of it
            return dict(evaluate(model, data, **options))
        bounds = torch.linspace(0, len(y), self.world_size + 1).round().long().tolist()
        lo, hi = bounds[self.rank], bounds[self.rank + 1]
        metrics = dict(evaluate(model, (x[lo:hi], y[lo:hi]), **options))
        names = sorted(metrics)
        weighted = torch.tensor([metrics[k] * (hi - lo) for k in names], dtype=torch.float64)
        (total,) = self.sum(weighted)
        return {name: float(value) / len(y) for name, value in zip(names, total.tolist())}

    def save(self, obj: Any, path: str | os.PathLike) -> Path:
        """Rank 0 saves (atomically); every rank waits until the file is complete."""
        return save_on_main(obj, path)

    def _collective_device(self) -> torch.device:
        return self.device if dist.get_backend() == "nccl" else torch.device("cpu")


def context(device: torch.device | str) -> SingleProcess | DataParallel:
    """The training context of this process: :class:`DataParallel` under ``torchrun``, else
    :class:`SingleProcess` on ``device``.

    Args:
        device: the device ``fit`` would use alone. Under ``torchrun`` a CUDA device becomes
            ``cuda:LOCAL_RANK`` (one GPU per process); other devices stay as they are.
    Returns:
        The context; the process group is initialised on first use (NCCL for CUDA, gloo
        otherwise) from torchrun's environment and destroyed when the process exits.
    Raises:
        RuntimeError: torchrun asked for more processes than this node has GPUs.
    """
    device = torch.device(device)
    if not launched():
        return SingleProcess(device)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"LOCAL_RANK {local_rank} but this node has {torch.cuda.device_count()} GPU(s); "
                               "use torchrun --nproc_per_node at most the number of GPUs")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        atexit.register(_destroy)
    return DataParallel(device=device, world_size=dist.get_world_size(), rank=dist.get_rank(),
                        local_rank=local_rank)


def _destroy() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
