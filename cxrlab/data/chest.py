"""Chest radiographs as a multi-label bundle: real ChestMNIST or PneumoniaMNIST when fetched,
synthetic phantoms when not.

``load_chest()`` returns a ChestBundle: train/val/test TensorDatasets of images (N, C, H, W)
float32 in [0, 1] with **multi-label** targets (N, F) float32 in {0, 1} (one column per finding
in ``classes``; findings co-occur, so each column is its own yes/no question), one metadata
table per split and, for phantoms, the test split's masks per finding and lung fields.

Which data it takes (``source="auto"``), in order:

1. **ChestMNIST** (MedMNIST v2, Yang et al. 2023): NIH ChestX-ray14's 112,120 radiographs of
   30,805 patients (Wang et al. 2017) with its 14 text-mined findings and its official
   patient-wise split, resized to 64 or 128 px; CC BY 4.0.
2. **PneumoniaMNIST** (Kermany et al. 2018): 5,856 paediatric radiographs, one finding
   (pneumonia), MedMNIST's splits.
3. **Phantoms** (``cxrlab.phantom``): six findings with exact masks, prevalence and
   co-occurrence from the NIH table, split by patient.

Fetch the real sets with ``python data_scripts/fetch.py chest``. The banner
(``chest_source()``) and ``ChestBundle.summary()`` say which one is in use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import TensorDataset

from .bundle import DataBundle, images_to_tensor
from .paths import dataset_dir, read_source_note

CHESTMNIST = "chestmnist"
PNEUMONIAMNIST = "pneumoniamnist"
#: ChestMNIST's 14 findings, in the column order of its ``*_labels`` arrays (medmnist 3.0.2 INFO)
CHESTMNIST_CLASSES = ["atelectasis", "cardiomegaly", "effusion", "infiltration", "mass", "nodule",
                      "pneumonia", "pneumothorax", "consolidation", "edema", "emphysema", "fibrosis",
                      "pleural thickening", "hernia"]
PNEUMONIAMNIST_CLASSES = ["pneumonia"]
REAL_SETS = {CHESTMNIST: CHESTMNIST_CLASSES, PNEUMONIAMNIST: PNEUMONIAMNIST_CLASSES}
REAL_SIZES = (28, 64, 128, 224)
DISPLAY_NAMES = {CHESTMNIST: "ChestMNIST", PNEUMONIAMNIST: "PneumoniaMNIST", "phantom": "Phantom"}
FETCH_HINT = "run `python data_scripts/fetch.py chest` to get real ChestMNIST (NIH ChestX-ray14)"
SOURCES = ("auto", "real", CHESTMNIST, PNEUMONIAMNIST, "phantom", "standin")
DEFAULT_PHANTOMS = 1200
SPLITS = ("train", "val", "test")
# kept for callers of the single-set API
REAL_NAME = PNEUMONIAMNIST


def real_file_name(size: int, name: str = PNEUMONIAMNIST) -> str:
    """File name MedMNIST gives data set ``name`` at ``size`` pixels (28 has no suffix)."""
    return f"{name}.npz" if size == 28 else f"{name}_{size}.npz"


def real_files(folder: Path | None = None, name: str = PNEUMONIAMNIST) -> dict[int, Path]:
    """The fetched files of MedMNIST set ``name``, by image size in pixels (empty when none)."""
    folder = folder or dataset_dir(name)
    return {s: folder / real_file_name(s, name) for s in REAL_SIZES if (folder / real_file_name(s, name)).is_file()}


def available_source() -> str:
    """Which set ``load_chest(source="auto")`` takes: "chestmnist", "pneumoniamnist" or "phantom"."""
    for name in (CHESTMNIST, PNEUMONIAMNIST):
        if real_files(name=name):
            return name
    return "phantom"


def chest_source() -> str:
    """Where ``load_chest()`` would take its images from (a disk look-up, no reading)."""
    name = available_source()
    if name == CHESTMNIST:
        sizes = "/".join(str(s) for s in real_files(name=name))
        note = read_source_note(dataset_dir(name)) or "local files"
        return f"real ChestMNIST: NIH ChestX-ray14, 112,120 radiographs, 14 findings ({sizes} px; {note})"
    if name == PNEUMONIAMNIST:
        sizes = "/".join(str(s) for s in real_files(name=name))
        return (f"real PneumoniaMNIST: 5,856 paediatric radiographs, 1 finding ({sizes} px); "
                f"ChestMNIST absent: {FETCH_HINT}")
    return f"stand-in: synthetic phantom radiographs, 6 findings (cxrlab.phantom); {FETCH_HINT}"


@dataclass(repr=False)
class ChestBundle(DataBundle):
    """A multi-label DataBundle of chest images plus what a clinical chapter needs besides pixels.

    ``classes``: the finding names; label tensors are float32 (N, F) in {0, 1}, column k for
    ``classes[k]``. ``dataset``: "chestmnist", "pneumoniamnist" or "phantom". ``metadata``: one
    pandas table per split, row i describing image i (``patient_id`` where known, else NaN;
    age, sex, view, site and marker for phantoms). ``test_masks``: bool (N, F, H, W), each test
    image's mask per finding (None for real data, which has none); ``test_lungs``: bool
    (N, 1, H, W) lung fields. ``config``: how the set was made (including any ``enrichment``
    or ``lesion_contrast``, which change what the phantoms look like).
    """

    dataset: str = "phantom"
    metadata: dict[str, pd.DataFrame] = field(default_factory=dict)
    test_masks: torch.Tensor | None = None
    test_lungs: torch.Tensor | None = None
    config: dict = field(default_factory=dict)

    @property
    def findings(self) -> list[str]:
        """The finding names (the same list as ``classes``)."""
        return list(self.classes)

    @property
    def display_name(self) -> str:
        """"ChestMNIST", "PneumoniaMNIST" or "Phantom"."""
        return DISPLAY_NAMES.get(self.dataset, self.dataset)

    def labels(self, split: str = "test") -> torch.Tensor:
        """float32 (N, F) targets of ``split`` ("train", "val" or "test")."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return getattr(self, split).tensors[1]

    def prevalence(self) -> pd.DataFrame:
        """Fraction of images (0-1) with each finding, per split: rows findings, columns splits."""
        return pd.DataFrame({s: self.labels(s).double().mean(0).numpy() for s in SPLITS}, index=self.classes)

    def patient_ids(self, split: str = "test") -> np.ndarray | None:
        """Patient identifier of every image of ``split``, or None when the set does not say."""
        ids = self.metadata.get(split, pd.DataFrame()).get("patient_id")
        if ids is None or ids.isna().any():
            return None
        return ids.to_numpy()

    def summary(self) -> str:
        """One line: data set, real or stand-in, split sizes, image shape, findings, patients."""
        line = super().summary()
        line += f"; {len(self.classes)} finding{'s' if len(self.classes) != 1 else ''}"
        if all(self.patient_ids(s) is not None for s in SPLITS):
            patients = ", ".join(f"{s} {len(set(self.patient_ids(s))):,}" for s in SPLITS)
            line += f"; patients {patients}"
        factors = {k: self.config[k] for k in ("enrichment", "lesion_contrast") if k in self.config}
        if factors:
            line += "; " + ", ".join(f"{k} {v:g}" for k, v in factors.items())
        return line


def patient_split(patient_ids: Sequence[str] | np.ndarray, labels: Sequence | np.ndarray, *,
                  val_fraction: float = 0.15, test_fraction: float = 0.2,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index arrays (train, val, test) with no patient in two splits.

    Args:
        patient_ids: (N,) one identifier per image.
        labels: (N,) class indices or (N, F) multi-label 0/1 targets. Each patient is put in a
            stratum (its most frequent class; multi-label: the rarest finding it ever has, or
            "none"), and each stratum's patients are shuffled and dealt out, so every split
            gets its share of every finding.
        val_fraction, test_fraction: shares of patients, each in [0, 1), sum below 1.
        seed: shuffling seed.

    Returns:
        (train, val, test) int arrays of image indices, sorted.

    Raises:
        ValueError: lengths differ, fractions out of range, or fewer than 3 patients.
    """
    patient_ids = np.asarray(patient_ids)
    labels = np.asarray(labels)
    if len(patient_ids) != len(labels):
        raise ValueError(f"patient_ids and labels differ in length: {len(patient_ids)} vs {len(labels)}")
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(f"val_fraction and test_fraction must be in [0, 1) with a sum below 1, "
                         f"got {val_fraction} and {test_fraction}")
    if labels.ndim == 2:
        rarity = labels.mean(0)
        order = np.argsort(rarity, kind="stable")               # rarest finding first
        first = np.full(len(labels), -1)
        for k in order[::-1]:
            first = np.where(labels[:, k] > 0, k, first)        # ends at the rarest one present
        strata = first
    else:
        strata = labels
    frame = pd.DataFrame({"patient": patient_ids, "label": strata})
    if labels.ndim == 2:
        rank = {k: r for r, k in enumerate(np.argsort(labels.mean(0), kind="stable"))}
        per_patient = frame.groupby("patient", sort=True)["label"].agg(
            lambda s: min(s, key=lambda k: rank.get(k, len(rank))))
    else:
        per_patient = frame.groupby("patient", sort=True)["label"].agg(lambda s: s.value_counts().index[0])
    if len(per_patient) < 3:
        raise ValueError(f"need at least 3 patients to make three splits, got {len(per_patient)}")
    rng = np.random.default_rng(seed)
    split_of: dict[object, int] = {}
    for label in sorted(per_patient.unique()):
        group = per_patient.index[per_patient.to_numpy() == label].to_numpy()
        group = group[rng.permutation(len(group))]
        n_test = int(round(test_fraction * len(group)))
        n_val = int(round(val_fraction * len(group)))
        for i, patient in enumerate(group):
            split_of[patient] = 2 if i < n_test else (1 if i < n_test + n_val else 0)
    which = frame["patient"].map(split_of).to_numpy()
    return tuple(np.flatnonzero(which == k) for k in (0, 1, 2))  # type: ignore[return-value]


def load_chest(*, n: int | None = None, size: int = 224, seed: int = 0, source: str = "auto",
               channels: int = 1, val_fraction: float = 0.15, test_fraction: float = 0.2,
               enrichment: float = 1.0, lesion_contrast: float = 1.0, studies_per_patient: int = 2,
               finding_persistence: float = 0.8, findings: Sequence[str] | None = None,
               prevalence: float | None = None, marker_correlation: float = 0.0, sites=None,
               progress: bool | None = None) -> ChestBundle:
    """Chest radiographs as a multi-label ChestBundle of (N, channels, size, size) images in [0, 1].

    Args:
        n: images in all (phantoms: how many to draw, default 1200; real: a random subset of
            each published split in proportion, default all).
        size: side in pixels (>= 32 for phantoms; real files are resized from the nearest
            stored size at or above it).
        seed: seed of the phantoms and of the real subset.
        source: "auto" (ChestMNIST, else PneumoniaMNIST, else phantoms), "real" (the first
            real set present, or an error), "chestmnist", "pneumoniamnist", or "phantom"
            (alias "standin").
        channels: 1 (grey) or 3 (grey repeated, for RGB networks).
        val_fraction: share of patients in the validation split, and ``test_fraction`` in the
            test split (phantoms; real sets keep their published splits).
        enrichment: a phantom option (``cxrlab.phantom.generate``), as are ``lesion_contrast``,
            ``studies_per_patient``, ``finding_persistence``, ``findings``, ``prevalence``,
            ``marker_correlation`` and ``sites``; all are ignored for real data.
        progress: progress bar while drawing phantoms (None: automatic).

    Returns:
        ChestBundle with float32 (N, F) labels and ``dataset`` naming the source used.

    Raises:
        ValueError: an unknown source, a bad ``n`` or ``channels``, an unreadable file.
        FileNotFoundError: a real source was asked for and is not on disk (the message says
            how to fetch it).
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 3):
        raise ValueError(f"n must be an integer of at least 3 (images in all), or None; got {n!r}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (grey repeated for RGB models), got {channels!r}")
    wanted = {"auto": (CHESTMNIST, PNEUMONIAMNIST), "real": (CHESTMNIST, PNEUMONIAMNIST),
              CHESTMNIST: (CHESTMNIST,), PNEUMONIAMNIST: (PNEUMONIAMNIST,)}.get(source, ())
    for name in wanted:
        files = real_files(name=name)
        if files:
            return _load_real(name, files, n=n, size=size, seed=seed, channels=channels)
    if wanted and source != "auto":
        where = ", ".join(str(dataset_dir(name)) for name in wanted)
        raise FileNotFoundError(f"no {' or '.join(DISPLAY_NAMES[w] for w in wanted)} file in {where}; "
                                f"{FETCH_HINT} (or set CXRLAB_DATA, or use source='phantom')")
    return _load_phantoms(n=DEFAULT_PHANTOMS if n is None else int(n), size=size, seed=seed, channels=channels,
                          val_fraction=val_fraction, test_fraction=test_fraction, enrichment=enrichment,
                          lesion_contrast=lesion_contrast, studies_per_patient=studies_per_patient,
                          finding_persistence=finding_persistence, findings=findings, prevalence=prevalence,
                          marker_correlation=marker_correlation, sites=sites, progress=progress)


def _load_phantoms(*, n: int, size: int, seed: int, channels: int, val_fraction: float, test_fraction: float,
                   enrichment: float, lesion_contrast: float, studies_per_patient: int,
                   finding_persistence: float, findings, prevalence, marker_correlation: float, sites,
                   progress: bool | None) -> ChestBundle:
    from .. import phantom

    ps = phantom.generate(n, size=size, seed=seed, findings=findings or phantom.FINDINGS, prevalence=prevalence,
                          enrichment=enrichment, lesion_contrast=lesion_contrast, sites=sites,
                          marker_correlation=marker_correlation, studies_per_patient=studies_per_patient,
                          finding_persistence=finding_persistence, progress=progress)
    parts = patient_split(ps.metadata.patient_id.to_numpy(), ps.labels, val_fraction=val_fraction,
                          test_fraction=test_fraction, seed=seed)
    for name, idx in zip(SPLITS, parts):
        if len(idx) == 0:
            raise ValueError(f"the {name} split is empty: draw more images (n={n}) or change the fractions")

    def tensors(idx: np.ndarray) -> TensorDataset:
        return TensorDataset(*ps.to_tensors(idx, channels=channels))

    train, val, test = (tensors(idx) for idx in parts)
    metadata = {name: ps.metadata.iloc[idx].reset_index(drop=True) for name, idx in zip(SPLITS, parts)}
    site_names = ", ".join(s.name for s in ps.sites)
    described = (f"synthetic phantom radiographs (cxrlab.phantom v{phantom.PHANTOM_VERSION}, seed {seed}, "
                 f"findings drawn from the NIH ChestX-ray14 table, enrichment {enrichment:g}, "
                 f"lesion contrast {lesion_contrast:g}; sites: {site_names}); {FETCH_HINT}")
    config = dict(ps.config, source="phantom", channels=channels, val_fraction=val_fraction,
                  test_fraction=test_fraction)
    return ChestBundle(
        name="Phantom chest radiographs (stand-in for real chest X-rays)", source=described,
        is_standin=True, classes=list(ps.classes), train=train, val=val, test=test, dataset="phantom",
        metadata=metadata, test_masks=torch.from_numpy(ps.masks[parts[2]]),
        test_lungs=torch.from_numpy(ps.lungs[parts[2]]).unsqueeze(1), config=config,
    )


def _load_real(name: str, files: dict[int, Path], *, n: int | None, size: int, seed: int, channels: int) -> ChestBundle:
    bigger = [s for s in files if s >= size]
    stored = min(bigger) if bigger else max(files)
    path = files[stored]
    classes = REAL_SETS[name]
    hint = f"delete it and {FETCH_HINT}"
    try:
        archive = np.load(path)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is not a readable MedMNIST .npz ({error}); {hint}") from error
    with archive:
        missing = [f"{s}_{k}" for s in SPLITS for k in ("images", "labels") if f"{s}_{k}" not in archive.files]
        if missing:
            raise ValueError(f"{path} lacks {', '.join(missing)}; {hint}")
        total = sum(len(archive[f"{s}_labels"]) for s in SPLITS)
        fraction = 1.0 if n is None else min(1.0, n / total)
        rng = np.random.default_rng(seed)
        datasets, metadata = {}, {}
        for split in SPLITS:
            labels = np.asarray(archive[f"{split}_labels"])
            labels = labels.reshape(len(labels), -1).astype(np.float32)
            if labels.shape[1] != len(classes) or not np.isin(labels, (0, 1)).all():
                raise ValueError(f"{path}: {split}_labels should be 0/1 of shape (N, {len(classes)}), "
                                 f"got {labels.shape}; {hint}")
            keep = np.arange(len(labels))
            if fraction < 1:
                keep = np.sort(rng.choice(len(labels), size=max(2, int(round(fraction * len(labels)))), replace=False))
            images = archive[f"{split}_images"][keep]
            x = images_to_tensor(images, size=size, channels=channels)
            datasets[split] = TensorDataset(x, torch.from_numpy(labels[keep]))
            names = np.array(classes, dtype=object)
            metadata[split] = pd.DataFrame({
                "index": keep, "patient_id": np.full(len(keep), np.nan),
                "findings": ["|".join(names[row > 0]) or "No Finding" for row in labels[keep]],
            })
    folder = dataset_dir(name)
    note = read_source_note(folder) or str(folder)
    described = (f"{DISPLAY_NAMES[name]} ({stored} px file, resized to {size}) from {note}; MedMNIST's "
                 "published splits (patient-wise for ChestMNIST, NIH's official split; patient ids are "
                 "not distributed, so intervals cannot resample patients)")
    title = {CHESTMNIST: "ChestMNIST (real NIH ChestX-ray14 radiographs, 14 findings)",
             PNEUMONIAMNIST: "PneumoniaMNIST (real paediatric chest X-rays, 1 finding)"}[name]
    return ChestBundle(
        name=title, source=described, is_standin=False, classes=list(classes), train=datasets["train"],
        val=datasets["val"], test=datasets["test"], dataset=name, metadata=metadata,
        config={"source": name, "file": path.name, "size": size, "n": n, "seed": seed, "channels": channels},
    )


__all__ = ["ChestBundle", "chest_source", "available_source", "load_chest", "patient_split", "real_files",
           "real_file_name", "CHESTMNIST", "PNEUMONIAMNIST", "CHESTMNIST_CLASSES", "PNEUMONIAMNIST_CLASSES",
           "REAL_SIZES", "FETCH_HINT"]
