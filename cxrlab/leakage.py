"""Patient leakage: what splitting images, not patients, does when a patient has several images.

NIH ChestX-ray14 has 112,120 images of 30,805 patients, up to 184 images for one patient.
Deal its images out at random and most test images have a sibling (same patient, often the
same finding, always the same anatomy) in the training set: a model can recognise the
patient instead of the disease, and the test score measures memory. Splitting by patient
(``cxrlab.data.chest.patient_split``) is the fix; these functions measure the problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._checks import probability


@dataclass(frozen=True)
class Leakage:
    """How an image-level split shares patients between training and test.

    ``test_images``: images in the test split. ``leaked_images``: those whose patient also has
    an image in training. ``test_patients`` / ``leaked_patients``: the same counted in
    patients. ``fraction``: ``leaked_images / test_images`` (0-1).
    """

    test_images: int
    leaked_images: int
    test_patients: int
    leaked_patients: int

    @property
    def fraction(self) -> float:
        """Share (0-1) of test images with a patient in training."""
        return self.leaked_images / self.test_images if self.test_images else float("nan")


def image_level_split(n: int, *, test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) image indices of a random split that ignores who the patients are.

    ``test_fraction`` of the ``n`` images, rounded, go to test. Sorted index arrays.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an integer of at least 2 images, got {n!r}")
    test_fraction = probability(test_fraction, "test_fraction")
    order = np.random.default_rng(seed).permutation(int(n))
    n_test = max(1, int(round(test_fraction * n)))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def split_leakage(patient_ids: Sequence | np.ndarray, train: np.ndarray, test: np.ndarray) -> Leakage:
    """Count the test images (and patients) whose patient also appears among ``train``.

    Args:
        patient_ids: (N,) the patient of every image.
        train, test: integer index arrays into ``patient_ids``.

    Returns:
        Leakage with the counts.

    Raises:
        ValueError: an index is out of range, or an image is in both splits.
    """
    ids = np.asarray(patient_ids)
    train, test = np.asarray(train, dtype=int), np.asarray(test, dtype=int)
    for name, idx in (("train", train), ("test", test)):
        if len(idx) and (idx.min() < 0 or idx.max() >= len(ids)):
            raise ValueError(f"{name} indices must lie in [0, {len(ids)}), got {idx.min()}..{idx.max()}")
    if np.intersect1d(train, test).size:
        raise ValueError("an image is in both train and test: the splits must be disjoint")
    seen = np.isin(ids[test], np.unique(ids[train]))
    return Leakage(test_images=len(test), leaked_images=int(seen.sum()),
                   test_patients=int(np.unique(ids[test]).size), leaked_patients=int(np.unique(ids[test][seen]).size))


def nih_patient_ids() -> np.ndarray:
    """A patient id per image of NIH ChestX-ray14, from the table's images-per-patient counts.

    A random image-level split depends only on how many images each patient has, and the
    package's NIH summary (``cxrlab.phantom.nih_statistics``, made from the real table) holds
    exactly those counts, so this works with or without the table on disk. Returns an int
    array of 112,120 ids for 30,805 patients.
    """
    from .phantom import nih_statistics

    counts = nih_statistics()["images_per_patient"]
    sizes = np.concatenate([np.full(int(patients), int(k)) for k, patients in sorted(counts.items(), key=lambda kv: int(kv[0]))])
    return np.repeat(np.arange(len(sizes)), sizes)


__all__ = ["Leakage", "image_level_split", "split_leakage", "nih_patient_ids"]
