"""Read a training run's curves: underfitting, a good fit, or overfitting, with the evidence.

A verdict from the last epoch alone ("validation accuracy is 5 points below training, so
it overfits") is fragile: one noisy epoch flips it, and it cannot tell a gap that is
opening from one that is closing. ``diagnose`` looks at the last ``last`` epochs of a
``cxrlab.train.History`` and measures

- the generalisation gap (training minus validation accuracy), its mean and its trend
  (the least-squares slope in accuracy per epoch);
- the epoch where the validation loss was lowest and how far it has risen since;
- whether the training loss is still falling (the model could still learn more).

Every threshold is a parameter, so the reader sees (and can change) what each verdict means.
``gradient_norms`` diagnoses a network before training: how the gradient's size changes
from the last layer to the first (vanishing or exploding gradients, chapter 6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from ._checks import positive_int
from ._torch import train_mode
from .train import History

VERDICTS = ("underfitting", "good fit", "overfitting")


def least_squares_slope(values: Sequence[float]) -> float:
    """Slope of the least-squares line through ``values`` against 1, 2, 3, ... (units per epoch).

    Returns:
        The slope (units of ``values`` per step).

    Raises:
        ValueError: for fewer than two values, or NaN / infinity among them.
    """
    y = np.asarray(values, dtype=float)
    if y.ndim != 1 or len(y) < 2:
        raise ValueError(f"need at least two values for a slope, got {len(y) if y.ndim == 1 else y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("values contain NaN or infinity; was the run diverging?")
    x = np.arange(1, len(y) + 1, dtype=float)
    x -= x.mean()
    return float((x * (y - y.mean())).sum() / (x * x).sum())


@dataclass
class FitDiagnosis:
    """The verdict and the numbers behind it. Accuracies and gaps are fractions (0.05 = 5 points)."""

    verdict: str
    gap: float                 # mean train - val accuracy over the window
    gap_slope: float           # least-squares slope of the gap over the window, per epoch
    val_loss_min_epoch: int    # 1-based epoch of the lowest validation loss
    val_loss_rise: float       # last val loss / its minimum - 1 (0.10 = 10 % above the minimum)
    train_loss_trend: float    # slope of the train loss over the window / its mean, per epoch
    train_accuracy: float      # mean over the window
    val_accuracy: float        # mean over the window
    window: tuple[int, int]    # first and last epoch of the window (1-based, inclusive)
    reasons: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One paragraph: the verdict, then the evidence."""
        a, b = self.window
        return (f"{self.verdict.upper()} (epochs {a}-{b}): train acc {self.train_accuracy:.1%}, "
                f"val acc {self.val_accuracy:.1%}, gap {self.gap:+.1%} changing {self.gap_slope:+.2%}/epoch; "
                f"val loss lowest at epoch {self.val_loss_min_epoch}, now {self.val_loss_rise:+.0%} above it; "
                f"train loss changing {self.train_loss_trend:+.1%}/epoch. " + " ".join(self.reasons))


def diagnose(history: History, *, last: int = 3, gap_tolerance: float = 0.03,
             widening_tolerance: float = 0.002, rise_tolerance: float = 0.05,
             min_train_accuracy: float = 0.0, still_learning: float = 0.03) -> FitDiagnosis:
    """Diagnose a run from its training and validation curves.

    Window: the last ``last`` epochs (at least 2; the whole run if shorter). Verdict:

    - **overfitting** when the mean gap exceeds ``gap_tolerance`` and the curves show
      generalisation getting worse: the gap widens faster than ``widening_tolerance`` per
      epoch, or the last validation loss is more than ``rise_tolerance`` (relative) above
      its minimum;
    - else **underfitting** when the mean training accuracy is below ``min_train_accuracy``,
      or the training loss still falls faster than ``still_learning`` of its value per
      epoch while the validation loss is still at its minimum (more training would help);
    - else **good fit**.

    Accuracies and tolerances are fractions in [0, 1]. Raises ValueError when the history
    has no validation curve or fewer than two epochs.

    Returns:
        A :class:`FitDiagnosis` with the verdict and the numbers behind it.

    Raises:
        TypeError: when ``history`` is not a History.
        ValueError: for a history without a validation curve or with fewer than two epochs,
            ``last`` below 2, or a tolerance outside [0, 1].
    """
    if not isinstance(history, History):
        raise TypeError(f"diagnose needs a cxrlab.train.History (what fit returns), got {type(history).__name__}")
    if not history.val_loss or len(history.val_loss) != history.epochs:
        raise ValueError("the history has no validation curve: call fit(model, train, val, ...) with val data")
    if history.epochs < 2:
        raise ValueError(f"need at least 2 epochs to see a trend, the run has {history.epochs}")
    positive_int(last, "last (epochs in the window)", minimum=2)
    for name, value in dict(gap_tolerance=gap_tolerance, widening_tolerance=widening_tolerance,
                            rise_tolerance=rise_tolerance, min_train_accuracy=min_train_accuracy,
                            still_learning=still_learning).items():
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} is a fraction and must lie in [0, 1], got {value}")

    k = min(last, history.epochs)
    start = history.epochs - k
    train_acc = np.asarray(history.train_accuracy[start:], dtype=float)
    val_acc = np.asarray(history.val_accuracy[start:], dtype=float)
    gap_curve = train_acc - val_acc
    val_loss = np.asarray(history.val_loss, dtype=float)
    train_loss = np.asarray(history.train_loss[start:], dtype=float)

    gap = float(gap_curve.mean())
    gap_slope = least_squares_slope(gap_curve)
    min_epoch = int(np.argmin(val_loss)) + 1
    rise = float(val_loss[-1] / val_loss.min() - 1.0)
    train_trend = least_squares_slope(train_loss) / max(float(train_loss.mean()), 1e-12)

    reasons: list[str] = []
    widening = gap_slope > widening_tolerance
    risen = rise > rise_tolerance
    if gap > gap_tolerance and (widening or risen):
        verdict = "overfitting"
        reasons.append(f"The gap ({gap:.1%}) exceeds the tolerance ({gap_tolerance:.1%})")
        evidence = []
        if widening:
            evidence.append(f"it is widening ({gap_slope:+.2%}/epoch > {widening_tolerance:.2%})")
        if risen:
            evidence.append(f"the validation loss has risen {rise:.0%} from its minimum at epoch "
                            f"{min_epoch} (> {rise_tolerance:.0%})")
        reasons[-1] += " and " + " and ".join(evidence) + "."
    elif float(train_acc.mean()) < min_train_accuracy:
        verdict = "underfitting"
        reasons.append(f"Training accuracy ({train_acc.mean():.1%}) is below the target "
                       f"({min_train_accuracy:.1%}): the model does not fit even the training data.")
    elif -train_trend > still_learning and min_epoch == history.epochs:
        verdict = "underfitting"
        reasons.append(f"The training loss still falls {-train_trend:.1%}/epoch (> {still_learning:.1%}) and the "
                       "validation loss is at its lowest in the last epoch: more training would still help.")
    else:
        verdict = "good fit"
        if gap > gap_tolerance:
            reasons.append(f"The gap ({gap:.1%}) exceeds {gap_tolerance:.1%} but is not widening and the "
                           "validation loss has not risen: a stable gap, not a worsening one.")
        else:
            reasons.append(f"The gap ({gap:.1%}) is within {gap_tolerance:.1%} and training has levelled off.")
    return FitDiagnosis(
        verdict=verdict, gap=gap, gap_slope=gap_slope, val_loss_min_epoch=min_epoch, val_loss_rise=rise,
        train_loss_trend=train_trend, train_accuracy=float(train_acc.mean()),
        val_accuracy=float(val_acc.mean()), window=(start + 1, history.epochs), reasons=reasons,
    )


def gradient_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> pd.DataFrame:
    """L2 norm of the cross-entropy gradient of every conv/linear weight, input to output.

    ``model`` is used as it is (call it right after construction for "at initialisation");
    batch norm uses batch statistics (train mode), as in the first training step. The
    gradients are computed with ``torch.autograd.grad``: no ``.grad`` is left behind, the
    weights and batch-norm running statistics are untouched, and every submodule gets its
    own train/eval flag back.

    Args:
        model: a network with Conv2d or Linear layers.
        x: a non-empty (N, C, H, W) image batch.
        y: N integer class labels.

    Returns:
        A table with columns ``layer`` (1 = nearest the input), ``name``, ``grad_norm`` and
        ``weight_norm``, one row per Conv2d/Linear layer in module order.

    Raises:
        ValueError: for an empty or mis-shaped batch, or a model without Conv2d/Linear layers.
    """
    if x.ndim != 4 or len(x) != len(y) or len(x) == 0:
        raise ValueError(f"need a non-empty image batch (N, C, H, W) and N labels, got {tuple(x.shape)} "
                         f"and {tuple(y.shape)}")
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if not layers:
        raise ValueError("the model has no Conv2d or Linear layers to measure")
    buffers = {name: b.clone() for name, b in model.named_buffers()}  # batch-norm running stats
    try:
        with train_mode(model):
            device = layers[0][1].weight.device
            loss = F.cross_entropy(model(x.to(device)), y.to(device))
            grads = torch.autograd.grad(loss, [m.weight for _, m in layers])
    finally:
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
    return pd.DataFrame({
        "layer": range(1, len(layers) + 1),
        "name": [name for name, _ in layers],
        "grad_norm": [g.norm().item() for g in grads],
        "weight_norm": [m.weight.detach().norm().item() for _, m in layers],
    })
