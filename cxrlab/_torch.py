"""Small torch helpers the whole package shares: eval mode, a model's device, progress bars."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TypeVar

import torch
import torch.nn as nn

from .settings import progress_enabled

T = TypeVar("T")


@contextmanager
def _mode(model: nn.Module, training: bool) -> Iterator[nn.Module]:
    flags = [(module, module.training) for module in model.modules()]
    model.train(training)
    try:
        yield model
    finally:
        for module, flag in flags:
            module.training = flag


def eval_mode(model: nn.Module) -> AbstractContextManager[nn.Module]:
    """Put ``model`` in eval mode; on exit give every submodule back its own train/eval flag.

    ``model.train(was_training)`` would reset every submodule to one flag and lose, for
    example, a frozen block deliberately kept in eval mode inside a training model.
    """
    return _mode(model, False)


def train_mode(model: nn.Module) -> AbstractContextManager[nn.Module]:
    """Put ``model`` in train mode (dropout active); restore every submodule's own flag on exit."""
    return _mode(model, True)


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a model with neither)."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def progress_bar(iterable: Iterable[T], *, total: int | None = None, desc: str = "",
                 enabled: bool | None = None, leave: bool = False, **options: object) -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm bar when progress is on (``enabled``, else ``$CXRLAB_PROGRESS``)."""
    if not progress_enabled(enabled):
        return iterable
    return tqdm_class()(iterable, total=total, desc=desc, leave=leave, **options)


def tqdm_class() -> type:
    """tqdm's bar class for here: the notebook widget where it can draw, the text bar elsewhere.

    ``tqdm.auto`` picks the widget in any Jupyter kernel; without ipywidgets installed it
    then falls back to the text bar with a ``TqdmWarning`` ("IProgress not found") in the
    reader's output. This checks for ipywidgets first, so the fallback is silent.
    """
    import importlib.util

    if importlib.util.find_spec("ipywidgets") is None:
        from tqdm.std import tqdm
    else:
        from tqdm.auto import tqdm
    return tqdm
