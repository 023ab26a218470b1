"""Model uncertainty: MC dropout and deep ensembles, and which cases to send to a human.

MC dropout (Gal and Ghahramani 2016) keeps dropout switched on at test time and averages
T stochastic forward passes; a deep ensemble (Lakshminarayanan et al. 2017) averages M
independently trained networks. Both give a predictive distribution whose spread says how
much the model "knows": the predictive entropy (total uncertainty) splits into the
expected entropy of the members (aleatoric part) and the mutual information between
prediction and weights (epistemic part, "BALD").
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn

from .calibrate import ArrayLike, check_probs_labels
from .nets.dropout_nets import dropout_cnn, mlp_head  # noqa: F401 - moved to cxrlab.nets; kept importable here

_EPS = 1e-12
DROPOUT_TYPES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)


@dataclass
class PredictiveSamples:
    """T stochastic predictions per example: ``samples`` (T, N, C) probabilities."""

    samples: np.ndarray
    method: str

    @property
    def mean(self) -> np.ndarray:
        """Predictive probabilities (N, C): the average over the T members."""
        return self.samples.mean(axis=0)

    def entropy(self) -> np.ndarray:
        """Predictive entropy H[mean p] (nats), shape (N,): total uncertainty."""
        return predictive_entropy(self.mean)

    def mutual_information(self) -> np.ndarray:
        """H[mean p] - mean H[p_t] (nats), shape (N,): disagreement between members (epistemic)."""
        return mutual_information(self.samples)

    def std(self) -> np.ndarray:
        """Standard deviation over members of each class probability, shape (N, C)."""
        return self.samples.std(axis=0)


def predictive_entropy(probs: ArrayLike) -> np.ndarray:
    """Entropy -sum_c p_c log p_c in nats of each row of (N, C) probabilities; 0 to log C."""
    p, _ = check_probs_labels(probs)
    return -np.sum(p * np.log(np.clip(p, _EPS, 1.0)), axis=1)


def mutual_information(samples: ArrayLike) -> np.ndarray:
    """BALD mutual information of (T, N, C) samples, shape (N,), >= 0 (nats)."""
    s = np.asarray(samples, dtype=np.float64)
    if s.ndim != 3 or s.shape[0] < 2:
        raise ValueError(f"samples must have shape (T, N, C) with T >= 2 members, got {s.shape}")
    total = -np.sum(s.mean(0) * np.log(np.clip(s.mean(0), _EPS, 1.0)), axis=1)
    expected = -np.mean(np.sum(s * np.log(np.clip(s, _EPS, 1.0)), axis=2), axis=0)
    return np.maximum(total - expected, 0.0)


def _inputs(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.ndim < 2 or len(t) == 0:
        raise ValueError(f"inputs must be a non-empty batch (N, ...), got shape {tuple(t.shape)}")
    return t.float()


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, desc: str):
    if os.environ.get("CXRLAB_PROGRESS", "1") in ("0", "false", "no"):
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False)


@torch.no_grad()
def _probs(model: nn.Module, x: torch.Tensor, batch_size: int, device: torch.device) -> np.ndarray:
    out = [torch.softmax(model(x[i:i + batch_size].to(device)).float(), dim=1).cpu()
           for i in range(0, len(x), batch_size)]
    return torch.cat(out).double().numpy()


def mc_dropout_predict(model: nn.Module, x: torch.Tensor | np.ndarray, n_samples: int = 30, *,
                       batch_size: int = 256, seed: int = 0) -> PredictiveSamples:
    """T = ``n_samples`` forward passes with only the dropout layers in training mode.

    Batch-norm layers stay in evaluation mode (switching the whole model to ``train()``
    would also update and use batch statistics). The model's modes are restored after.
    Raises ValueError when the model has no dropout layer (every pass would be identical).
    """
    if n_samples < 2:
        raise ValueError(f"n_samples must be at least 2 to measure spread, got {n_samples}")
    dropouts = [m for m in model.modules() if isinstance(m, DROPOUT_TYPES)]
    if not dropouts:
        raise ValueError("the model has no dropout layer, so MC dropout would repeat one prediction; "
                         "add nn.Dropout before the classifier or use an ensemble")
    x = _inputs(x)
    device = next(model.parameters()).device
    modes = {m: m.training for m in model.modules()}
    torch.manual_seed(seed)
    try:
        model.eval()
        for m in dropouts:
            m.train()
        samples = []
        bar = _progress(n_samples, "MC dropout")
        for _ in range(n_samples):
            samples.append(_probs(model, x, batch_size, device))
            bar.update(1)
        bar.close()
    finally:
        for m, mode in modes.items():
            m.train(mode)
    return PredictiveSamples(np.stack(samples), "MC dropout")


def ensemble_predict(models: Sequence[nn.Module], x: torch.Tensor | np.ndarray, *,
                     batch_size: int = 256) -> PredictiveSamples:
    """Softmax outputs of every member of a deep ensemble in eval mode, (M, N, C)."""
    models = list(models)
    if len(models) < 2:
        raise ValueError(f"an ensemble needs at least 2 models, got {len(models)}")
    x = _inputs(x)
    samples = []
    for model in models:
        was = model.training
        model.eval()
        try:
            samples.append(_probs(model, x, batch_size, next(model.parameters()).device))
        finally:
            model.train(was)
    shapes = {s.shape for s in samples}
    if len(shapes) != 1:
        raise ValueError(f"ensemble members disagree on the output shape: {shapes}")
    return PredictiveSamples(np.stack(samples), f"deep ensemble (M={len(models)})")


@torch.no_grad()
def penultimate_features(model: nn.Module, x: torch.Tensor, *, batch_size: int = 256) -> torch.Tensor:
    """The input of the model's last ``nn.Linear`` layer for every example, (N, F) on the CPU.

    Works for torchvision classifiers (ResNet's ``fc``) and any network ending in a linear
    layer; the model runs in eval mode (restored afterwards).
    """
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("the model has no nn.Linear layer to take features from")
    captured: list[torch.Tensor] = []
    handle = linears[-1].register_forward_hook(lambda module, inputs, output: captured.append(inputs[0].detach().cpu()))
    x = _inputs(x)
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    try:
        for i in range(0, len(x), batch_size):
            model(x[i:i + batch_size].to(device))
    finally:
        handle.remove()
        model.train(was)
    return torch.cat(captured).flatten(1).float()


def train_ensemble(build, train, val=None, *, members: int = 4, seed: int = 0, **fit_kwargs) -> list[nn.Module]:
    """Train ``members`` copies of ``build()`` from different random initialisations and batch orders.

    ``build`` is a function returning a fresh model; ``fit_kwargs`` go to ``cxrlab.train.fit``
    (``epochs`` required). Member m uses seed ``seed + m`` for both. Returns the models in eval mode.
    """
    from .train import fit

    if members < 2:
        raise ValueError(f"an ensemble needs at least 2 members, got {members}")
    if "epochs" not in fit_kwargs:
        raise ValueError("pass epochs=... (forwarded to cxrlab.train.fit)")
    models = []
    for m in range(members):
        torch.manual_seed(seed + m)
        model = build()
        fit(model, train, val, seed=seed + m, **fit_kwargs)
        models.append(model.eval())
    return models


def review_threshold(uncertainty: ArrayLike, fraction: float) -> float:
    """The uncertainty above which the top ``fraction`` (0-1) of cases go to human review.

    Choose it on validation data, then apply it to new cases with ``flag_for_review``.
    """
    u = np.asarray(uncertainty, dtype=np.float64)
    if not 0 < fraction < 1:
        raise ValueError(f"fraction is the share of cases to refer, in (0, 1); got {fraction}")
    if u.ndim != 1 or len(u) == 0:
        raise ValueError(f"uncertainty must be a non-empty 1-D array, got shape {u.shape}")
    return float(np.quantile(u, 1 - fraction))


def flag_for_review(uncertainty: ArrayLike, threshold: float) -> np.ndarray:
    """Bool array: True where the uncertainty exceeds ``threshold`` (refer to a radiologist)."""
    return np.asarray(uncertainty, dtype=np.float64) > threshold


def selective_accuracy(correct: ArrayLike, uncertainty: ArrayLike,
                       referred: Sequence[float] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)) -> np.ndarray:
    """Accuracy on the cases the model keeps when the most uncertain fraction is referred.

    ``correct`` is a bool array (model right or wrong), ``referred`` fractions in [0, 1).
    Returns one accuracy per fraction; a useful uncertainty makes it rise with the fraction.
    """
    c = np.asarray(correct, dtype=np.float64)
    u = np.asarray(uncertainty, dtype=np.float64)
    if c.shape != u.shape or c.ndim != 1 or len(c) == 0:
        raise ValueError(f"correct and uncertainty must be equal-length 1-D arrays, got {c.shape}, {u.shape}")
    order = np.argsort(u, kind="stable")  # most certain first
    out = []
    for f in referred:
        if not 0 <= f < 1:
            raise ValueError(f"referred fractions must lie in [0, 1), got {f}")
        keep = max(1, int(round(len(c) * (1 - f))))
        out.append(c[order[:keep]].mean())
    return np.array(out)


__all__ = [
    "dropout_cnn", "mlp_head", "penultimate_features", "train_ensemble", "PredictiveSamples",
    "predictive_entropy", "mutual_information", "mc_dropout_predict",
    "ensemble_predict", "review_threshold", "flag_for_review", "selective_accuracy",
]
