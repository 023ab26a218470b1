"""Per-finding metrics of a multi-label chest model: AUROC, AUPRC, prevalence, intervals.

A multi-label model answers one yes/no question per finding, so it is scored per finding:

- **AUROC**, the probability that a random positive image scores above a random negative
  one (Hanley and McNeil 1982); it does not depend on prevalence, which is why papers
  compare it across data sets.
- **AUPRC** (average precision, scikit-learn's step-wise estimator), which does: its floor is
  the finding's prevalence, the score of a model that guesses. Read it against that floor.
- a **patient-level bootstrap interval** for the AUROC (``cxrlab.bootstrap``): images of one
  patient are not independent, so patients are resampled when their ids are known.

The computations are scikit-learn's ``roc_auc_score`` and ``average_precision_score``; this
module checks inputs and assembles the table a chapter shows.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from ._checks import positive_int, to_numpy
from .bootstrap import bootstrap_interval

#: CheXNet's per-finding test AUROCs (Rajpurkar et al. 2017, arXiv:1711.05225, Table 1):
#: a DenseNet-121 on ChestX-ray14 at 224 px, on its own split of the 112,120 images.
CHEXNET_AUROC = {
    "atelectasis": 0.8094, "cardiomegaly": 0.9248, "effusion": 0.8638, "infiltration": 0.7345,
    "mass": 0.8676, "nodule": 0.7802, "pneumonia": 0.7680, "pneumothorax": 0.8887,
    "consolidation": 0.7901, "edema": 0.8878, "emphysema": 0.9371, "fibrosis": 0.8047,
    "pleural thickening": 0.8062, "hernia": 0.9164,
}


def _check(labels: object, scores: object) -> tuple[np.ndarray, np.ndarray]:
    y = to_numpy(labels, "labels").astype(float)
    s = to_numpy(scores, "scores").astype(float)
    if y.ndim == 1:
        y = y[:, None]
    if s.ndim == 1:
        s = s[:, None]
    if y.ndim != 2 or y.shape != s.shape:
        raise ValueError(f"labels and scores must have the same shape, (N, F) or (N,); got {y.shape} and {s.shape}")
    if len(y) == 0:
        raise ValueError("labels and scores are empty: nothing to score")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0/1 (multi-label targets, one column per finding)")
    if not np.isfinite(s).all():
        bad = int(np.argwhere(~np.isfinite(s))[0, 0])
        raise ValueError(f"scores hold NaN or infinity (first at row {bad}); check the model's outputs")
    return y, s


def auroc(labels: object, scores: object) -> float:
    """Area under the ROC curve of one finding.

    Args:
        labels: (N,) 0/1 targets.
        scores: (N,) any real scores (probabilities or logits: only their order matters).

    Returns:
        float in [0, 1]; 0.5 is chance.

    Raises:
        ValueError: shapes differ, labels not 0/1, non-finite scores, or only one class present
            (AUROC is undefined without positives and negatives).
    """
    from sklearn.metrics import roc_auc_score

    y, s = _check(labels, scores)
    if y.shape[1] != 1:
        raise ValueError(f"auroc scores one finding; got {y.shape[1]} columns (use per_finding_table)")
    positives = int(y.sum())
    if positives in (0, len(y)):
        raise ValueError(f"AUROC needs positives and negatives; got {positives} positives of {len(y)}")
    return float(roc_auc_score(y[:, 0], s[:, 0]))


def _rank_auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """AUROC of one finding by the Mann-Whitney U statistic: (rank sum of the positives - P(P+1)/2) / (P N).

    Ties get average ranks, so it equals ``sklearn.metrics.roc_auc_score`` (a test checks it);
    without sklearn's input checks it is the fast statistic the bootstrap calls on every resample.
    Raises ValueError when a resample has no positive or no negative (the bootstrap skips it).
    """
    from scipy.stats import rankdata

    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        raise ValueError("AUROC needs positives and negatives")
    ranks = rankdata(scores)
    return float((ranks[labels > 0].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def auprc(labels: object, scores: object) -> float:
    """Area under the precision-recall curve of one finding (average precision).

    Args:
        labels: (N,) 0/1 targets; scores: (N,) real scores.

    Returns:
        float in [0, 1]; a model that guesses scores about the prevalence.

    Raises:
        ValueError: as ``auroc``, or no positive at all.
    """
    from sklearn.metrics import average_precision_score

    y, s = _check(labels, scores)
    if y.shape[1] != 1:
        raise ValueError(f"auprc scores one finding; got {y.shape[1]} columns (use per_finding_table)")
    if y.sum() == 0:
        raise ValueError("AUPRC needs at least one positive")
    return float(average_precision_score(y[:, 0], s[:, 0]))


def macro_auroc(labels: object, scores: object) -> float:
    """Mean AUROC over the findings that have both positives and negatives (NaN if none)."""
    y, s = _check(labels, scores)
    values = [auroc(y[:, k], s[:, k]) for k in range(y.shape[1]) if 0 < y[:, k].sum() < len(y)]
    return float(np.mean(values)) if values else float("nan")


def per_finding_table(labels: object, scores: object, classes: Sequence[str], *,
                      patient_ids: Sequence | np.ndarray | None = None, n_resamples: int | None = 1000,
                      confidence: float = 0.95, seed: int = 0, reference: dict[str, float] | None = None
                      ) -> pd.DataFrame:
    """One row per finding: prevalence, positives, AUROC with its bootstrap interval, AUPRC.

    Args:
        labels: (N, F) 0/1 targets; scores: (N, F) model scores (probabilities or logits).
        classes: the F finding names.
        patient_ids: (N,) patient of each image: the interval resamples patients (a cluster
            bootstrap). None resamples images (say so when you report it).
        n_resamples, confidence, seed: of the bootstrap (``cxrlab.bootstrap.bootstrap_interval``);
            ``n_resamples=None`` skips the intervals (NaN), for quick comparisons.
        reference: optional published AUROC per finding name, shown as a last column.

    Returns:
        DataFrame indexed by finding with columns ``prevalence`` (fraction 0-1), ``positives``
        (int), ``auroc``, ``auroc_low``, ``auroc_high``, ``auprc`` (NaN where undefined: no
        positive, or too few to bootstrap), ``interval_unit`` and, with ``reference``, ``published_auroc``.

    Raises:
        ValueError: shapes disagree, labels are not 0/1, scores not finite, or ``classes`` has
            the wrong length.
    """
    y, s = _check(labels, scores)
    if n_resamples is not None:
        n_resamples = positive_int(n_resamples, "n_resamples")
    classes = list(classes)
    if len(classes) != y.shape[1]:
        raise ValueError(f"classes has {len(classes)} names for {y.shape[1]} columns")
    if patient_ids is not None:
        patient_ids = np.asarray(patient_ids)
        if len(patient_ids) != len(y):
            raise ValueError(f"patient_ids has {len(patient_ids)} entries for {len(y)} images")
    rows = []
    for k, name in enumerate(classes):
        yk, sk = y[:, k], s[:, k]
        positives = int(yk.sum())
        row = {"finding": name, "prevalence": float(yk.mean()), "positives": positives,
               "auroc": np.nan, "auroc_low": np.nan, "auroc_high": np.nan, "auprc": np.nan,
               "interval_unit": "patients" if patient_ids is not None else "images"}
        if 0 < positives < len(yk):
            row["auroc"] = auroc(yk, sk)
            row["auprc"] = auprc(yk, sk)
            if n_resamples is not None:
                try:
                    interval = bootstrap_interval(_rank_auroc, yk, sk, clusters=patient_ids, n_resamples=n_resamples,
                                                  confidence=confidence, seed=seed)
                    row["auroc_low"], row["auroc_high"] = interval.low, interval.high
                except ValueError:
                    pass  # too few positives for enough defined resamples: no interval
        if reference is not None:
            row["published_auroc"] = reference.get(name, np.nan)
        rows.append(row)
    return pd.DataFrame(rows).set_index("finding")


def chexnet_reference(classes: Sequence[str]) -> dict[str, str]:
    """CheXNet's published AUROC for each finding name, as text (merged findings list both).

    "nodule/mass" gives "0.780 (nodule), 0.868 (mass)"; a name CheXNet did not report gives "".
    """
    out = {}
    for name in classes:
        parts = [p.strip() for p in str(name).split("/")]
        values = [f"{CHEXNET_AUROC[p]:.3f}" + (f" ({p})" if len(parts) > 1 else "") for p in parts if p in CHEXNET_AUROC]
        out[name] = ", ".join(values)
    return out


class SingleFinding(nn.Module):
    """A multi-label model seen as a two-class model of one finding.

    Its output is the logit pair ``[0, z_k]`` for finding ``index``, so a softmax over it gives
    exactly ``sigmoid(z_k)``, the finding's own probability. Tools written for mutually
    exclusive classes (a softmax over the outputs, e.g. deletion and insertion curves) then
    score the probability a multi-label model really gives, with target class 1.

    Args:
        model: maps (B, C, H, W) to (B, F) logits. index: the finding, 0 <= index < F.
    """

    def __init__(self, model: nn.Module, index: int):
        super().__init__()
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
            raise ValueError(f"index must be a finding's column (an int >= 0), got {index!r}")
        self.model = model
        self.index = int(index)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x)
        if self.index >= logits.shape[1]:
            raise ValueError(f"finding {self.index} does not exist: the model has {logits.shape[1]} outputs")
        z = logits[:, self.index:self.index + 1]
        return torch.cat([torch.zeros_like(z), z], dim=1)


__all__ = ["SingleFinding", "auroc", "auprc", "macro_auroc", "per_finding_table", "chexnet_reference", "CHEXNET_AUROC"]
