"""Synthetic frontal (PA) chest radiographs with ground truth: the course's chest stand-in.

``generate(n)`` draws ``n`` radiographs, deterministic by ``seed``. Each image is built
from a simple attenuation model: a soft-tissue torso, two air-filled lung fields with
vessel markings, heart and mediastinum, spine, ribs and clavicles, the diaphragm and a
gastric bubble. A finding (a focal "pneumonia"-like consolidation or a nodule) is added
inside a lung, and its pixel-exact mask is returned. The attenuation image then passes
through an acquisition *site*: exposure, contrast (gamma), detector blur, quantum noise
and an optional burned-in marker (a lead letter or a "PORTABLE" label) whose presence can
be tied to the label on purpose, to show shortcut learning.

What real sets lack and this one has: exact lesion masks (to score explanations),
controllable sites (to show bias and drift) and as many images as a CPU can draw
(measured: about 140-180 images of 224 x 224 per CPU-second, batches vectorised with
torch and drawn in parallel threads; smaller images are faster).
Geometry uses normalised coordinates: ``u`` from -1 (image left, the patient's right in
a PA view) to 1, ``v`` from -1 (top) to 1 (bottom); every size scales with the image.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

PHANTOM_VERSION = "1"
PHANTOM_CLASSES = ["normal", "pneumonia", "nodule"]
FINDINGS = ("pneumonia", "nodule")
AGE_GROUPS = ("18-39", "40-64", "65+")
SEXES = ("F", "M")
MIN_SIZE = 32
CHUNK_PIXELS = 8 * 224 * 224  # pixels drawn per vectorised batch: small enough for the CPU cache


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
    """What ``generate`` returns: images, labels, masks and one metadata row per image.

    ``images``: float32 (n, size, size) in [0, 1], brighter = denser (as a radiograph is
    displayed). ``labels``: int64 (n,) indices into ``classes`` (PHANTOM_CLASSES).
    ``masks``: bool (n, size, size), True on the finding's pixels (all False for normal).
    ``metadata``: pandas table (patient, study, age group, sex, site, label, finding and its
    centre/radius in pixels, marker). ``config``: the arguments that made the set.
    ``lungs``: bool (n, size, size), the visible lung fields (to score where a model looks).
    """

    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    metadata: pd.DataFrame
    classes: list[str] = field(default_factory=lambda: list(PHANTOM_CLASSES))
    sites: tuple[Site, ...] = DEFAULT_SITES
    config: dict = field(default_factory=dict)
    lungs: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def size(self) -> int:
        """Side length of the images in pixels."""
        return int(self.images.shape[-1])

    def subset(self, index: Sequence[int] | np.ndarray) -> "PhantomSet":
        """A new PhantomSet with only the images at ``index`` (metadata re-indexed from 0)."""
        index = np.asarray(index)
        return PhantomSet(self.images[index], self.labels[index], self.masks[index],
                          self.metadata.iloc[index].reset_index(drop=True), list(self.classes),
                          self.sites, dict(self.config), None if self.lungs is None else self.lungs[index])

    def __repr__(self) -> str:
        counts = ", ".join(f"{c} {int((self.labels == i).sum())}" for i, c in enumerate(self.classes))
        return f"PhantomSet({len(self)} images {self.size}x{self.size}: {counts})"


# ----------------------------------------------------------------------------- checks


def _check_args(n: int, size: int, prevalence: float, findings: Iterable[str],
                sites: Sequence[Site] | None, marker_correlation: float,
                studies_per_patient: int) -> tuple[tuple[str, ...], tuple[Site, ...]]:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer (number of images), got {n!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < MIN_SIZE:
        raise ValueError(f"size must be an integer of at least {MIN_SIZE} pixels, got {size!r}; "
                         "anatomy is unreadable below that")
    if size > 1024:
        raise ValueError(f"size {size} is above 1024 pixels; draw at <= 1024 and upsample if needed")
    if not 0.0 <= float(prevalence) <= 1.0:
        raise ValueError(f"prevalence must be in [0, 1] (fraction of images with a finding), got {prevalence}")
    findings = tuple(findings)
    unknown = [f for f in findings if f not in FINDINGS]
    if unknown or not findings or len(set(findings)) != len(findings):
        raise ValueError(f"findings must be a non-empty selection of {FINDINGS} without repeats, got {findings}")
    if not -1.0 <= float(marker_correlation) <= 1.0:
        raise ValueError(f"marker_correlation must be in [-1, 1] (a correlation), got {marker_correlation}")
    if isinstance(studies_per_patient, bool) or not isinstance(studies_per_patient, (int, np.integer)) \
            or studies_per_patient < 1:
        raise ValueError(f"studies_per_patient must be a positive integer, got {studies_per_patient!r}")
    sites = DEFAULT_SITES if sites is None else tuple(sites)
    if not sites or not all(isinstance(s, Site) for s in sites):
        raise ValueError("sites must be a non-empty list of cxrlab.phantom.Site (see DEFAULT_SITES)")
    if len({s.name for s in sites}) != len(sites):
        raise ValueError("site names must be unique")
    if marker_correlation != 0 and not all(s.marker_text for s in sites):
        raise ValueError("marker_correlation != 0 needs a marker_text on every site")
    return findings, sites


# ----------------------------------------------------------------------------- per-patient draws


def _draw_patients(rng: np.random.Generator, n_patients: int, prevalence: float,
                   findings: tuple[str, ...], sites: tuple[Site, ...]) -> dict[str, np.ndarray]:
    """Everything that is fixed for a patient: attributes, body shape, label and lesion."""
    p = {}
    n_pos = int(round(prevalence * n_patients))
    label_rng, rng = rng.spawn(2)  # labels apart: the same seed gives the same bodies at any prevalence
    finding_codes = np.array([PHANTOM_CLASSES.index(f) for f in findings])
    label = np.zeros(n_patients, dtype=np.int64)
    sick = label_rng.permutation(n_patients)[:n_pos]             # findings split evenly
    label[sick] = finding_codes[label_rng.permutation(n_pos) % len(findings)]
    p["label"] = label
    weights = np.array([s.weight for s in sites], dtype=float)
    p["site"] = rng.choice(len(sites), size=n_patients, p=weights / weights.sum())
    p["sex"] = rng.integers(0, 2, n_patients)                    # 0 F, 1 M
    age = np.clip(rng.normal(55, 18, n_patients), 18, 95).round().astype(int)
    p["age"] = age
    p["age_group"] = np.digitize(age, [40, 65])                  # 0, 1, 2
    old = (age - 18) / 77.0                                      # 0 young .. 1 oldest
    male = p["sex"].astype(float)
    # body and organs (normalised units)
    p["thorax"] = rng.uniform(0.80, 0.90, n_patients) + 0.04 * male      # rib-cage half width
    p["lung_w"] = p["thorax"] * rng.uniform(0.44, 0.49, n_patients)     # lung semi-axis across
    p["lung_top"] = rng.uniform(-0.80, -0.72, n_patients)
    p["dia_r"] = rng.uniform(0.34, 0.50, n_patients) - 0.04 * old        # right dome (image left)
    p["dia_l"] = p["dia_r"] + rng.uniform(0.03, 0.09, n_patients)       # left dome is lower
    p["heart_w"] = rng.uniform(0.29, 0.35, n_patients) + 0.05 * old      # heart half width
    p["heart_h"] = p["heart_w"] * rng.uniform(0.65, 0.8, n_patients)
    p["heart_x"] = rng.uniform(0.10, 0.16, n_patients)
    p["rib_spacing"] = rng.uniform(0.105, 0.125, n_patients)
    p["rib_bend"] = rng.uniform(0.75, 1.0, n_patients)
    p["bone"] = rng.uniform(0.9, 1.1, n_patients) * (1.05 - 0.35 * old)  # osteopenia with age
    p["vessels"] = rng.uniform(0.8, 1.2, n_patients) * (0.9 + 0.3 * old)
    p["breast"] = (1 - male) * rng.uniform(0.5, 1.0, n_patients)
    p["tex_seed"] = rng.integers(0, 2**31 - 1, n_patients)
    # the lesion (used only when label > 0): side, position inside that lung, size, contrast
    p["les_side"] = rng.choice([-1.0, 1.0], n_patients)
    p["les_a"] = rng.uniform(0.0, 1.0, n_patients)           # position along lung height
    p["les_b"] = rng.uniform(0.0, 1.0, n_patients)           # position across lung width
    pneu = p["label"] == PHANTOM_CLASSES.index("pneumonia")
    p["les_r"] = np.where(pneu, rng.uniform(0.09, 0.17, n_patients), rng.uniform(0.04, 0.065, n_patients))
    p["les_amp"] = np.where(pneu, rng.uniform(0.12, 0.24, n_patients), rng.uniform(0.15, 0.28, n_patients))
    p["les_shape"] = rng.uniform(-1, 1, (n_patients, 6))     # lobulation of a consolidation
    return p


def _marker_flags(rng: np.random.Generator, labels: np.ndarray, sites: tuple[Site, ...],
                  site_index: np.ndarray, rho: float) -> np.ndarray:
    """Whether each image carries its site's burned-in marker.

    ``rho == 0``: each site's own ``marker_probability``. Otherwise the marker copies the
    label (any finding = 1; for rho < 0 its opposite) with probability ``|rho|`` and is
    drawn independently otherwise, with the rate that keeps the marker's marginal rate
    fixed, so the correlation (phi coefficient) between marker and finding is ``rho`` in
    expectation.
    """
    n = len(labels)
    if rho == 0:
        probs = np.array([s.marker_probability for s in sites])[site_index]
        return rng.random(n) < probs
    y = labels > 0
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


def _draw_chunk(q: dict[str, torch.Tensor], size: int, sites: tuple[Site, ...],
                marker: torch.Tensor, marker_pos: np.ndarray, generator: torch.Generator
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw B images; returns (images (B,H,W) in [0,1], masks (B,H,W) bool, lung fields).

    The smooth anatomy is drawn at up to 128 pixels and resized; the lesion, its mask, the
    noise and the marker are drawn at the full size, so masks are exact at ``size``.
    """
    b = q["thorax"].shape[0]
    g = {k: val.view(b, 1, 1) for k, val in q.items() if val.ndim == 1}
    res = size if size <= 128 else (size + 1) // 2
    a, lung_lv = _anatomy(g, q["texture"], res)
    if res != size:
        both = F.interpolate(torch.stack([a, lung_lv], 1), size=(size, size), mode="bilinear",
                             align_corners=False)
        a, lung_lv = both[:, 0].contiguous(), both[:, 1].contiguous()

    # the finding, drawn in a window around it (only images whose label > 0)
    masks = torch.zeros((b, size, size), dtype=torch.bool)
    half = size / 2
    edge = 3.0 / size + 0.01
    for i in torch.nonzero(q["has_lesion"] > 0).flatten().tolist():
        lx, ly, lr = float(q["les_x"][i] - q["shift_x"][i]), float(q["les_y"][i] - q["shift_y"][i]), float(q["les_r"][i])
        pneu = bool(q["is_pneu"][i] > 0)
        reach = lr * (1.6 if pneu else 1.3) + 4 / size
        c0, c1 = max(0, int((lx - reach + 1) * half)), min(size, int(math.ceil((lx + reach + 1) * half)) + 1)
        r0, r1 = max(0, int((ly - reach + 1) * half)), min(size, int(math.ceil((ly + reach + 1) * half)) + 1)
        if c1 <= c0 or r1 <= r0:
            continue
        cu = ((torch.arange(c0, c1, dtype=torch.float32) + 0.5) / half - 1).view(1, -1) - lx
        cv = ((torch.arange(r0, r1, dtype=torch.float32) + 0.5) / half - 1).view(-1, 1) - ly
        dist = torch.sqrt(cu * cu + cv * cv) + 1e-6
        if pneu:
            theta = torch.atan2(cv, cu)
            sh = q["les_shape"][i]
            lobes = 1 + 0.2 * (sh[0] * torch.cos(2 * theta + 3 * sh[1]) + sh[2] * torch.cos(3 * theta + 3 * sh[3])
                               + 0.5 * sh[4] * torch.cos(5 * theta + 3 * sh[5]))
            opacity = _sig((lr * lobes - dist) / (0.22 * lr))
            # patchy air-space filling, mottled by a fixed pattern (the mask keeps the outline)
            field = np.random.default_rng(int(q["les_seed"][i])).standard_normal((1, 1, 5, 5)).astype(np.float32)
            field = F.interpolate(torch.from_numpy(field), size=(r1 - r0, c1 - c0), mode="bicubic", align_corners=False)
            texture = 0.85 + 0.15 * field[0, 0].clamp(-2, 2)
        else:
            opacity = _sig((lr - dist) / (0.1 * lr + 0.5 / half))
            texture = torch.ones_like(opacity)
        lv = lung_lv[i, r0:r1, c0:c1]
        # the mask: where the finding reaches half its full density, inside the lung field
        masks[i, r0:r1, c0:c1] = (opacity >= 0.5) & (lv < 0)
        a[i, r0:r1, c0:c1] += float(q["les_amp"][i]) * opacity * texture * _sig(-lv / edge).clamp_min(0.3)

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


def generate(n: int, *, size: int = 224, seed: int = 0, prevalence: float = 0.5,
             findings: Sequence[str] = FINDINGS, sites: Sequence[Site] | None = None,
             marker_correlation: float = 0.0, studies_per_patient: int = 1,
             lesion_contrast: float = 1.0, progress: bool | None = None) -> PhantomSet:
    """Draw ``n`` synthetic frontal chest radiographs, identical for identical arguments.

    ``size``: side in pixels (32 to 1024). ``prevalence``: fraction of patients with a
    finding (0 to 1), split evenly over ``findings`` (a subset of "pneumonia", "nodule").
    ``sites``: acquisition sites (default DEFAULT_SITES). ``marker_correlation`` in
    [-1, 1]: correlation between having a finding and carrying the burned-in marker (0:
    each site's own marker rate). ``studies_per_patient``: images per patient (same body
    and finding, new positioning, exposure noise and marker draw), for patient-level splits.
    ``lesion_contrast``: multiplies every finding's density (0.25 to 4; 1 = the default
    mix of subtle and obvious findings; larger makes findings easier to see and to learn).
    ``progress``: tqdm bar (None: only for n >= 2000, unless $CXRLAB_PROGRESS=0).
    Returns a PhantomSet.
    """
    findings, sites = _check_args(n, size, prevalence, findings, sites, marker_correlation,
                                  studies_per_patient)
    if not 0.25 <= float(lesion_contrast) <= 4.0:
        raise ValueError(f"lesion_contrast must be in [0.25, 4] (1 = default), got {lesion_contrast}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: one thread is faster, and far faster on a busy CPU
    try:
        return _generate(n, size, int(seed), float(prevalence), findings, sites,
                         float(marker_correlation), int(studies_per_patient), float(lesion_contrast), progress)
    finally:
        torch.set_num_threads(threads)


def _generate(n: int, size: int, seed: int, prevalence: float, findings: tuple[str, ...],
              sites: tuple[Site, ...], marker_correlation: float, studies_per_patient: int,
              lesion_contrast: float, progress: bool | None) -> PhantomSet:
    body_rng, marker_rng, rng = np.random.default_rng([int(seed), 20261123]).spawn(3)
    n_patients = math.ceil(n / studies_per_patient)
    pat = _draw_patients(body_rng, n_patients, float(prevalence), findings, sites)
    owner = np.repeat(np.arange(n_patients), studies_per_patient)[:n]   # image -> patient
    study_no = np.tile(np.arange(studies_per_patient), n_patients)[:n]
    labels = pat["label"][owner]
    site_index = pat["site"][owner]
    has_marker = _marker_flags(marker_rng, labels, sites, site_index, float(marker_correlation))
    marker_pos = rng.random((n, 3))
    shift = rng.normal(0, 0.02, (n, 2))
    exposure_jitter = np.exp(rng.normal(0, 0.06, n))
    gas = rng.uniform(0.2, 1.0, n)
    les_jitter = rng.normal(0, 0.015, (n, 2)) * (study_no[:, None] > 0)
    tex_seeds = rng.integers(0, 2**31 - 1, n)

    # lesion centres: inside the chosen lung, from the patient's two position numbers
    per_image = {k: val[owner] for k, val in pat.items()}
    centres = _place_lesions(per_image, rng)
    centres = centres + les_jitter

    site_arr = {
        "exposure": np.array([s.exposure for s in sites])[site_index] * exposure_jitter,
        "gamma": np.array([s.gamma for s in sites])[site_index],
        "noise": np.array([s.noise_sigma for s in sites])[site_index],
        "blur": np.array([s.blur for s in sites])[site_index],
    }
    images = np.empty((n, size, size), dtype=np.float32)
    masks = np.empty((n, size, size), dtype=bool)
    lungs = np.empty((n, size, size), dtype=bool)
    noise_seed = int(rng.integers(0, 2**62))
    chunk = max(1, min(256, CHUNK_PIXELS // (size * size)))  # depends on size only: deterministic
    starts = list(range(0, n, chunk))

    def draw(index_start: tuple[int, int]) -> None:
        index, start = index_start
        sl = slice(start, min(start + chunk, n))
        q = {
            "thorax": per_image["thorax"][sl], "lung_w": per_image["lung_w"][sl],
            "lung_top": per_image["lung_top"][sl], "dia_r": per_image["dia_r"][sl],
            "dia_l": per_image["dia_l"][sl], "heart_w": per_image["heart_w"][sl],
            "heart_h": per_image["heart_h"][sl], "heart_x": per_image["heart_x"][sl],
            "rib_spacing": per_image["rib_spacing"][sl], "rib_bend": per_image["rib_bend"][sl],
            "bone": per_image["bone"][sl], "vessels": per_image["vessels"][sl],
            "breast": per_image["breast"][sl], "gas": gas[sl],
            "shift_x": shift[sl, 0], "shift_y": shift[sl, 1],
            "les_x": centres[sl, 0], "les_y": centres[sl, 1], "les_r": per_image["les_r"][sl],
            "les_amp": per_image["les_amp"][sl] * lesion_contrast,
            "has_lesion": (labels[sl] > 0).astype(float),
            "is_pneu": (labels[sl] == PHANTOM_CLASSES.index("pneumonia")).astype(float),
            "exposure": site_arr["exposure"][sl], "gamma": site_arr["gamma"][sl],
            "noise": site_arr["noise"][sl],
        }
        q = {k: torch.as_tensor(np.asarray(val), dtype=torch.float32) for k, val in q.items()}
        q["les_shape"] = torch.as_tensor(per_image["les_shape"][sl], dtype=torch.float32)
        q["blur"] = torch.as_tensor(site_arr["blur"][sl], dtype=torch.float32)
        q["site_index"] = torch.as_tensor(site_index[sl])
        q["les_seed"] = torch.as_tensor(per_image["tex_seed"][sl] % (2**31 - 1) + 1)
        q["texture"] = _textures(per_image["tex_seed"][sl], tex_seeds[sl])
        generator = torch.Generator().manual_seed(noise_seed + index)  # one stream per batch
        with torch.no_grad():
            img, msk, lng = _draw_chunk(q, size, sites, torch.as_tensor(has_marker[sl]),
                                        marker_pos[sl], generator)
        images[sl] = img.numpy()
        masks[sl] = msk.numpy()
        lungs[sl] = lng.numpy()

    # torch releases the GIL inside its kernels, so batches drawn in threads use every core;
    # each batch has its own noise stream, so the result does not depend on the scheduling
    workers = min(len(starts), max(1, min(4, os.cpu_count() or 1)))
    bar = None
    if _progress(progress, n):
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc="phantoms", unit="image")
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

    half = size / 2
    finding = np.array(PHANTOM_CLASSES, dtype=object)[labels]
    finding[labels == 0] = "none"
    has_finding = labels > 0
    metadata = pd.DataFrame({
        "patient_id": [f"P{i:05d}" for i in owner],
        "study_id": [f"S{i:06d}" for i in range(n)],
        "study_number": study_no,
        "age": pat["age"][owner],
        "age_group": np.array(AGE_GROUPS, dtype=object)[pat["age_group"][owner]],
        "sex": np.array(SEXES, dtype=object)[pat["sex"][owner]],
        "site": np.array([s.name for s in sites], dtype=object)[site_index],
        "label": labels,
        "finding": finding,
        "finding_x": np.where(has_finding, (centres[:, 0] - shift[:, 0] + 1) * half - 0.5, np.nan),
        "finding_y": np.where(has_finding, (centres[:, 1] - shift[:, 1] + 1) * half - 0.5, np.nan),
        "finding_radius": np.where(has_finding, per_image["les_r"] * half, np.nan),
        "finding_side": np.where(has_finding, np.where(per_image["les_side"] < 0, "right", "left"), "none"),
        "mask_pixels": masks.sum(axis=(1, 2)),
        "has_marker": has_marker.astype(bool),
        "marker_text": np.where(has_marker, np.array([s.marker_text for s in sites], dtype=object)[site_index], ""),
        "exposure": site_arr["exposure"],
    })
    config = {"n": int(n), "size": int(size), "seed": int(seed), "prevalence": float(prevalence),
              "findings": list(findings), "sites": [asdict(s) for s in sites],
              "marker_correlation": float(marker_correlation),
              "studies_per_patient": int(studies_per_patient), "lesion_contrast": float(lesion_contrast),
              "version": PHANTOM_VERSION}
    return PhantomSet(images, labels.astype(np.int64), masks, metadata, list(PHANTOM_CLASSES), sites,
                      config, lungs)


def _progress(progress: bool | None, n: int) -> bool:
    if progress is not None:
        return bool(progress)
    return n >= 2000 and os.environ.get("CXRLAB_PROGRESS", "1") not in ("0", "false", "no")


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


def _place_lesions(p: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Lesion centres (n, 2) in normalised units, inside the chosen lung and off its border."""
    n = len(p["label"])
    keys = ("thorax", "lung_w", "lung_top", "dia_r", "dia_l", "heart_w", "heart_h", "heart_x")
    q = {k: torch.as_tensor(p[k], dtype=torch.float32).view(n, 1) for k in keys}
    k = 24
    # candidate points spread over the lung's bounding box, ordered by the patient's draw
    side = torch.as_tensor(p["les_side"], dtype=torch.float32).view(n, 1)
    a = torch.as_tensor(p["les_a"], dtype=torch.float32).view(n, 1)
    b = torch.as_tensor(p["les_b"], dtype=torch.float32).view(n, 1)
    offs = torch.as_tensor(rng.random((n, k, 2)), dtype=torch.float32)
    offs[:, 0, 0], offs[:, 0, 1] = a[:, 0], b[:, 0]              # first try: the patient's own spot
    vv = q["lung_top"] + 0.1 + offs[..., 0] * (q["dia_l"] - q["lung_top"] - 0.1)
    xx = 0.12 + offs[..., 1] * (q["thorax"] - 0.2)
    uu = xx * side
    # accept a candidate when its centre and eight points on a ring around it lie in the lung
    r = torch.as_tensor(p["les_r"], dtype=torch.float32).view(n, 1)
    ok = _lung_level(uu, vv, q) < -0.05
    for angle in np.arange(8) * np.pi / 4:
        ring_r = r * 0.9 + 0.02
        ok &= _lung_level(uu + ring_r * float(np.cos(angle)), vv + ring_r * float(np.sin(angle)), q) < 0
    first = torch.where(ok.any(1), ok.float().argmax(1), torch.zeros(n, dtype=torch.long))
    idx = torch.arange(n)
    centres = torch.stack([uu[idx, first], vv[idx, first]], 1).numpy().astype(np.float64)
    # a rare miss falls back to the lung's centre
    miss = ~ok.any(1).numpy()
    centres[miss, 0] = (p["thorax"][miss] * 0.5) * p["les_side"][miss]
    centres[miss, 1] = (p["lung_top"][miss] + p["dia_r"][miss]) / 2
    return centres


def phantom_grid_figure(phantoms: PhantomSet, count: int = 8, *, outline: bool = True):
    """A matplotlib figure of the first ``count`` images, titled with class and site,
    with the finding's mask outlined in red. Returns the Figure."""
    import matplotlib.pyplot as plt

    count = min(count, len(phantoms))
    if count < 1:
        raise ValueError("count must be at least 1")
    cols = min(4, count)
    rows = math.ceil(count / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, ax in enumerate(axes.flat[:count]):
        ax.imshow(phantoms.images[i], cmap="gray", vmin=0, vmax=1)
        if outline and phantoms.masks[i].any():
            ax.contour(phantoms.masks[i], levels=[0.5], colors="red", linewidths=0.8)
        row = phantoms.metadata.iloc[i]
        ax.set_title(f"{phantoms.classes[phantoms.labels[i]]} | {row['site']}\n"
                     f"{row['sex']} {row['age_group']}" + (" | marker" if row["has_marker"] else ""),
                     fontsize=8)
    fig.tight_layout()
    return fig


__all__ = ["PHANTOM_CLASSES", "FINDINGS", "AGE_GROUPS", "SEXES", "Site", "DEFAULT_SITES",
           "PhantomSet", "generate", "phantom_grid_figure", "PHANTOM_VERSION"]
