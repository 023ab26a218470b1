"""Synthetic chest radiographs with co-occurring findings, each with its ground-truth mask.

``generate(n)`` draws ``n`` frontal radiographs, deterministic by ``seed``. Each image is
built from a simple attenuation model: a soft-tissue torso, two air-filled lung fields with
vessel markings, heart and mediastinum, spine, ribs and clavicles, the diaphragm and a
gastric bubble. Up to six findings are added, several at once when the patient has them,
each with its own pixel-exact mask:

- **atelectasis**: a plate-like band of collapsed lung in a lower or middle zone;
- **cardiomegaly**: an enlarged heart shadow (its mask is the heart);
- **effusion**: fluid in the costophrenic angle, with a meniscus climbing laterally;
- **nodule/mass**: a round opacity (nodules under about 3 cm, masses larger);
- **consolidation/pneumonia**: a lobulated, patchy air-space opacity;
- **pneumothorax**: a rim of air without lung markings at the apex and lateral wall,
  bounded by the visceral pleural line.

Which findings a patient has, and the patient's age group, sex and view (PA or AP), are drawn
from the joint distribution of the real NIH ChestX-ray14 table (Wang et al. 2017), summarised
in ``nih_statistics.json`` by ``python -m data_scripts.nih_statistics``: prevalence and
co-occurrence follow the real table unless ``enrichment`` (a named, reported factor) tilts
them. A patient can have several studies (``studies_per_patient``) that share the body, the
findings' places and, with probability ``finding_persistence``, the findings themselves:
patient effects, which is why splits must be by patient.

The attenuation image then passes through an acquisition *site*: exposure, contrast (gamma),
detector blur, quantum noise and an optional burned-in marker (a lead letter or a "PORTABLE"
label) whose presence can be tied to the labels on purpose, to show shortcut learning.

Geometry uses normalised coordinates: ``u`` from -1 (image left, the patient's right in a PA
view) to 1, ``v`` from -1 (top) to 1 (bottom); every size scales with the image.
"""

from __future__ import annotations

import json
import math
import os
import textwrap
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

PHANTOM_VERSION = "2"  # 2: multi-label findings drawn from the NIH table's joint distribution
#: The phantom's findings and the NIH ChestX-ray14 labels each one stands for.
NIH_MAPPING: dict[str, tuple[str, ...]] = {
    "atelectasis": ("Atelectasis",),
    "cardiomegaly": ("Cardiomegaly",),
    "effusion": ("Effusion",),
    "nodule/mass": ("Nodule", "Mass"),
    "consolidation/pneumonia": ("Consolidation", "Pneumonia"),
    "pneumothorax": ("Pneumothorax",),
}
FINDINGS: tuple[str, ...] = tuple(NIH_MAPPING)
AGE_GROUPS = ("0-17", "18-39", "40-59", "60-79", "80+")  # the NIH table's groups (cxrlab.data.nih_table)
SEXES = ("F", "M")
VIEWS = ("PA", "AP")
MIN_SIZE = 32
CHUNK_PIXELS = 8 * 224 * 224  # pixels drawn per vectorised batch: small enough for the CPU cache
STATISTICS_PATH = Path(__file__).with_name("nih_statistics.json")
#: an AP (portable, supine) film magnifies the heart: it lies farther from the detector
AP_HEART_MAGNIFICATION = 1.1


@lru_cache(maxsize=1)
def nih_statistics() -> dict:
    """The NIH ChestX-ray14 summary the generator draws from (see ``data_scripts/nih_statistics.py``).

    Returns:
        dict with ``findings``, ``mapping``, ``joint`` (rows ``[pattern bits, age group, sex,
        view, images]``), ``nih_prevalence``, ``images_per_patient``, ``images``, ``patients``.

    Raises:
        FileNotFoundError: the package's ``nih_statistics.json`` is missing (a broken install).
    """
    if not STATISTICS_PATH.is_file():
        raise FileNotFoundError(f"{STATISTICS_PATH} is missing; reinstall cxrlab or run "
                                "`python -m data_scripts.nih_statistics` with the NIH table fetched")
    return json.loads(STATISTICS_PATH.read_text())


def nih_prevalence(findings: Sequence[str] = FINDINGS) -> pd.Series:
    """Fraction of NIH images (0-1) carrying each phantom finding (merged labels counted once)."""
    stats = nih_statistics()
    joint = np.asarray(stats["joint"], dtype=np.int64)
    total = joint[:, 4].sum()
    order = list(stats["findings"])
    return pd.Series({f: float(joint[(joint[:, 0] >> order.index(f)) & 1 == 1, 4].sum() / total)
                      for f in findings}, name="NIH prevalence")


@dataclass(frozen=True)
class Site:
    """One acquisition site: how its scanner and its habits change an image.

    ``exposure``: relative dose (1 = nominal; above 1 darkens the image, below 1 brightens
    it and raises noise). ``gamma``: display contrast exponent (>1 darkens mid-greys and
    raises contrast of dense structures). ``noise_sigma``: quantum-noise standard deviation
    at nominal dose in a 224-pixel image, in display units (0 to ~0.1; smaller images
    average pixels, so their noise is smaller in proportion). ``blur``: detector blur, Gaussian sigma in
    pixels of a 224-pixel image (scaled with the size). ``marker_text``: text of the
    burned-in marker ("" for none); ``marker_probability``: how often it appears (0 to 1)
    when the marker is not tied to the label. ``weight``: relative share of patients.
    """

    name: str
    exposure: float = 1.0
    gamma: float = 1.0
    noise_sigma: float = 0.02
    blur: float = 0.8
    marker_text: str = ""
    marker_probability: float = 0.0
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a Site needs a name")
        if not 0.2 <= self.exposure <= 5.0:
            raise ValueError(f"Site {self.name}: exposure must be in [0.2, 5], got {self.exposure}")
        if not 0.3 <= self.gamma <= 3.0:
            raise ValueError(f"Site {self.name}: gamma must be in [0.3, 3], got {self.gamma}")
        if not 0.0 <= self.noise_sigma <= 0.3:
            raise ValueError(f"Site {self.name}: noise_sigma must be in [0, 0.3], got {self.noise_sigma}")
        if not 0.0 <= self.blur <= 8.0:
            raise ValueError(f"Site {self.name}: blur must be in [0, 8] pixels, got {self.blur}")
        if not 0.0 <= self.marker_probability <= 1.0:
            raise ValueError(f"Site {self.name}: marker_probability must be in [0, 1], got {self.marker_probability}")
        if self.weight <= 0:
            raise ValueError(f"Site {self.name}: weight must be positive, got {self.weight}")
        if self.marker_probability > 0 and not self.marker_text:
            raise ValueError(f"Site {self.name}: marker_probability > 0 needs a marker_text (e.g. 'L')")


DEFAULT_SITES: tuple[Site, ...] = (
    Site("Northfield General", exposure=1.0, gamma=1.0, noise_sigma=0.015, blur=0.7,
         marker_text="L", marker_probability=0.5, weight=0.45),
    Site("Riverside Portable", exposure=0.7, gamma=0.85, noise_sigma=0.03, blur=1.5,
         marker_text="PORTABLE", marker_probability=0.8, weight=0.3),
    Site("Hillcrest Clinic", exposure=1.6, gamma=1.35, noise_sigma=0.025, blur=0.9,
         marker_text="R", marker_probability=0.3, weight=0.25),
)



@dataclass
class PhantomSet:
    """What ``generate`` returns: images, multi-label targets, masks and one metadata row per image.

    ``images``: float32 (n, size, size) in [0, 1], brighter = denser (as a radiograph is
    displayed). ``labels``: float32 (n, F) in {0, 1}, column k for ``classes[k]`` (several
    ones per row when findings co-occur, all zeros for no finding). ``masks``: bool
    (n, F, size, size), True on finding k's pixels (all False where the finding is absent).
    ``metadata``: pandas table (patient, study, age, age group, sex, view, site, findings,
    marker). ``config``: the arguments that made the set. ``lungs``: bool (n, size, size),
    the visible lung fields (to score where a model looks).
    """

    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    metadata: pd.DataFrame
    classes: list[str] = field(default_factory=lambda: list(FINDINGS))
    sites: tuple[Site, ...] = DEFAULT_SITES
    config: dict = field(default_factory=dict)
    lungs: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def size(self) -> int:
        """Side length of the images in pixels."""
        return int(self.images.shape[-1])

    @property
    def any_finding(self) -> np.ndarray:
        """bool (n,): True where the image has at least one finding."""
        return self.labels.max(axis=1) > 0

    def subset(self, index: Sequence[int] | np.ndarray) -> "PhantomSet":
        """A new PhantomSet with only the images at ``index`` (metadata re-indexed from 0)."""
        index = np.asarray(index)
        return PhantomSet(self.images[index], self.labels[index], self.masks[index],
                          self.metadata.iloc[index].reset_index(drop=True), list(self.classes),
                          self.sites, dict(self.config), None if self.lungs is None else self.lungs[index])

    def to_tensors(self, index: Sequence[int] | np.ndarray | None = None, *, channels: int = 1,
                   lung_mask: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """The images and labels as model input: the one conversion chapters 7-10 and the loader share.

        Args:
            index: the images to convert (default all), without copying the masks.
            channels: 1 (grey) or 3 (the grey image repeated, for networks built for RGB).
            lung_mask: multiply each image by its lung fields (everything outside them set to 0),
                to take away what lies outside the lungs (markers, for example).

        Returns:
            float32 images (n, channels, size, size) in [0, 1] and float32 labels (n, F) in {0, 1}.

        Raises:
            ValueError: ``channels`` is not 1 or 3, or ``lung_mask`` is asked for a set without lungs.
        """
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grey) or 3 (grey repeated for RGB networks), got {channels!r}")
        pick = slice(None) if index is None else np.asarray(index)
        x = torch.from_numpy(np.ascontiguousarray(self.images[pick], dtype=np.float32)).unsqueeze(1)
        if lung_mask:
            if self.lungs is None:
                raise ValueError("this PhantomSet has no lung fields (a subset made without them); draw it with generate()")
            x = x * torch.from_numpy(self.lungs[pick]).unsqueeze(1)
        if channels == 3:
            x = x.repeat(1, 3, 1, 1)
        return x.contiguous(), torch.from_numpy(np.ascontiguousarray(self.labels[pick], dtype=np.float32))

    def __repr__(self) -> str:
        counts = ", ".join(f"{c} {int(self.labels[:, k].sum())}" for k, c in enumerate(self.classes))
        return (f"PhantomSet({len(self)} images {self.size}x{self.size}, "
                f"{int(self.metadata.patient_id.nunique())} patients: {counts}; "
                f"no finding {int((~self.any_finding).sum())})")


# ----------------------------------------------------------------------------- checks


def _check_args(n: int, size: int, prevalence: float | None, findings: Sequence[str],
                sites: Sequence[Site] | None, marker_correlation: float, studies_per_patient: int,
                enrichment: float, lesion_contrast: float, finding_persistence: float,
                ) -> tuple[tuple[str, ...], tuple[Site, ...]]:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer (number of images), got {n!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < MIN_SIZE:
        raise ValueError(f"size must be an integer of at least {MIN_SIZE} pixels, got {size!r}; "
                         "anatomy is unreadable below that")
    if size > 1024:
        raise ValueError(f"size {size} is above 1024 pixels; draw at <= 1024 and upsample if needed")
    if prevalence is not None and not 0.0 <= float(prevalence) <= 1.0:
        raise ValueError(f"prevalence must be None (the NIH rate) or in [0, 1] (fraction of patients "
                         f"with at least one finding), got {prevalence}")
    if isinstance(findings, str):
        findings = (findings,)
    findings = tuple(findings)
    unknown = [f for f in findings if f not in FINDINGS]
    if unknown or not findings or len(set(findings)) != len(findings):
        raise ValueError(f"findings must be a non-empty selection of {FINDINGS} without repeats, got {findings}")
    if not -1.0 <= float(marker_correlation) <= 1.0:
        raise ValueError(f"marker_correlation must be in [-1, 1] (a correlation), got {marker_correlation}")
    if isinstance(studies_per_patient, bool) or not isinstance(studies_per_patient, (int, np.integer)) \
            or studies_per_patient < 1:
        raise ValueError(f"studies_per_patient must be a positive integer, got {studies_per_patient!r}")
    if not 1.0 <= float(enrichment) <= 20.0:
        raise ValueError(f"enrichment must be in [1, 20] (1 = the NIH prevalence), got {enrichment}")
    if not 0.25 <= float(lesion_contrast) <= 4.0:
        raise ValueError(f"lesion_contrast must be in [0.25, 4] (1 = default), got {lesion_contrast}")
    if not 0.0 <= float(finding_persistence) <= 1.0:
        raise ValueError(f"finding_persistence must be in [0, 1], got {finding_persistence}")
    sites = DEFAULT_SITES if sites is None else tuple(sites)
    if not sites or not all(isinstance(s, Site) for s in sites):
        raise ValueError("sites must be a non-empty list of cxrlab.phantom.Site (see DEFAULT_SITES)")
    if len({s.name for s in sites}) != len(sites):
        raise ValueError("site names must be unique")
    if marker_correlation != 0 and not all(s.marker_text for s in sites):
        raise ValueError("marker_correlation != 0 needs a marker_text on every site")
    return findings, sites


# ----------------------------------------------------------------------------- label draws


def cell_weights(findings: Sequence[str] = FINDINGS, *, enrichment: float = 1.0,
                 prevalence: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The NIH joint table restricted to ``findings``, as (cells, probabilities).

    Args:
        findings: the phantom findings kept (others are dropped from each pattern).
        enrichment: each cell's weight is multiplied by ``enrichment ** k``, k the number of
            kept findings in its pattern (1: the real rates; 3 roughly triples rare ones while
            keeping their order and the co-occurrence structure among abnormal images).
        prevalence: None, or the fraction of images with at least one kept finding to rescale to.

    Returns:
        cells: int64 (K, 4) rows ``[pattern bits over findings, age group, sex, view]``;
        probabilities: float64 (K,) summing to 1.
    """
    stats = nih_statistics()
    joint = np.asarray(stats["joint"], dtype=np.int64)
    order = list(stats["findings"])
    pattern = np.zeros(len(joint), dtype=np.int64)
    for k, name in enumerate(findings):
        pattern |= ((joint[:, 0] >> order.index(name)) & 1) << k
    cells = np.column_stack([pattern, joint[:, 1:4]])
    keys, inverse = np.unique(cells, axis=0, return_inverse=True)
    counts = np.bincount(inverse.ravel(), weights=joint[:, 4].astype(float))
    popcount = np.array([bin(int(p)).count("1") for p in keys[:, 0]])
    weights = counts * float(enrichment) ** popcount
    if prevalence is not None:
        abnormal = keys[:, 0] > 0
        if abnormal.any() and (~abnormal).any():
            weights = np.where(abnormal, weights / weights[abnormal].sum() * prevalence,
                               weights / weights[~abnormal].sum() * (1 - prevalence))
    return keys, weights / weights.sum()


def _draw_patients(rng: np.random.Generator, n_patients: int, findings: tuple[str, ...],
                   sites: tuple[Site, ...], enrichment: float, prevalence: float | None,
                   lesion_contrast: float) -> dict[str, np.ndarray]:
    """Everything that is fixed for a patient: attributes, body shape, findings and their places."""
    p: dict[str, np.ndarray] = {}
    label_rng, rng = rng.spawn(2)  # labels apart: the same seed gives the same bodies at any prevalence
    cells, probs = cell_weights(findings, enrichment=enrichment, prevalence=prevalence)
    drawn = cells[label_rng.choice(len(cells), size=n_patients, p=probs)]
    p["pattern"], p["age_group"], p["sex"], p["view"] = (drawn[:, k] for k in range(4))
    ranges = nih_statistics()["age_years"]
    low = np.array([ranges.get(g, [18, 90])[0] for g in AGE_GROUPS])[p["age_group"]]
    high = np.array([ranges.get(g, [18, 90])[1] for g in AGE_GROUPS])[p["age_group"]]
    p["age"] = np.minimum(high, low + np.floor(label_rng.random(n_patients) * (np.minimum(high, 95) - low + 1))).astype(int)
    weights = np.array([s.weight for s in sites], dtype=float)
    p["site"] = rng.choice(len(sites), size=n_patients, p=weights / weights.sum())
    old = np.clip((p["age"] - 18) / 77.0, 0, 1)                 # 0 young .. 1 oldest
    child = np.clip((18 - p["age"]) / 18.0, 0, 1)               # 0 adult .. 1 newborn
    male = p["sex"].astype(float)
    # body and organs (normalised units)
    p["thorax"] = rng.uniform(0.80, 0.90, n_patients) + 0.04 * male - 0.06 * child
    p["lung_w"] = p["thorax"] * rng.uniform(0.44, 0.49, n_patients)
    p["lung_top"] = rng.uniform(-0.80, -0.72, n_patients)
    p["dia_r"] = rng.uniform(0.34, 0.50, n_patients) - 0.04 * old
    p["dia_l"] = p["dia_r"] + rng.uniform(0.03, 0.09, n_patients)
    p["heart_w"] = rng.uniform(0.27, 0.33, n_patients) + 0.04 * old + 0.03 * child
    p["heart_h"] = p["heart_w"] * rng.uniform(0.65, 0.8, n_patients)
    p["heart_x"] = rng.uniform(0.10, 0.16, n_patients)
    p["rib_spacing"] = rng.uniform(0.105, 0.125, n_patients)
    p["rib_bend"] = rng.uniform(0.75, 1.0, n_patients)
    p["bone"] = rng.uniform(0.9, 1.1, n_patients) * (1.05 - 0.35 * old)
    p["vessels"] = rng.uniform(0.8, 1.2, n_patients) * (0.9 + 0.3 * old)
    p["breast"] = (1 - male) * rng.uniform(0.5, 1.0, n_patients) * (1 - child)
    p["tex_seed"] = rng.integers(0, 2**31 - 1, n_patients)
    c = float(lesion_contrast)
    # each finding's geometry, drawn for every patient (used where the patient has it)
    p["cardio_scale"] = np.minimum(1.8, 1 + rng.uniform(0.35, 0.55, n_patients) * math.sqrt(c))
    for key in ("nod", "con", "ate", "eff", "ptx"):
        p[f"{key}_side"] = rng.choice([-1.0, 1.0], n_patients)
        p[f"{key}_a"] = rng.uniform(0.0, 1.0, n_patients)
        p[f"{key}_b"] = rng.uniform(0.0, 1.0, n_patients)
    mass = rng.random(n_patients) < 0.4
    p["nod_r"] = np.where(mass, rng.uniform(0.08, 0.12, n_patients), rng.uniform(0.04, 0.065, n_patients))
    p["nod_amp"] = rng.uniform(0.15, 0.28, n_patients) * c
    p["con_r"] = rng.uniform(0.09, 0.17, n_patients)
    p["con_amp"] = rng.uniform(0.12, 0.24, n_patients) * c
    p["con_shape"] = rng.uniform(-1, 1, (n_patients, 6))
    p["ate_a"] = 0.45 + 0.4 * p["ate_a"]                      # lower and middle zones
    p["ate_len"] = rng.uniform(0.12, 0.2, n_patients)
    p["ate_thick"] = rng.uniform(0.02, 0.035, n_patients)
    p["ate_tilt"] = rng.uniform(-0.35, 0.35, n_patients)
    p["ate_amp"] = rng.uniform(0.12, 0.22, n_patients) * c
    p["eff_height"] = rng.uniform(0.08, 0.2, n_patients) * min(1.6, math.sqrt(c))
    p["eff_amp"] = np.minimum(0.5, rng.uniform(0.2, 0.32, n_patients) * c)
    p["eff_both"] = rng.random(n_patients) < 0.3
    p["ptx_width"] = rng.uniform(0.12, 0.22, n_patients) * min(1.6, math.sqrt(c))
    p["ptx_extent"] = rng.uniform(0.4, 0.8, n_patients)
    p["ptx_amp"] = np.minimum(0.3, rng.uniform(0.07, 0.11, n_patients) * c)
    return p


def _study_findings(rng: np.random.Generator, patient_pattern: np.ndarray, patient_view: np.ndarray,
                    owner: np.ndarray, study_no: np.ndarray, findings: tuple[str, ...], enrichment: float,
                    prevalence: float | None, persistence: float) -> tuple[np.ndarray, np.ndarray]:
    """Pattern and view of every study: a follow-up keeps its patient's with probability
    ``persistence``, else is a fresh draw from the same distribution (so rates do not move)."""
    cells, probs = cell_weights(findings, enrichment=enrichment, prevalence=prevalence)
    fresh = cells[rng.choice(len(cells), size=len(owner), p=probs)]
    keep = (study_no == 0) | (rng.random(len(owner)) < persistence)
    pattern = np.where(keep, patient_pattern[owner], fresh[:, 0])
    view = np.where(keep, patient_view[owner], fresh[:, 3])
    return pattern, view


def _marker_flags(rng: np.random.Generator, labels: np.ndarray, sites: tuple[Site, ...],
                  site_index: np.ndarray, rho: float) -> np.ndarray:
    """Whether each image carries its site's burned-in marker.

    ``rho == 0``: each site's own ``marker_probability``. Otherwise the marker copies "has any
    finding" (for rho < 0 its opposite) with probability ``|rho|`` and is drawn independently
    otherwise, with the rate that keeps the marker's marginal rate fixed, so the correlation
    (phi coefficient) between marker and finding is ``rho`` in expectation.
    """
    n = len(labels)
    if rho == 0:
        probs = np.array([s.marker_probability for s in sites])[site_index]
        return rng.random(n) < probs
    y = labels.max(axis=1) > 0
    target = y if rho > 0 else ~y
    base = target.mean()
    copy = rng.random(n) < abs(rho)
    independent = rng.random(n) < base
    return np.where(copy, target, independent)


# ----------------------------------------------------------------------------- geometry


def _sig(x: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(x)


def _lung_level(u: torch.Tensor, v: torch.Tensor, q: dict[str, torch.Tensor]) -> torch.Tensor:
    """Signed level of the lung fields: negative inside either lung, positive outside.

    Works on any broadcastable shapes (a pixel grid or a set of candidate points).
    Units: roughly normalised distance. The heart shadow is not lung field.
    """
    x = u.abs()                                                  # lateral distance from midline
    dia = torch.where(u < 0, q["dia_r"], q["dia_l"])             # image left = patient's right
    top = q["lung_top"]
    cx = q["thorax"] * 0.5
    t = ((v - top) / (dia - top)).clamp(0, 1)                    # 0 at the apex, 1 at the base
    ax = q["lung_w"] * (0.78 + 0.27 * t)                         # apices narrower than bases
    cy = (top + dia + 0.25) / 2
    ay = (dia + 0.25 - top) / 2
    ellipse = torch.sqrt(((x - cx) / ax) ** 2 + ((v - cy) / ay) ** 2) - 1.0
    s = ((x - cx) / (q["lung_w"] * 1.05)).clamp(-1, 1)
    below = (v - (dia + 0.14 * s * s - 0.02)) * 3.0              # diaphragm dome
    medial = (0.09 - x) * 4.0                                    # mediastinum
    level = torch.maximum(torch.maximum(ellipse, below), medial)
    return torch.maximum(level, -_heart_level(u, v, q) * 0.6 - 0.02)


def _heart_level(u: torch.Tensor, v: torch.Tensor, q: dict[str, torch.Tensor]) -> torch.Tensor:
    """Signed level of the heart shadow (negative inside); it sits on the left dome."""
    hy = q["dia_l"] - q["heart_h"] * 0.45
    return torch.sqrt(((u - q["heart_x"]) / q["heart_w"]) ** 2 + ((v - hy) / q["heart_h"]) ** 2) - 1.0


def _segment_distance(u: torch.Tensor, v: torch.Tensor, a: tuple[float, float], b: tuple[float, float]) -> torch.Tensor:
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    t = (((u - ax) * dx + (v - ay) * dy) / (dx * dx + dy * dy)).clamp(0, 1)
    return torch.sqrt((u - ax - t * dx) ** 2 + (v - ay - t * dy) ** 2)


@lru_cache(maxsize=32)
def _glyph(text: str, height: int) -> np.ndarray:
    """A float32 bitmap (h, w) in [0, 1] of ``text`` rendered ``height`` pixels tall."""
    from PIL import Image, ImageDraw, ImageFont

    try:
        font = ImageFont.load_default(size=48)
    except TypeError:  # Pillow < 10.1: fixed bitmap font
        font = ImageFont.load_default()
    left, top, right, bottom = font.getbbox(text)
    canvas = Image.new("L", (right - left + 4, bottom - top + 4), 0)
    draw = ImageDraw.Draw(canvas)
    for dx in (0, 1, 2):  # a bold stroke, like a lead letter
        draw.text((2 - left + dx, 2 - top), text, fill=255, font=font)
    scale = height / canvas.height
    width = max(1, int(round(canvas.width * scale)))
    small = canvas.resize((width, max(1, height)), Image.BILINEAR)
    return np.asarray(small, dtype=np.float32) / 255.0


def _gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Blur each image of (B, H, W) with its own Gaussian sigma (pixels); sigma 0 = copy."""
    smax = float(sigma.max())
    if smax <= 0.05:
        return x
    radius = max(1, int(math.ceil(2.5 * smax)))
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype)
    s = sigma.clamp_min(1e-3).view(-1, 1)
    kernel = torch.exp(-0.5 * (offsets / s) ** 2)
    kernel = kernel / kernel.sum(1, keepdim=True)                  # (B, K)
    b = x.shape[0]
    y = F.pad(x.unsqueeze(0), (radius, radius, 0, 0), mode="replicate")   # (1, B, H, W+2r)
    y = F.conv2d(y, kernel.view(b, 1, 1, -1), groups=b)
    y = F.pad(y, (0, 0, radius, radius), mode="replicate")
    y = F.conv2d(y, kernel.view(b, 1, -1, 1), groups=b)
    return y.squeeze(0)


# ----------------------------------------------------------------------------- drawing one chunk


def _anatomy(g: dict[str, torch.Tensor], texture: torch.Tensor, res: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Attenuation (B, res, res) of the normal chest (0 air .. ~0.8 bone over tissue) and
    the lung level (negative inside the lung fields), on a res x res grid."""
    coords = (torch.arange(res, dtype=torch.float32) + 0.5) / res * 2 - 1
    v = coords.view(1, res, 1) + g["shift_y"]
    u = coords.view(1, 1, res) + g["shift_x"]
    x = u.abs()
    edge = 3.0 / res + 0.01

    # torso: soft tissue thickest in the middle; neck and shoulders at the top
    body_w = g["thorax"] + 0.13
    body = torch.sqrt((1 - (u / body_w) ** 2).clamp_min(0))
    shoulder = _sig((v + 0.93 - 0.5 * (x - 0.3).clamp_min(0) ** 2) / 0.03)
    neck = 0.9 * torch.sqrt((1 - (u / 0.27) ** 2).clamp_min(0))
    a = 0.62 * torch.maximum(body * shoulder, neck)

    # lungs: air replaces tissue, more of it away from the borders
    lung_lv = _lung_level(u, v, g)
    lung = _sig(-lung_lv / edge)
    a -= lung * (0.30 + 0.16 * ((-lung_lv).clamp(0, 0.25) * 4).sqrt())
    # behind the heart some lung still lies: the heart is a little less dense than the spine
    heart = _sig(-_heart_level(u, v, g) / (edge * 0.7))
    a -= 0.025 * heart
    # trachea: an air column down the upper mediastinum
    trachea = _sig((0.035 - (u - 0.01).abs()) / edge) * _sig((g["lung_top"] + 0.48 - v) / 0.04)
    a -= 0.10 * trachea
    # gastric bubble under the left dome (image right)
    bubble = torch.sqrt(((u - 0.42) / 0.12) ** 2 + ((v - g["dia_l"] - 0.15) / 0.065) ** 2)
    a -= 0.12 * g["gas"] * _sig((1 - bubble) / 0.1)
    # breasts (female patients): soft tissue over the lower lungs, sharp lower border
    breast = torch.sqrt(((x - 0.52) / 0.36) ** 2 + ((v - g["dia_r"] + 0.05) / 0.32) ** 2)
    a += 0.07 * g["breast"] * _sig((1 - breast) / 0.05)

    # vessel markings: branching streaks radiating from each hilum, fading outwards
    hx = torch.where(u < 0, -0.17, 0.18)
    hy = g["lung_top"] * 0.15 - 0.08
    du, dv = u - hx, v - hy
    radius = torch.sqrt(du * du + dv * dv)
    grid = torch.stack([torch.atan2(dv, du) / math.pi, (radius / 0.9).clamp(0, 1) * 2 - 1], dim=-1)
    streak = F.grid_sample(texture, grid, mode="bilinear", padding_mode="border", align_corners=False).squeeze(1)
    fade = torch.exp(-radius / 0.3)
    a += lung * g["vessels"] * (0.08 * fade + 0.035 * streak.clamp_min(0) * (0.3 + fade))

    # bones (density falls with age): spine, posterior and anterior ribs, clavicles
    bone = g["bone"]
    spine = _sig((0.075 - x) / edge) * (0.75 + 0.25 * torch.cos((v + 1) / 0.105 * 2 * math.pi).clamp_min(-0.3))
    a += bone * 0.15 * spine * _sig((v + 0.95) / 0.03)
    cage = _sig((g["thorax"] - x) / edge) * _sig((x - 0.06) / edge) * (0.55 + 0.45 * lung)
    s = (v - (g["rib_bend"] * (x - 0.1) ** 2 - 0.18 * x) - g["lung_top"] + 0.08).clamp_min(0)
    phase = (s / g["rib_spacing"]) ** 0.9 * 1.2                 # ribs spread apart lower down
    frac = phase - torch.floor(phase)
    rib = torch.exp(-((frac - 0.32) / 0.16) ** 4) + 0.3 * (
        torch.exp(-((frac - 0.16) / 0.04) ** 2) + torch.exp(-((frac - 0.48) / 0.04) ** 2))
    a += bone * 0.05 * rib * (phase < 10) * (s > 0) * cage
    s_ant = (v - (-0.2 * x + 0.3 * x * x) - g["lung_top"] - 0.1).clamp_min(0)
    ant_phase = s_ant / (g["rib_spacing"] * 1.5)
    ant_frac = ant_phase - torch.floor(ant_phase)
    a += bone * 0.03 * torch.exp(-((ant_frac - 0.3) / 0.15) ** 4) * (ant_phase < 5) * cage * _sig((x - 0.25) / 0.05)
    clav = torch.zeros_like(a)
    clav_v = v - g["lung_top"] - 0.02
    for side in (-1.0, 1.0):
        xs = u * side
        dist = torch.minimum(_segment_distance(xs, clav_v, (0.07, 0.07), (0.35, 0.0)),
                             _segment_distance(xs, clav_v, (0.35, 0.0), (0.70, -0.06)))
        clav = torch.maximum(clav, _sig((0.035 - dist) / (edge * 0.7)))
    a += bone * 0.12 * clav
    return a, lung_lv




def _draw_chunk(q: dict[str, torch.Tensor], size: int, sites: tuple[Site, ...], findings: tuple[str, ...],
                marker: torch.Tensor, marker_pos: np.ndarray, generator: torch.Generator
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw B images; returns (images (B,H,W) in [0,1], masks (B,F,H,W) bool, lung fields).

    The smooth anatomy is drawn at up to 128 pixels and resized; the findings, their masks,
    the noise and the marker are drawn at the full size, so masks are exact at ``size``.
    """
    b = q["thorax"].shape[0]
    g = {k: val.view(b, 1, 1) for k, val in q.items() if val.ndim == 1}
    res = size if size <= 128 else (size + 1) // 2
    a, lung_lv = _anatomy(g, q["texture"], res)
    if res != size:
        both = F.interpolate(torch.stack([a, lung_lv], 1), size=(size, size), mode="bilinear",
                             align_corners=False)
        a, lung_lv = both[:, 0].contiguous(), both[:, 1].contiguous()
    labels = q["labels"]
    masks = torch.zeros((b, len(findings), size, size), dtype=torch.bool)
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    v_all = coords.view(1, size, 1) + g["shift_y"]                 # anatomical coordinates of each pixel
    u_all = coords.view(1, 1, size) + g["shift_x"]
    edge = 3.0 / size + 0.01
    column = {name: k for k, name in enumerate(findings)}
    if "cardiomegaly" in column:
        heart = _heart_level(u_all, v_all, g) < 0
        masks[:, column["cardiomegaly"]] = heart & (labels[:, column["cardiomegaly"]] > 0).view(b, 1, 1)
    for i in range(b):
        present = [name for name in findings if labels[i, column[name]] > 0]
        for name in present:
            if name == "cardiomegaly":
                continue                                           # drawn by the enlarged heart itself
            draw = {"effusion": _draw_effusion, "pneumothorax": _draw_pneumothorax}.get(name)
            if draw is not None:
                added, strength = draw(q, i, u_all[i], v_all[i], lung_lv[i], edge)
                a[i] += added
            else:
                strength = _draw_focal(name, q, i, a, lung_lv, size, edge)
            # the mask: where the finding reaches half its full strength, inside the lung field;
            # a finding smaller than a pixel still marks its strongest pixels
            inside = strength * (lung_lv[i] < 0)
            mask = inside >= 0.5
            if not mask.any() and inside.max() > 0:
                mask = inside >= 0.5 * inside.max()
            masks[i, column[name]] = mask

    # acquisition: log-domain display with an exposure shift, gamma, blur, marker, noise
    y = ((a + 0.14 - 0.22 * torch.log(g["exposure"])) / 0.92).clamp_(0, 1) ** g["gamma"]
    y = _gaussian_blur(y, q["blur"] * size / 224)
    y = _paste_markers(y, marker, marker_pos, q["site_index"], sites, size)
    noise = torch.randn(y.shape, generator=generator)
    # quantum noise: noisier where dense and at low dose; a smaller image averages pixels of
    # the 224-px one, so its noise shrinks in proportion to its side
    scale = min(1.0, size / 224)
    y += noise.mul_(g["noise"] * scale / torch.sqrt(g["exposure"]) * torch.exp(0.6 * y))
    return y.clamp_(0, 1), masks, lung_lv < 0


def _draw_effusion(q, i, u, v, lung_lv, edge):
    """Fluid in the costophrenic angle of one side (or both): a meniscus, higher laterally."""
    sides = (-1.0, 1.0) if bool(q["eff_both"][i] > 0) else (float(q["eff_side"][i]),)
    added = torch.zeros_like(u + v)
    strength = torch.zeros_like(added)
    for side in sides:
        x = u * side
        dia = q["dia_r"][i] if side < 0 else q["dia_l"][i]
        h = q["eff_height"][i] * (1.0 if len(sides) == 1 else 0.8)
        lateral = ((x - 0.09).clamp_min(0) / q["thorax"][i]).clamp(0, 1)
        top = dia - h - 0.6 * h * lateral ** 2
        fluid = _sig((v - top) / edge) * _sig((x - 0.09) / edge)
        in_lung = _sig(-(lung_lv - 0.02) / edge)
        added = added + q["eff_amp"][i] * fluid * in_lung
        strength = torch.maximum(strength, fluid * (lung_lv < 0))
    return added, strength


def _draw_pneumothorax(q, i, u, v, lung_lv, edge):
    """Air between lung and chest wall at the apex and lateral wall: darker, no markings,
    bounded by the bright visceral pleural line."""
    side = float(q["ptx_side"][i])
    x = u * side
    top = q["lung_top"][i]
    dia = q["dia_r"][i] if side < 0 else q["dia_l"][i]
    limit = top + q["ptx_extent"][i] * (dia - top)
    width = q["ptx_width"][i]
    region = _sig((limit - v) / 0.03) * _sig((x - 0.12) / edge)
    rim = _sig((lung_lv + width) / (0.5 * edge)) * _sig(-lung_lv / (0.5 * edge)) * region
    line = torch.exp(-((lung_lv + width) / (0.6 * edge)) ** 2) * region * (lung_lv < 0)
    amp = q["ptx_amp"][i]
    return -amp * rim + 0.7 * amp * line, rim


def _draw_focal(name: str, q, i: int, a: torch.Tensor, lung_lv: torch.Tensor, size: int, edge: float) -> torch.Tensor:
    """A focal finding (nodule/mass, consolidation/pneumonia or atelectasis) drawn in a window
    around it into ``a[i]``; returns its strength (opacity, 0-1) at full size."""
    key = {"nodule/mass": "nod", "consolidation/pneumonia": "con", "atelectasis": "ate"}[name]
    half = size / 2
    lx = float(q[f"{key}_x"][i] - q["shift_x"][i])
    ly = float(q[f"{key}_y"][i] - q["shift_y"][i])
    lr = float(q[f"{key}_r"][i]) if key != "ate" else float(q["ate_len"][i])
    reach = lr * (1.6 if key == "con" else 1.3) + 4 / size
    strength = torch.zeros((size, size))
    c0, c1 = max(0, int((lx - reach + 1) * half)), min(size, int(math.ceil((lx + reach + 1) * half)) + 1)
    r0, r1 = max(0, int((ly - reach + 1) * half)), min(size, int(math.ceil((ly + reach + 1) * half)) + 1)
    if c1 <= c0 or r1 <= r0:
        return strength
    cu = ((torch.arange(c0, c1, dtype=torch.float32) + 0.5) / half - 1).view(1, -1) - lx
    cv = ((torch.arange(r0, r1, dtype=torch.float32) + 0.5) / half - 1).view(-1, 1) - ly
    dist = torch.sqrt(cu * cu + cv * cv) + 1e-6
    texture = torch.ones_like(dist)
    if key == "con":
        theta = torch.atan2(cv, cu)
        sh = q["con_shape"][i]
        lobes = 1 + 0.2 * (sh[0] * torch.cos(2 * theta + 3 * sh[1]) + sh[2] * torch.cos(3 * theta + 3 * sh[3])
                           + 0.5 * sh[4] * torch.cos(5 * theta + 3 * sh[5]))
        opacity = _sig((lr * lobes - dist) / (0.22 * lr))
        # patchy air-space filling, mottled by a fixed pattern (the mask keeps the outline)
        seed = int(q["les_seed"][i])
        pattern = np.random.default_rng(seed).standard_normal((1, 1, 5, 5)).astype(np.float32)
        pattern = F.interpolate(torch.from_numpy(pattern), size=(r1 - r0, c1 - c0), mode="bicubic", align_corners=False)
        texture = 0.85 + 0.15 * pattern[0, 0].clamp(-2, 2)
    elif key == "nod":
        opacity = _sig((lr - dist) / (0.1 * lr + 0.5 / half))
    else:  # a plate-like band, tilted
        t = float(q["ate_tilt"][i])
        along = cu * math.cos(t) + cv * math.sin(t)
        across = -cu * math.sin(t) + cv * math.cos(t)
        level = torch.sqrt((along / lr) ** 2 + (across / float(q["ate_thick"][i])) ** 2)
        opacity = _sig((1 - level) / 0.15)
    lv = lung_lv[i, r0:r1, c0:c1]
    strength[r0:r1, c0:c1] = opacity
    a[i, r0:r1, c0:c1] += float(q[f"{key}_amp"][i]) * opacity * texture * _sig(-lv / edge).clamp_min(0.3)
    return strength
def _paste_markers(y: torch.Tensor, marker: torch.Tensor, pos: np.ndarray, site_index: torch.Tensor,
                   sites: tuple[Site, ...], size: int) -> torch.Tensor:
    """Burn each flagged image's site marker into an upper corner (bright, as lead is)."""
    for i in torch.nonzero(marker).flatten().tolist():
        text = sites[int(site_index[i])].marker_text
        height = max(6, int(round(size * (0.09 if len(text) <= 2 else 0.06))))
        glyph = torch.from_numpy(_glyph(text, height))
        gh, gw = glyph.shape
        gw = min(gw, size - 2)
        glyph = glyph[:, :gw]
        right = pos[i, 0] > 0.5
        col = int(round(size * (0.95 - 0.06 * pos[i, 1]))) - gw if right else int(round(size * (0.03 + 0.06 * pos[i, 1])))
        row = int(round(size * (0.03 + 0.05 * pos[i, 2])))
        col = int(np.clip(col, 0, size - gw))
        row = int(np.clip(row, 0, size - gh))
        patch = y[i, row:row + gh, col:col + gw]
        y[i, row:row + gh, col:col + gw] = torch.maximum(patch, 0.97 * glyph)
    return y




# ----------------------------------------------------------------------------- public API


def generate(n: int, *, size: int = 224, seed: int = 0, findings: Sequence[str] = FINDINGS,
             prevalence: float | None = None, enrichment: float = 1.0, lesion_contrast: float = 1.0,
             sites: Sequence[Site] | None = None, marker_correlation: float = 0.0,
             studies_per_patient: int = 1, finding_persistence: float = 0.8,
             progress: bool | None = None) -> PhantomSet:
    """Draw ``n`` synthetic frontal chest radiographs with co-occurring findings.

    Identical arguments give identical images, labels and masks.

    Args:
        n: number of images (>= 1).
        size: side in pixels (32 to 1024).
        seed: the generator's seed.
        findings: which of ``FINDINGS`` to draw; labels and masks have one column each, in
            this order. The others are dropped from every NIH pattern.
        prevalence: None (the NIH table's rate of images with any of ``findings``), or the
            fraction (0-1) of patients with at least one, the NIH co-occurrence kept among them.
        enrichment: multiplies the weight of an NIH pattern by ``enrichment ** k`` for its k
            findings (1 to 20; 1 = the real rates). Rare findings become common enough to
            learn from a few hundred images; their order and co-occurrence are kept.
        lesion_contrast: multiplies every finding's density, the heart's enlargement (as its
            square root), the fluid's height and the pneumothorax's width (0.25 to 4; 1 = the
            default mix of subtle and obvious findings).
        sites: acquisition sites (default ``DEFAULT_SITES``).
        marker_correlation: correlation in [-1, 1] between "any finding" and the burned-in
            marker (0: each site's own marker rate).
        studies_per_patient: images per patient (same body and findings' places).
        finding_persistence: probability (0-1) that a follow-up study keeps the patient's
            findings and view; otherwise they are drawn afresh from the same distribution.
        progress: tqdm bar (None: only for n >= 2000, unless $CXRLAB_PROGRESS=0).

    Returns:
        PhantomSet with ``labels`` float32 (n, F), ``masks`` bool (n, F, size, size).

    Raises:
        ValueError: an argument is out of its range (the message names it and the range).
    """
    findings, sites = _check_args(n, size, prevalence, findings, sites, marker_correlation,
                                  studies_per_patient, enrichment, lesion_contrast, finding_persistence)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: one thread is faster, and far faster on a busy CPU
    try:
        return _generate(int(n), int(size), int(seed), findings, None if prevalence is None else float(prevalence),
                         float(enrichment), float(lesion_contrast), sites, float(marker_correlation),
                         int(studies_per_patient), float(finding_persistence), progress)
    finally:
        torch.set_num_threads(threads)


def _generate(n: int, size: int, seed: int, findings: tuple[str, ...], prevalence: float | None,
              enrichment: float, lesion_contrast: float, sites: tuple[Site, ...], marker_correlation: float,
              studies_per_patient: int, persistence: float, progress: bool | None) -> PhantomSet:
    body_rng, marker_rng, rng, study_rng = np.random.default_rng([int(seed), 20261201]).spawn(4)
    n_patients = math.ceil(n / studies_per_patient)
    pat = _draw_patients(body_rng, n_patients, findings, sites, enrichment, prevalence, lesion_contrast)
    owner = np.repeat(np.arange(n_patients), studies_per_patient)[:n]   # image -> patient
    study_no = np.tile(np.arange(studies_per_patient), n_patients)[:n]
    pattern, view = _study_findings(study_rng, pat["pattern"], pat["view"], owner, study_no, findings,
                                    enrichment, prevalence, persistence)
    labels = ((pattern[:, None] >> np.arange(len(findings))) & 1).astype(np.float32)
    site_index = pat["site"][owner]
    has_marker = _marker_flags(marker_rng, labels, sites, site_index, float(marker_correlation))
    marker_pos = rng.random((n, 3))
    shift = rng.normal(0, 0.02, (n, 2))
    exposure_jitter = np.exp(rng.normal(0, 0.06, n))
    gas = rng.uniform(0.2, 1.0, n)
    jitter = rng.normal(0, 0.015, (n, 2)) * (study_no[:, None] > 0)
    tex_seeds = rng.integers(0, 2**31 - 1, n)

    per_image = {k: val[owner] for k, val in pat.items()}
    column = {name: k for k, name in enumerate(findings)}
    cardio = labels[:, column["cardiomegaly"]] > 0 if "cardiomegaly" in column else np.zeros(n, bool)
    magnify = np.where(view == 1, AP_HEART_MAGNIFICATION, 1.0) * np.where(cardio, per_image["cardio_scale"], 1.0)
    per_image["heart_w"] = per_image["heart_w"] * magnify
    per_image["heart_h"] = per_image["heart_h"] * np.sqrt(magnify)
    centres = {}
    for key, radius in (("nod", per_image["nod_r"]), ("con", per_image["con_r"]), ("ate", 0.5 * per_image["ate_len"])):
        centres[key] = _place_lesions(per_image, rng, key, radius) + jitter

    site_arr = {
        "exposure": np.array([s.exposure for s in sites])[site_index] * exposure_jitter,
        "gamma": np.array([s.gamma for s in sites])[site_index],
        "noise": np.array([s.noise_sigma for s in sites])[site_index],
        "blur": np.array([s.blur for s in sites])[site_index],
    }
    images = np.empty((n, size, size), dtype=np.float32)
    masks = np.empty((n, len(findings), size, size), dtype=bool)
    lungs = np.empty((n, size, size), dtype=bool)
    noise_seed = int(rng.integers(0, 2**62))
    chunk = max(1, min(256, CHUNK_PIXELS // (size * size)))  # depends on size only: deterministic
    starts = list(range(0, n, chunk))
    scalar_keys = ("thorax", "lung_w", "lung_top", "dia_r", "dia_l", "heart_w", "heart_h", "heart_x",
                   "rib_spacing", "rib_bend", "bone", "vessels", "breast", "nod_r", "nod_amp", "con_r",
                   "con_amp", "ate_len", "ate_thick", "ate_tilt", "ate_amp", "eff_side", "eff_height",
                   "eff_amp", "eff_both", "ptx_side", "ptx_width", "ptx_extent", "ptx_amp")

    def draw(index_start: tuple[int, int]) -> None:
        index, start = index_start
        sl = slice(start, min(start + chunk, n))
        q = {k: per_image[k][sl] for k in scalar_keys}
        q.update({"gas": gas[sl], "shift_x": shift[sl, 0], "shift_y": shift[sl, 1],
                  "exposure": site_arr["exposure"][sl], "gamma": site_arr["gamma"][sl],
                  "noise": site_arr["noise"][sl]})
        for key, xy in centres.items():
            q[f"{key}_x"], q[f"{key}_y"] = xy[sl, 0], xy[sl, 1]
        q = {k: torch.as_tensor(np.asarray(val, dtype=np.float64), dtype=torch.float32) for k, val in q.items()}
        q["labels"] = torch.as_tensor(labels[sl])
        q["con_shape"] = torch.as_tensor(per_image["con_shape"][sl], dtype=torch.float32)
        q["blur"] = torch.as_tensor(site_arr["blur"][sl], dtype=torch.float32)
        q["site_index"] = torch.as_tensor(site_index[sl])
        q["les_seed"] = torch.as_tensor(per_image["tex_seed"][sl] % (2**31 - 1) + 1)
        q["texture"] = _textures(per_image["tex_seed"][sl], tex_seeds[sl])
        generator = torch.Generator().manual_seed(noise_seed + index)  # one stream per batch
        with torch.no_grad():
            img, msk, lng = _draw_chunk(q, size, sites, findings, torch.as_tensor(has_marker[sl]),
                                        marker_pos[sl], generator)
        images[sl] = img.numpy()
        masks[sl] = msk.numpy()
        lungs[sl] = lng.numpy()

    _run_chunks(draw, starts, chunk, n, progress)
    names = np.array(findings, dtype=object)
    text = ["|".join(names[row > 0]) or "No Finding" for row in labels]
    metadata = pd.DataFrame({
        "patient_id": [f"P{i:05d}" for i in owner],
        "study_id": [f"S{i:06d}" for i in range(n)],
        "study_number": study_no,
        "age": pat["age"][owner],
        "age_group": np.array(AGE_GROUPS, dtype=object)[pat["age_group"][owner]],
        "sex": np.array(SEXES, dtype=object)[pat["sex"][owner]],
        "view": np.array(VIEWS, dtype=object)[view],
        "site": np.array([s.name for s in sites], dtype=object)[site_index],
        "findings": text,
        "n_findings": labels.sum(1).astype(int),
        "mask_pixels": masks.sum(axis=(2, 3)).sum(1),
        "has_marker": has_marker.astype(bool),
        "marker_text": np.where(has_marker, np.array([s.marker_text for s in sites], dtype=object)[site_index], ""),
        "exposure": site_arr["exposure"],
    })
    config = {"n": n, "size": size, "seed": seed, "findings": list(findings), "prevalence": prevalence,
              "enrichment": enrichment, "lesion_contrast": lesion_contrast, "sites": [asdict(s) for s in sites],
              "marker_correlation": marker_correlation, "studies_per_patient": studies_per_patient,
              "finding_persistence": persistence, "version": PHANTOM_VERSION}
    return PhantomSet(images, labels, masks, metadata, list(findings), sites, config, lungs)


def _run_chunks(draw, starts: list[int], chunk: int, n: int, progress: bool | None) -> None:
    """Draw every chunk, in threads (torch releases the GIL inside its kernels; each chunk has
    its own noise stream, so the result does not depend on the scheduling)."""
    workers = min(len(starts), max(1, min(4, os.cpu_count() or 1)))
    bar = None
    if _progress(progress, n):
        from ._torch import tqdm_class

        bar = tqdm_class()(total=n, desc="phantoms", unit="image")
    try:
        if workers == 1:
            for item in enumerate(starts):
                draw(item)
                if bar is not None:
                    bar.update(min(chunk, n - item[1]))
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(workers) as pool:
                for index, _ in enumerate(pool.map(draw, enumerate(starts))):
                    if bar is not None:
                        bar.update(min(chunk, n - starts[index]))
    finally:
        if bar is not None:
            bar.close()


def _progress(progress: bool | None, n: int) -> bool:
    from .settings import progress_enabled

    if progress is not None:
        return bool(progress)
    return n >= 2000 and progress_enabled(None)


def _textures(patient_seeds: np.ndarray, image_seeds: np.ndarray) -> torch.Tensor:
    """Low-resolution noise (B, 1, 6, 96) per image: the vessel pattern, mostly the patient's.

    Few rows along the radius and many across the angle: sampled in polar coordinates
    around each hilum, it becomes streaks that radiate outwards."""
    out = np.empty((len(patient_seeds), 1, 6, 96), dtype=np.float32)
    for i, (ps, is_) in enumerate(zip(patient_seeds, image_seeds)):
        base = np.random.default_rng(int(ps)).standard_normal((6, 96))
        jitter = np.random.default_rng(int(is_)).standard_normal((6, 96))
        out[i, 0] = 0.95 * base + 0.3 * jitter
    return torch.from_numpy(out)




def _place_lesions(p: dict[str, np.ndarray], rng: np.random.Generator, key: str, radius: np.ndarray) -> np.ndarray:
    """Centres (n, 2), normalised units, of finding ``key`` inside its lung and off its border.

    The patient's own spot (``{key}_a``, ``{key}_b``, ``{key}_side``) is tried first, then 23
    random candidates; a candidate is accepted when its centre and eight points on a ring of
    ``radius`` lie in the lung."""
    n = len(radius)
    keys = ("thorax", "lung_w", "lung_top", "dia_r", "dia_l", "heart_w", "heart_h", "heart_x")
    q = {k: torch.as_tensor(p[k], dtype=torch.float32).view(n, 1) for k in keys}
    k = 24
    side = torch.as_tensor(p[f"{key}_side"], dtype=torch.float32).view(n, 1)
    a = torch.as_tensor(p[f"{key}_a"], dtype=torch.float32).view(n, 1)
    b = torch.as_tensor(p[f"{key}_b"], dtype=torch.float32).view(n, 1)
    offs = torch.as_tensor(rng.random((n, k, 2)), dtype=torch.float32)
    offs[:, 0, 0], offs[:, 0, 1] = a[:, 0], b[:, 0]
    vv = q["lung_top"] + 0.1 + offs[..., 0] * (q["dia_l"] - q["lung_top"] - 0.1)
    xx = 0.12 + offs[..., 1] * (q["thorax"] - 0.2)
    uu = xx * side
    r = torch.as_tensor(radius, dtype=torch.float32).view(n, 1)
    ok = _lung_level(uu, vv, q) < -0.05
    for angle in np.arange(8) * np.pi / 4:
        ring_r = r * 0.9 + 0.02
        ok &= _lung_level(uu + ring_r * float(np.cos(angle)), vv + ring_r * float(np.sin(angle)), q) < 0
    first = torch.where(ok.any(1), ok.float().argmax(1), torch.zeros(n, dtype=torch.long))
    idx = torch.arange(n)
    centres = torch.stack([uu[idx, first], vv[idx, first]], 1).numpy().astype(np.float64)
    miss = ~ok.any(1).numpy()                                     # a rare miss: the lung's centre
    centres[miss, 0] = (p["thorax"][miss] * 0.5) * p[f"{key}_side"][miss]
    centres[miss, 1] = (p["lung_top"][miss] + p["dia_r"][miss]) / 2
    return centres


#: one outline colour per finding in figures (colour-blind safe: Okabe-Ito)
FINDING_COLOURS = {"atelectasis": "#E69F00", "cardiomegaly": "#56B4E9", "effusion": "#009E73",
                   "nodule/mass": "#F0E442", "consolidation/pneumonia": "#D55E00", "pneumothorax": "#CC79A7"}


def phantom_grid_figure(phantoms: PhantomSet, count: int = 8, *, outline: bool = True):
    """A figure for the page (``cxrlab.figures`` style) of the first ``count`` images: two per row,
    in grey, titled with findings, view, sex, age group and site, each finding's mask outlined in
    its own colour (``FINDING_COLOURS``) and named in a legend below. Returns the Figure."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from .figures import MIN_FONT_PT, figure_size, radiograph

    count = min(count, len(phantoms))
    if count < 1:
        raise ValueError("count must be at least 1")
    cols = min(2, count)
    rows = math.ceil(count / cols)
    width, height = figure_size(cols, rows, panel_aspect=1.0)
    fig, axes = plt.subplots(rows, cols, figsize=(width, height + 0.5 * rows + 0.6), squeeze=False,
                             layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for i, ax in enumerate(axes.flat[:count]):
        radiograph(ax, phantoms.images[i])
        for k, name in enumerate(phantoms.classes):
            if outline and phantoms.masks[i, k].any():
                ax.contour(phantoms.masks[i, k], levels=[0.5], colors=FINDING_COLOURS.get(name, "red"), linewidths=1.2)
        row = phantoms.metadata.iloc[i]
        names = textwrap.fill(row["findings"].replace("|", ", ") or "no finding", 30)
        ax.set_title(f"{names}\n{row['view']}, {row['sex']} {row['age_group']}, {row['site'].split()[0]}",
                     fontsize=MIN_FONT_PT)
    handles = [Line2D([], [], color=FINDING_COLOURS.get(c, "red"), label=c) for c in phantoms.classes]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=MIN_FONT_PT, frameon=False)
    return fig


__all__ = ["FINDINGS", "NIH_MAPPING", "AGE_GROUPS", "SEXES", "VIEWS", "Site", "DEFAULT_SITES",
           "PhantomSet", "generate", "phantom_grid_figure", "PHANTOM_VERSION", "nih_statistics",
           "nih_prevalence", "cell_weights", "FINDING_COLOURS", "AP_HEART_MAGNIFICATION"]
