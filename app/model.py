"""Every call the demo app makes to the chest model, in one place.

The app asks this module for four things: the model (:func:`load`), the calibrated
probability of each finding, the conformal set of findings, and a Grad-CAM map for each
finding of the set (:meth:`ChestClassifier.predict`). When the chest model changes (its
findings, its output rule, its calibration), this is the one file to adapt.

The course model (``cxrlab.chest_model.chest_model``) is multi-label: one logit per finding,
each turned into a probability by its own sigmoid (``cxrlab.probabilities.probabilities(...,
multi_label=True)``), since findings co-occur. Calibration is one temperature per finding
(``cxrlab.calibrate.fit_temperatures_per_finding``, Guo et al. 2017 applied to each output),
fitted on the validation split. The set of findings comes from conformal risk control of the
false-negative rate (``cxrlab.risk_control.FalseNegativeRateControl``, Angelopoulos et al.
2022), calibrated on the held-out test split, which neither the training nor the temperatures
saw: the set is every finding whose calibrated probability reaches one threshold, chosen so
that on new images like the calibration ones the expected fraction of an image's true findings
that the set misses is at most ``alpha``. The guarantee is marginal (an average over images,
or patients when the data name them), not a promise about the one image on screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn

from cxrlab.audit import sha256_weights
from cxrlab.calibrate import fit_temperatures_per_finding
from cxrlab.dicom import to_model_input
from cxrlab.explain.gradcam import grad_cam
from cxrlab.multilabel import predict_logits
from cxrlab.probabilities import probabilities
from cxrlab.risk_control import FalseNegativeRateControl

ALPHA = 0.1  #: target false-negative rate: sets miss at most 10 % of an image's true findings, on average


def guarantee(alpha: float, unit: str = "images") -> str:
    """One sentence saying what the set of findings promises, for the page."""
    return (f"On average over new {unit} like the calibration ones, the set misses at most {alpha:.0%} of "
            f"their true findings (expected false-negative rate <= alpha = {alpha:g}). The guarantee is "
            "marginal: an average over many images, not a promise about this one.")


@dataclass
class Prediction:
    """What the model says about one image.

    ``probabilities``: finding -> calibrated probability in [0, 1] (one sigmoid each: they do
    not sum to 1). ``finding_set``: the findings of the conformal set (probability >=
    ``threshold``), most probable first; it may be empty. ``heatmaps``: finding of the set ->
    Grad-CAM map, float32 (H, W) in [0, 1], at the input image's size. ``alpha``: the
    target false-negative rate of the set.
    """

    probabilities: dict[str, float]
    finding_set: list[str]
    heatmaps: dict[str, np.ndarray] = field(repr=False)
    threshold: float = 0.5
    alpha: float = ALPHA


@dataclass
class ChestClassifier:
    """A chest model ready for the app: network, finding names, calibration, conformal sets.

    ``net``: takes (N, C, S, S) images in [0, 1] and returns (N, len(findings)) logits.
    ``target_layer``: the module Grad-CAM explains. ``temperatures``: (F,) > 0, finding k's
    logit is divided by ``temperatures[k]`` before its sigmoid. ``risk_control``: a fitted
    :class:`FalseNegativeRateControl`. ``calibration_unit``: "images" or "patients" (what the
    guarantee averages over). ``version`` and ``weights_sha256`` go into the audit log.
    """

    net: nn.Module
    findings: list[str]
    target_layer: nn.Module
    image_size: int
    channels: int
    temperatures: np.ndarray
    risk_control: FalseNegativeRateControl
    version: str
    weights_sha256: str
    description: str = ""
    calibration_unit: str = "images"

    @property
    def alpha(self) -> float:
        """The target false-negative rate of the sets."""
        return self.risk_control.alpha

    def guarantee(self) -> str:
        """What the sets promise, in one sentence."""
        return guarantee(self.alpha, self.calibration_unit)

    def predict(self, image: np.ndarray) -> Prediction:
        """Calibrated probabilities, the set of findings and a Grad-CAM map per finding of the set.

        Args:
            image: float (H, W) in [0, 1], brighter = denser (``cxrlab.dicom.load``).
        Returns:
            A :class:`Prediction`; heatmaps are resized to (H, W).
        Raises:
            ValueError: the image is not 2-D, not finite, or outside [0, 1].
        """
        image = np.asarray(image, dtype=np.float32)
        if image.ndim != 2:
            raise ValueError(f"expected one grayscale radiograph (H, W), got shape {image.shape}")
        device = next(self.net.parameters()).device
        x = to_model_input(image, self.image_size, channels=self.channels, keep_aspect=True)[None].to(device)
        probs = calibrated_probabilities(self.net, x, self.temperatures)[0]
        in_set = self.risk_control.predict(probs[None])[0]
        order = np.argsort(-probs, kind="stable")
        finding_set = [self.findings[k] for k in order if in_set[k]]
        heatmaps: dict[str, np.ndarray] = {}
        if finding_set:  # one batch: the image once per finding of the set, each with its own target
            targets = [self.findings.index(f) for f in finding_set]
            cams = grad_cam(self.net, x.repeat(len(targets), 1, 1, 1), targets,
                            target_layer=self.target_layer).cpu().numpy()
            heatmaps = {f: _to_image_frame(cam, image.shape) for f, cam in zip(finding_set, cams)}
        return Prediction(probabilities={f: float(p) for f, p in zip(self.findings, probs)},
                          finding_set=finding_set, heatmaps=heatmaps,
                          threshold=float(self.risk_control.threshold), alpha=self.alpha)


def calibrated_probabilities(net: nn.Module, images: torch.Tensor, temperatures: np.ndarray) -> np.ndarray:
    """float (N, F) sigmoid(z_k / T_k) of ``net``'s logits: the one multi-label rule, per-finding temperatures."""
    logits = predict_logits(net, images).double()
    scaled = logits / torch.as_tensor(np.asarray(temperatures, dtype=np.float64))
    return probabilities(scaled, multi_label=True).numpy()


def _to_image_frame(cam: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Undo ``to_model_input``'s pad-to-square and resize: a (S, S) map back onto (H, W)."""
    rows, cols = shape
    side = max(rows, cols)
    square = torch.nn.functional.interpolate(torch.as_tensor(cam)[None, None], size=(side, side),
                                             mode="bilinear", align_corners=False)[0, 0]
    top, left = (side - rows) // 2, (side - cols) // 2
    return square[top:top + rows, left:left + cols].clamp(0, 1).numpy().astype(np.float32)


def _calibrate(net: nn.Module, validation: tuple[torch.Tensor, torch.Tensor],
               calibration: tuple[torch.Tensor, torch.Tensor], patient_ids: np.ndarray | None = None,
               alpha: float = ALPHA) -> tuple[np.ndarray, FalseNegativeRateControl]:
    """Per-finding temperatures from ``validation``, the FNR threshold from ``calibration``.

    The two splits must be disjoint from the training data and from each other, so that the
    temperatures are a fixed function when the risk is calibrated (exchangeability holds).
    A finding with only negatives in the validation split keeps T = 1.
    """
    images, labels = validation
    temperatures = fit_temperatures_per_finding(predict_logits(net, images).numpy(), labels.numpy(),
                                                if_single_class="keep")
    cal_images, cal_labels = calibration
    cal_probs = calibrated_probabilities(net, cal_images, temperatures)
    control = FalseNegativeRateControl(alpha=alpha).fit(cal_probs, cal_labels.numpy(), patient_ids=patient_ids)
    return temperatures, control


def load_course_model() -> ChestClassifier:
    """The course's chest model (``cxrlab.chest_model.chest_model``: loaded from its cache, or
    trained once at the run mode's size, about a minute on a CPU): temperatures fitted on its
    validation split, the set of findings calibrated on its test split (by patient when known)."""
    import cxrlab
    from cxrlab.chest_model import chest_model

    rt = cxrlab.setup(seed=0, data=("chest",), quiet=True)
    cm = chest_model(rt, progress=False)
    patients = cm.data.patient_ids("test")
    try:
        temperatures, control = _calibrate(cm.model, cm.data.val.tensors, cm.data.test.tensors, patients)
    except ValueError as error:  # too few patients with findings (small run modes): images as the unit
        if patients is None or "too few" not in str(error):
            raise
        patients = None
        temperatures, control = _calibrate(cm.model, cm.data.val.tensors, cm.data.test.tensors)
    return ChestClassifier(net=cm.model, findings=list(cm.classes), target_layer=cm.model.target_layer,
                           image_size=cm.image_size, channels=int(cm.data.image_shape[0]),
                           temperatures=temperatures, risk_control=control,
                           version=f"chest {cm.version}", weights_sha256=cm.weights_sha256,
                           description=cm.summary(), calibration_unit="patients" if patients is not None else "images")


class _TinyNet(nn.Module):
    def __init__(self, findings: int):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, findings))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _random_split(generator: torch.Generator, n: int, findings: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random images and multi-label targets (about 30 % positives, every finding both ways)."""
    images = torch.rand(n, 1, 32, 32, generator=generator)
    labels = (torch.rand(n, findings, generator=generator) < 0.3).float()
    labels[0], labels[1] = 1.0, 0.0
    return images, labels


def load_tiny_model(seed: int = 0) -> ChestClassifier:
    """A small untrained multi-label CNN with the phantom's findings (``cxrlab.phantom.FINDINGS``),
    for tests and demos without the course model: its probabilities mean nothing, the plumbing
    (per-finding temperatures, the FNR-controlled set, Grad-CAM) is the real one (under a second)."""
    from cxrlab.phantom import FINDINGS

    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = _TinyNet(len(FINDINGS)).eval()
    validation = _random_split(generator, 60, len(FINDINGS))
    calibration = _random_split(generator, 60, len(FINDINGS))
    temperatures, control = _calibrate(net, validation, calibration)
    return ChestClassifier(net=net, findings=list(FINDINGS), target_layer=net.features[-2],
                           image_size=32, channels=1, temperatures=temperatures, risk_control=control,
                           version="tiny-untrained v2 (multi-label)", weights_sha256=sha256_weights(net),
                           description="tiny untrained CNN (tests only: its outputs mean nothing)")


def load(kind: str = "course") -> ChestClassifier:
    """The model the app uses: ``"course"`` (the chest model of chapters 7-10) or ``"tiny"``."""
    if kind == "course":
        return load_course_model()
    if kind == "tiny":
        return load_tiny_model()
    raise ValueError(f"model kind must be 'course' or 'tiny', got {kind!r}")
