"""Sanity checks for saliency maps (Adebayo et al. 2018): randomise the model, compare maps.

An explanation that is faithful to the model must change when the model's learned
weights are replaced by random ones. ``randomized_copy`` re-initialises the weights of a
copy of the model (all of them, or only some layers); ``cascading_randomization``
randomises layer after layer from the output towards the input and measures, after each
step, the Spearman rank correlation between the original and the new maps. A method
whose maps stay highly correlated is showing the image (edges, the input itself), not
what the model learned.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from ._common import check_maps, check_model

Explain = Callable[[nn.Module], torch.Tensor]


def _reset(module: nn.Module) -> None:
    for sub in module.modules():
        reset = getattr(sub, "reset_parameters", None)
        if callable(reset) and any(True for _ in sub.parameters(recurse=False)):
            reset()
        elif any(True for _ in sub.parameters(recurse=False)):
            for param in sub.parameters(recurse=False):
                nn.init.normal_(param, std=0.02)


def randomized_copy(model: nn.Module, layers: Sequence[str] | None = None, seed: int = 0) -> nn.Module:
    """A deep copy of ``model`` with the weights of ``layers`` re-initialised at random.

    Args:
        model: any nn.Module.
        layers: names as in ``model.named_modules()`` (e.g. ``["fc", "layer4"]``); None
            re-initialises every layer.
        seed: makes the new weights repeatable (the global torch random state is restored).

    Returns:
        The copy. Each layer uses its own ``reset_parameters`` (PyTorch's default
        initialisation; BatchNorm also forgets its running statistics); the original model is
        not changed.

    Raises:
        TypeError: model is not an nn.Module.
        ValueError: a layer name the model does not have.
    """
    model = check_model(model)
    clone = copy.deepcopy(model)
    named = dict(clone.named_modules())
    names = [""] if layers is None else list(layers)
    for name in names:
        if name not in named:
            raise ValueError(f"no layer named {name!r} in the model; names are those of model.named_modules(), "
                             f"e.g. {[n for n, _ in list(clone.named_children())[:5]]}")
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        for name in names:
            _reset(named[name])
    finally:
        torch.random.set_rng_state(state)
    return clone


def rank_correlation(maps_a: torch.Tensor, maps_b: torch.Tensor, absolute: bool = True) -> torch.Tensor:
    """Spearman rank correlation between two batches of maps, ties averaged (scipy.stats.spearmanr).

    Args:
        maps_a, maps_b: float (B, H, W) maps of the same shape, finite.
        absolute: compare |maps| as Adebayo et al. (2018) did (a sign flip is not a change of
            where the evidence is).

    Returns:
        float tensor (B,) in [-1, 1]; NaN for a pair in which a map is constant (no ranking).

    Raises:
        ValueError: shapes that differ or are not (B, H, W), NaN or infinity (the map is named).
    """
    from scipy.stats import spearmanr

    a = check_maps(maps_a, "maps_a")
    b = check_maps(maps_b, "maps_b")
    if a.shape != b.shape:
        raise ValueError(f"need two batches of maps of the same shape (B, H, W), got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    if absolute:
        a, b = a.abs(), b.abs()
    values = []
    for x, y in zip(a.reshape(len(a), -1).numpy(), b.reshape(len(b), -1).numpy()):
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            values.append(float("nan"))
        else:
            values.append(float(spearmanr(x, y).statistic))
    return torch.tensor(values)


def default_layer_order(model: nn.Module) -> list[str]:
    """Top-level layers that hold weights, from the output back to the input."""
    return [name for name, child in model.named_children() if any(True for _ in child.parameters())][::-1]


def cascading_randomization(model: nn.Module, explain: Explain, layers: Sequence[str] | None = None,
                            seed: int = 0) -> tuple[pd.DataFrame, dict[str, torch.Tensor]]:
    """Randomise layers cumulatively from the output down and compare the maps each time (Adebayo et al. 2018).

    Raises ValueError when the model has no layers with weights, or ``explain`` returns maps
    that are not finite (B, H, W). ``explain(m)`` must return maps (B, H, W) for the model
    ``m`` it is given, e.g.
    ``lambda m: grad_cam(m, images, targets, target_layer=m.layer4)`` (fix the targets so every model
    explains the same class). ``layers``: the order to randomise in (default: the
    top-level layers with weights, output first). Returns a table with one row per step
    (``randomized_up_to``, mean and standard deviation of the rank correlation with the
    original maps) and the maps of every step (key "original" for the trained model).
    """
    model = check_model(model)
    order = default_layer_order(model) if layers is None else list(layers)
    if not order:
        raise ValueError("the model has no layers with weights to randomise")
    original = explain(model).detach()
    maps = {"original": original}
    rows = []
    for step in range(1, len(order) + 1):
        changed = randomized_copy(model, order[:step], seed=seed)
        new = explain(changed).detach()
        rho = rank_correlation(original, new)
        maps[order[step - 1]] = new
        finite = rho[~torch.isnan(rho)].numpy()  # constant maps have no ranking (NaN)
        rows.append({"randomized_up_to": order[step - 1],
                     "spearman_mean": float(finite.mean()) if len(finite) else float("nan"),
                     "spearman_std": float(finite.std()) if len(finite) else float("nan")})
    return pd.DataFrame(rows), maps
