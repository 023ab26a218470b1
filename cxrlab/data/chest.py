"""Chest radiographs: real PneumoniaMNIST when fetched, the synthetic phantom set when not.

``load_chest()`` returns a ChestBundle: train/val/test TensorDatasets of images (N, C, H, W)
in [0, 1] with their labels, one metadata table per split and, for phantoms, the test
split's lesion masks and lung fields. Phantom splits are by patient: every image of a
patient lands in the same split, so a model is never tested on a patient it trained on.
Fetch the real set with ``python data_scripts/fetch.py chest``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import TensorDataset

from .bundle import DataBundle, images_to_tensor, subsample
from .paths import dataset_dir, read_source_note

REAL_NAME = "pneumoniamnist"
REAL_CLASSES = ["normal", "pneumonia"]
REAL_SIZES = (28, 64, 128, 224)
FETCH_HINT = "run `python data_scripts/fetch.py chest` to get real PneumoniaMNIST"
SOURCES = ("auto", "real", "phantom", "standin")
DEFAULT_PHANTOMS = 1200


def real_file_name(size: int) -> str:
    """File name MedMNIST gives PneumoniaMNIST at ``size`` pixels (28 has no suffix)."""
    return f"{REAL_NAME}.npz" if size == 28 else f"{REAL_NAME}_{size}.npz"


def real_files(folder: Path | None = None) -> dict[int, Path]:
    """The fetched PneumoniaMNIST files, by image size in pixels (empty when none)."""
    folder = folder or dataset_dir(REAL_NAME)
    return {s: folder / real_file_name(s) for s in REAL_SIZES if (folder / real_file_name(s)).is_file()}


def chest_source() -> str:
    """Where ``load_chest()`` would take its images from (a disk look-up, no reading)."""
    files = real_files()
    if files:
        folder = dataset_dir(REAL_NAME)
        sizes = "/".join(str(s) for s in files)
        return f"real PneumoniaMNIST 5,856 paediatric chest X-rays ({sizes} px; {read_source_note(folder) or folder})"
    return f"stand-in: synthetic phantom radiographs (cxrlab.phantom); {FETCH_HINT}"


@dataclass(repr=False)
class ChestBundle(DataBundle):
    """A DataBundle of chest images plus what a clinical chapter needs besides pixels.

    ``metadata``: one pandas table per split ("train", "val", "test"), row i describing
    image i (patient, site, sex, age group, finding, marker for phantoms). ``test_masks``
    and ``test_lungs``: bool tensors (N, 1, H, W) of the test split's lesion masks and lung
    fields (None for real data, which has none). ``config``: how the set was made.
    """

    metadata: dict[str, pd.DataFrame] = field(default_factory=dict)
    test_masks: torch.Tensor | None = None
    test_lungs: torch.Tensor | None = None
    config: dict = field(default_factory=dict)

    def summary(self) -> str:
        """One line: name, source, split sizes, image shape and patients per split."""
        line = super().summary()
        if all("patient_id" in self.metadata.get(s, pd.DataFrame()) for s in ("train", "val", "test")):
            patients = ", ".join(f"{s} {self.metadata[s].patient_id.nunique():,}" for s in ("train", "val", "test"))
            line += f"; patients {patients}"
        return line


def patient_split(patient_ids: Sequence[str] | np.ndarray, labels: Sequence[int] | np.ndarray, *,
                  val_fraction: float = 0.15, test_fraction: float = 0.2,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index arrays (train, val, test) with no patient in two splits.

    Patients (not images) are shuffled and dealt out class by class, using each patient's
    most frequent label, so class proportions stay close in every split. Fractions are of
    patients, each in [0, 1) with val + test < 1.
    """
    patient_ids = np.asarray(patient_ids)
    labels = np.asarray(labels)
    if len(patient_ids) != len(labels):
        raise ValueError(f"patient_ids and labels differ in length: {len(patient_ids)} vs {len(labels)}")
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(f"val_fraction and test_fraction must be in [0, 1) with a sum below 1, "
                         f"got {val_fraction} and {test_fraction}")
    frame = pd.DataFrame({"patient": patient_ids, "label": labels})
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
               prevalence: float = 2 / 3, studies_per_patient: int = 2,
               marker_correlation: float = 0.0, lesion_contrast: float = 1.0, sites=None,
               progress: bool | None = None) -> ChestBundle:
    """Chest radiographs as a ChestBundle of (N, channels, size, size) float32 images in [0, 1].

    ``source``: "auto" (real PneumoniaMNIST when fetched, else phantoms), "real" (error
    when not fetched) or "phantom"/"standin". ``n``: number of images in all (phantoms: how
    many to draw, default 1200; real: a stratified subset, default all). ``size``: side in
    pixels (>= 32 for phantoms). Phantom options: ``prevalence`` (fraction with a finding;
    2/3 balances the three classes), ``studies_per_patient``, ``marker_correlation``,
    ``lesion_contrast``, ``sites`` (see cxrlab.phantom.generate). ``val_fraction``/``test_fraction``: shares of
    patients (phantoms; the real set keeps its published splits).
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 3):
        raise ValueError(f"n must be an integer of at least 3 (images in all), or None; got {n!r}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (grey repeated for RGB models), got {channels!r}")
    files = real_files()
    if source in ("auto", "real") and files:
        return _load_real(files, n=n, size=size, seed=seed, channels=channels)
    if source == "real":
        raise FileNotFoundError(f"PneumoniaMNIST is not in {dataset_dir(REAL_NAME)}; {FETCH_HINT} "
                                "(or set CXRLAB_DATA, or use source='phantom')")
    return _load_phantoms(n=DEFAULT_PHANTOMS if n is None else int(n), size=size, seed=seed,
                          channels=channels, val_fraction=val_fraction, test_fraction=test_fraction,
                          prevalence=prevalence, studies_per_patient=studies_per_patient,
                          marker_correlation=marker_correlation, lesion_contrast=lesion_contrast,
                          sites=sites, progress=progress)


def _load_phantoms(*, n: int, size: int, seed: int, channels: int, val_fraction: float,
                   test_fraction: float, prevalence: float, studies_per_patient: int,
                   marker_correlation: float, lesion_contrast: float, sites,
                   progress: bool | None) -> ChestBundle:
    from .. import phantom

    ps = phantom.generate(n, size=size, seed=seed, prevalence=prevalence, sites=sites,
                          marker_correlation=marker_correlation,
                          studies_per_patient=studies_per_patient, lesion_contrast=lesion_contrast,
                          progress=progress)
    parts = patient_split(ps.metadata.patient_id.to_numpy(), ps.labels, val_fraction=val_fraction,
                          test_fraction=test_fraction, seed=seed)
    for name, idx in zip(("train", "val", "test"), parts):
        if len(idx) == 0:
            raise ValueError(f"the {name} split is empty: draw more images (n={n}) or change the fractions")

    def tensors(idx: np.ndarray) -> TensorDataset:
        x = torch.from_numpy(ps.images[idx]).unsqueeze(1)
        if channels == 3:
            x = x.repeat(1, 3, 1, 1)
        return TensorDataset(x.contiguous(), torch.from_numpy(ps.labels[idx]))

    train, val, test = (tensors(idx) for idx in parts)
    metadata = {name: ps.metadata.iloc[idx].reset_index(drop=True) for name, idx in zip(("train", "val", "test"), parts)}
    site_names = ", ".join(s.name for s in ps.sites)
    described = (f"synthetic phantom radiographs (cxrlab.phantom v{phantom.PHANTOM_VERSION}, seed {seed}, "
                 f"sites: {site_names}); {FETCH_HINT}")
    config = dict(ps.config, source="phantom", channels=channels, val_fraction=val_fraction,
                  test_fraction=test_fraction)
    return ChestBundle(
        name="Phantom chest radiographs (stand-in for real chest X-rays)", source=described,
        is_standin=True, classes=list(ps.classes), train=train, val=val, test=test,
        metadata=metadata, test_masks=torch.from_numpy(ps.masks[parts[2]]).unsqueeze(1),
        test_lungs=torch.from_numpy(ps.lungs[parts[2]]).unsqueeze(1), config=config,
    )


def _load_real(files: dict[int, Path], *, n: int | None, size: int, seed: int, channels: int) -> ChestBundle:
    bigger = [s for s in files if s >= size]
    stored = min(bigger) if bigger else max(files)
    path = files[stored]
    try:
        with np.load(path) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is not a readable PneumoniaMNIST .npz ({error}); delete it and {FETCH_HINT}") from error
    missing = [f"{s}_{k}" for s in ("train", "val", "test") for k in ("images", "labels") if f"{s}_{k}" not in arrays]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}; delete it and {FETCH_HINT}")
    total = sum(len(arrays[f"{s}_labels"]) for s in ("train", "val", "test"))
    fraction = 1.0 if n is None else min(1.0, n / total)
    datasets, metadata = {}, {}
    for split in ("train", "val", "test"):
        labels = arrays[f"{split}_labels"].reshape(-1).astype(np.int64)
        keep = subsample(labels, max(2, int(round(fraction * len(labels)))) if fraction < 1 else None, seed)
        x = images_to_tensor(arrays[f"{split}_images"][keep], size=size, channels=channels)
        datasets[split] = TensorDataset(x, torch.from_numpy(labels[keep]))
        metadata[split] = pd.DataFrame({
            "index": keep, "label": labels[keep],
            "finding": np.array(REAL_CLASSES, dtype=object)[labels[keep]],
        })
    folder = dataset_dir(REAL_NAME)
    described = (f"PneumoniaMNIST ({stored} px file, resized to {size}) from {read_source_note(folder) or folder}; "
                 "MedMNIST's published splits (patient ids are not distributed, so patient-level "
                 "separation cannot be checked here)")
    return ChestBundle(
        name="PneumoniaMNIST (real paediatric chest X-rays)", source=described, is_standin=False,
        classes=list(REAL_CLASSES), train=datasets["train"], val=datasets["val"], test=datasets["test"],
        metadata=metadata, config={"source": "real", "name": REAL_NAME, "file": path.name, "size": size,
                                   "n": n, "seed": seed, "channels": channels},
    )


__all__ = ["ChestBundle", "chest_source", "load_chest", "patient_split", "real_files",
           "REAL_CLASSES", "REAL_NAME", "real_file_name"]
