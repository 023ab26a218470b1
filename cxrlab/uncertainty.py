"""Model uncertainty: MC dropout and deep ensembles, and which cases to send to a human.

MC dropout (Gal and Ghahramani 2016) keeps dropout switched on at test time and averages
T stochastic forward passes; a deep ensemble (Lakshminarayanan et al. 2017) averages M
independently trained networks. Both give a predictive distribution whose spread says how
much the model "knows": the predictive entropy (total uncertainty) splits into the
expected entropy of the members (aleatoric part) and the mutual information between
prediction and weights (epistemic part, "BALD").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn

from ._checks import ArrayLike, positive_int, probability, require_finite, to_numpy
from ._torch import eval_mode, model_device, progress_bar
from .calibrate import check_probs_labels
from .nets.dropout_nets import dropout_cnn, mlp_head  # noqa: F401 - moved to cxrlab.nets; kept importable here
from .probabilities import probabilities

_EPS = 1e-12
DROPOUT_TYPES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)
#: Layers kept in eval mode while dropout samples: batch and instance norm (running statistics).
NORM_TYPES = (nn.modules.batchnorm._NormBase,)


@dataclass
class PredictiveSamples:
    """T stochastic predictions per example.

    ``samples`` (T, N, C) probabilities: softmax rows for exclusive classes, or sigmoids for a
    single-logit model (C = 1, the positive class) and for multi-label outputs
    (``multi_label``). ``method`` names how they were drawn.
    """

    samples: np.ndarray
    method: str
    multi_label: bool = False

    @property
    def mean(self) -> np.ndarray:
        """Predictive probabilities (N, C): the average over the T members."""
        return self.samples.mean(axis=0)

    @property
    def _bernoulli(self) -> bool:
        return self.multi_label or self.samples.shape[-1] == 1

    def entropy(self) -> np.ndarray:
        """Predictive entropy H[mean p] (nats), shape (N,): total uncertainty.

        Sigmoid outputs (one logit, or multi-label) count each output as a yes/no question:
        the sum over outputs of their binary entropies.
        """
        return predictive_entropy(self.mean, multi_label=self._bernoulli)

    def mutual_information(self) -> np.ndarray:
        """H[mean p] - mean H[p_t] (nats), shape (N,): disagreement between members (epistemic)."""
        return mutual_information(self.samples, multi_label=self._bernoulli)

    def std(self) -> np.ndarray:
        """Standard deviation over members of each class probability, shape (N, C)."""
        return self.samples.std(axis=0)


def _binary_entropy(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, _EPS, 1.0 - _EPS)
    return -(p * np.log(q) + (1.0 - p) * np.log(1.0 - q))


def _unit_interval(values: ArrayLike, name: str) -> np.ndarray:
    array = to_numpy(values, name).astype(np.float64)
    require_finite(array, name)
    if array.size and (array.min() < -1e-9 or array.max() > 1 + 1e-9):
        raise ValueError(f"{name} must be probabilities in [0, 1], got values in [{array.min():.3g}, {array.max():.3g}]")
    return array


def predictive_entropy(probs: ArrayLike, *, multi_label: bool = False) -> np.ndarray:
    """Entropy of each row of predicted probabilities, in nats.

    Args:
        probs: (N, C) class probabilities (rows sum to one), or (N,) / (N, 1) positive-class
            probabilities; with ``multi_label``, (N, C) independent sigmoid outputs.
        multi_label: sum the binary entropies of independent outputs.

    Returns:
        (N,) entropies: -sum_c p_c log p_c, in [0, log C] (binary entropies summed, in
        [0, C log 2], for ``multi_label``).

    Raises:
        ValueError: bad shapes, NaN or infinity (the row is named), values outside [0, 1].
    """
    if multi_label:
        p = _unit_interval(probs, "probs")
        if p.ndim != 2:
            raise ValueError(f"multi-label probs must have shape (N, C), got {p.shape}")
        return _binary_entropy(p).sum(axis=1)
    p, _ = check_probs_labels(probs)
    return -np.sum(p * np.log(np.clip(p, _EPS, 1.0)), axis=1)


def mutual_information(samples: ArrayLike, *, multi_label: bool = False) -> np.ndarray:
    """BALD mutual information between prediction and model (Houlsby et al. 2011), in nats.

    Args:
        samples: (T, N, C) probabilities of T >= 2 members; C = 1 is a single sigmoid output.
        multi_label: the C outputs are independent sigmoids (the sum of their MIs).

    Returns:
        (N,) values >= 0: H[mean_t p_t] - mean_t H[p_t].

    Raises:
        ValueError: a shape other than (T >= 2, N, C), NaN or infinity, values outside [0, 1].
    """
    s = _unit_interval(samples, "samples")
    if s.ndim != 3 or s.shape[0] < 2:
        raise ValueError(f"samples must have shape (T, N, C) with T >= 2 members, got {s.shape}")
    if multi_label or s.shape[2] == 1:
        total = _binary_entropy(s.mean(0)).sum(axis=1)
        expected = _binary_entropy(s).sum(axis=2).mean(axis=0)
        return np.maximum(total - expected, 0.0)
    total = -np.sum(s.mean(0) * np.log(np.clip(s.mean(0), _EPS, 1.0)), axis=1)
    expected = -np.mean(np.sum(s * np.log(np.clip(s, _EPS, 1.0)), axis=2), axis=0)
    return np.maximum(total - expected, 0.0)


def _inputs(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.ndim < 2 or len(t) == 0:
        raise ValueError(f"inputs must be a non-empty batch (N, ...), got shape {tuple(t.shape)}")
    t = t.float()
    require_finite(t, "inputs")
    return t


@torch.no_grad()
def _probs(model: nn.Module, x: torch.Tensor, batch_size: int, device: torch.device, multi_label: bool) -> np.ndarray:
    out = []
    for i in range(0, len(x), batch_size):
        logits = model(x[i:i + batch_size].to(device))
        if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
            raise ValueError(f"the model must return logits (N, C), got "
                             f"{tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__}")
        out.append(probabilities(logits.float(), multi_label=multi_label).cpu())
    return torch.cat(out).double().numpy()


def mc_dropout_predict(model: nn.Module, x: torch.Tensor | np.ndarray, n_samples: int = 30, *,
                       batch_size: int = 256, seed: int = 0, multi_label: bool = False) -> PredictiveSamples:
    """MC dropout (Gal and Ghahramani 2016): T forward passes with dropout switched on.

    Dropout layers (``nn.Dropout`` and its kin) are put in training mode and everything
    else in eval mode: batch-norm layers keep their running statistics (switching the whole
    model to ``train()`` would also update and use batch statistics). A model with *no*
    dropout module may write dropout as a function, ``F.dropout(x, p, self.training)``: then
    every module except the normalisation layers is put in training mode, so that such calls
    sample, and the passes are checked to differ; if they do not, the model has no dropout and
    the call is refused. The model's modes are restored after, submodule by submodule, and the
    global torch random state is left as it was.

    Args:
        model: a classifier returning logits (N, C).
        x: inputs (N, ...), finite.
        n_samples: T, the number of stochastic passes (>= 2).
        batch_size: inputs per forward pass (>= 1).
        seed: seed of the dropout masks (the same seed gives the same samples).
        multi_label: the outputs are independent findings (sigmoids). Probabilities follow
            ``cxrlab.probabilities.probabilities``: a sigmoid for one logit, else a softmax.

    Returns:
        PredictiveSamples with ``samples`` (T, N, C).

    Raises:
        ValueError: n_samples < 2, inputs not finite (the index is named), non-finite logits,
            or a model in which no dropout (module or function) changes the output.
    """
    n_samples = positive_int(n_samples, "n_samples (at least 2 to measure spread)", minimum=2)
    batch_size = positive_int(batch_size, "batch_size")
    model_modules = list(model.modules())
    dropouts = [m for m in model_modules if isinstance(m, DROPOUT_TYPES)]
    x = _inputs(x)
    device = model_device(model)
    samples = []
    with eval_mode(model), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        if dropouts:
            for m in dropouts:
                m.train()
        else:  # dropout written as a function follows the flags of the modules that call it
            for m in model_modules:
                m.training = not isinstance(m, NORM_TYPES)
        torch.manual_seed(seed)
        for _ in progress_bar(range(n_samples), total=n_samples, desc="MC dropout"):
            samples.append(_probs(model, x, batch_size, device, multi_label))
    stacked = np.stack(samples)
    if not dropouts and np.array_equal(stacked[0], stacked[1]):
        raise ValueError("the model has no dropout: it holds no dropout module, and with its modules in training "
                         "mode two passes gave the same output, so no F.dropout(x, p, self.training) call "
                         "either; MC dropout would repeat one prediction: add nn.Dropout before the classifier "
                         "or use an ensemble")
    return PredictiveSamples(stacked, "MC dropout", multi_label)


def ensemble_predict(models: Sequence[nn.Module], x: torch.Tensor | np.ndarray, *,
                     batch_size: int = 256, multi_label: bool = False) -> PredictiveSamples:
    """Outputs of every member of a deep ensemble (Lakshminarayanan et al. 2017), in eval mode.

    Args:
        models: M >= 2 trained models with the same output shape.
        x: inputs (N, ...), finite.
        batch_size: inputs per forward pass (>= 1).
        multi_label: the outputs are independent findings (sigmoids); a single logit always
            gets a sigmoid (``cxrlab.probabilities.probabilities``).

    Returns:
        PredictiveSamples with ``samples`` (M, N, C). Each model's modes are restored after.

    Raises:
        ValueError: fewer than 2 models, inputs or logits not finite, members that disagree
            on the output shape.
    """
    models = list(models)
    if len(models) < 2:
        raise ValueError(f"an ensemble needs at least 2 models, got {len(models)}")
    batch_size = positive_int(batch_size, "batch_size")
    x = _inputs(x)
    samples = []
    for model in models:
        with eval_mode(model):
            samples.append(_probs(model, x, batch_size, model_device(model), multi_label))
    shapes = {s.shape for s in samples}
    if len(shapes) != 1:
        raise ValueError(f"ensemble members disagree on the output shape: {shapes}")
    return PredictiveSamples(np.stack(samples), f"deep ensemble (M={len(models)})", multi_label)


@torch.no_grad()
def penultimate_features(model: nn.Module, x: torch.Tensor, *, batch_size: int = 256) -> torch.Tensor:
    """The input of the model's last ``nn.Linear`` layer for every example.

    Works for torchvision classifiers (ResNet's ``fc``) and any network ending in a linear
    layer; the model runs in eval mode (each submodule's mode restored afterwards).

    Args:
        model: a network with at least one ``nn.Linear``.
        x: inputs (N, ...), finite.
        batch_size: inputs per forward pass (>= 1).

    Returns:
        float32 tensor (N, F) on the CPU.

    Raises:
        ValueError: no ``nn.Linear`` layer, inputs empty or not finite (the index is named).
    """
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("the model has no nn.Linear layer to take features from")
    captured: list[torch.Tensor] = []
    handle = linears[-1].register_forward_hook(lambda module, inputs, output: captured.append(inputs[0].detach().cpu()))
    batch_size = positive_int(batch_size, "batch_size")
    x = _inputs(x)
    device = model_device(model)
    try:
        with eval_mode(model):
            for i in range(0, len(x), batch_size):
                model(x[i:i + batch_size].to(device))
    finally:
        handle.remove()
    return torch.cat(captured).flatten(1).float()


def train_ensemble(build, train, val=None, *, members: int = 4, seed: int = 0, **fit_kwargs) -> list[nn.Module]:
    """Train ``members`` copies of ``build()`` from different random initialisations and batch orders.

    Args:
        build: function returning a fresh model.
        train, val: data for ``cxrlab.train.fit``.
        members: M >= 2.
        seed: member m uses seed ``seed + m`` for its initialisation and its batch order.
        **fit_kwargs: passed to ``cxrlab.train.fit`` (``epochs`` required).

    Returns:
        The M trained models, in eval mode (Lakshminarayanan et al. 2017).

    Raises:
        ValueError: members < 2, or no ``epochs``.
    """
    from .train import fit

    members = positive_int(members, "members (an ensemble needs at least 2)", minimum=2)
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
    Returns the (1 - fraction) quantile of ``uncertainty`` (N,), in its units.

    Raises:
        ValueError: fraction outside (0, 1), an empty or non-1-D array, NaN or infinity
            (the index is named).
    """
    u = to_numpy(uncertainty, "uncertainty").astype(np.float64)
    fraction = probability(fraction, "fraction (the share of cases to refer)")
    if u.ndim != 1 or len(u) == 0:
        raise ValueError(f"uncertainty must be a non-empty 1-D array, got shape {u.shape}")
    require_finite(u, "uncertainty")
    return float(np.quantile(u, 1 - fraction))


def flag_for_review(uncertainty: ArrayLike, threshold: float) -> np.ndarray:
    """Bool array: True where the uncertainty exceeds ``threshold`` (refer to a radiologist).

    Raises:
        ValueError: NaN or infinity in ``uncertainty`` (the index is named) or in ``threshold``:
            a missing uncertainty must not read as "certain".
    """
    u = to_numpy(uncertainty, "uncertainty").astype(np.float64)
    require_finite(u, "uncertainty")
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    return u > threshold


def selective_accuracy(correct: ArrayLike, uncertainty: ArrayLike,
                       referred: Sequence[float] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)) -> np.ndarray:
    """Accuracy on the cases the model keeps when the most uncertain fraction is referred.

    Args:
        correct: (N,) bool, the model right or wrong.
        uncertainty: (N,) finite uncertainty scores (larger = less sure).
        referred: fractions in [0, 1) of the most uncertain cases sent to a human.

    Returns:
        float array (len(referred),): accuracy on the cases kept; a useful uncertainty makes
        it rise with the fraction.

    Raises:
        ValueError: arrays of different shapes, empty, or not finite (the index is named), or
            a fraction outside [0, 1).
    """
    c = to_numpy(correct, "correct").astype(np.float64)
    u = to_numpy(uncertainty, "uncertainty").astype(np.float64)
    if c.shape != u.shape or c.ndim != 1 or len(c) == 0:
        raise ValueError(f"correct and uncertainty must be equal-length 1-D arrays, got {c.shape}, {u.shape}")
    require_finite(c, "correct")
    require_finite(u, "uncertainty")
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
