"""Every call the demo app makes to the chest model, in one place.

The app asks this module for four things: the model (:func:`load`), the calibrated
probability of each finding, the conformal set of findings, and a Grad-CAM map per finding
(:meth:`ChestClassifier.predict`). When the chest model changes (its classes, its output
rule, its calibration), this is the one file to adapt.

Today's course model (``cxrlab.chest.chest_model``) is a single-label classifier over
``classes``; its probabilities come from ``cxrlab.probabilities.probabilities`` (softmax
over several logits, sigmoid for one logit or ``multi_label=True``). Calibration is
temperature scaling fitted on the validation split (Guo et al. 2017); the conformal set is
split conformal with the LAC score at ``alpha`` (Sadinle et al. 2019), calibrated on the
same split: it holds the true class for at least 1 - alpha of new images like the
calibration ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn

from cxrlab.audit import sha256_weights
from cxrlab.calibrate import fit_temperature
from cxrlab.conformal import SplitConformal
from cxrlab.dicom import to_model_input
from cxrlab.explain.gradcam import grad_cam
from cxrlab.probabilities import probabilities

ALPHA = 0.1  #: conformal miss rate: sets hold the true finding for >= 90 % of images


@dataclass
class Prediction:
    """What the model says about one image.

    ``probabilities``: finding -> calibrated probability in [0, 1]. ``conformal_set``: the
    findings of the (1 - alpha) conformal set, most probable first. ``heatmaps``: finding ->
    Grad-CAM map, float32 (H, W) in [0, 1], at the input image's size.
    """

    probabilities: dict[str, float]
    conformal_set: list[str]
    heatmaps: dict[str, np.ndarray] = field(repr=False)
    alpha: float = ALPHA


@dataclass
class ChestClassifier:
    """A chest model ready for the app: network, finding names, calibration, conformal sets.

    ``net``: takes (N, C, S, S) images in [0, 1] and returns (N, len(findings)) logits.
    ``target_layer``: the module Grad-CAM explains. ``temperature``: > 0, divides the
    logits before the probability rule. ``version`` and ``weights_sha256`` go into the audit log.
    """

    net: nn.Module
    findings: list[str]
    target_layer: nn.Module
    image_size: int
    channels: int
    temperature: float
    conformal: SplitConformal
    version: str
    weights_sha256: str
    description: str = ""

    def predict(self, image: np.ndarray) -> Prediction:
        """Calibrated probabilities, conformal set and Grad-CAM per finding for one radiograph.

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
        with torch.no_grad():
            logits = self.net.eval()(x).float().cpu()
        probs = probabilities(logits / self.temperature).numpy()[0]  # temperature-scaled
        in_set = self.conformal.predict(probs[None])[0]
        order = np.argsort(-probs)
        heatmaps = {}
        for k, finding in enumerate(self.findings):
            cam = grad_cam(self.net, self.target_layer, x, targets=k)[0]
            heatmaps[finding] = _to_image_frame(cam.cpu().numpy(), image.shape)
        return Prediction(probabilities={f: float(p) for f, p in zip(self.findings, probs)},
                          conformal_set=[self.findings[k] for k in order if in_set[k]], heatmaps=heatmaps)


def _to_image_frame(cam: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Undo ``to_model_input``'s pad-to-square and resize: a (S, S) map back onto (H, W)."""
    rows, cols = shape
    side = max(rows, cols)
    square = torch.nn.functional.interpolate(torch.as_tensor(cam)[None, None], size=(side, side),
                                             mode="bilinear", align_corners=False)[0, 0]
    top, left = (side - rows) // 2, (side - cols) // 2
    return square[top:top + rows, left:left + cols].clamp(0, 1).numpy().astype(np.float32)


def _calibrate(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, SplitConformal]:
    """Temperature and conformal sets from held-out (images, labels)."""
    from cxrlab.train import predict

    logits, labels = predict(net, (images, labels))
    temperature = fit_temperature(logits.numpy(), labels.numpy())
    probs = probabilities(logits / temperature).numpy()
    return temperature, SplitConformal(score="lac", alpha=ALPHA).fit(probs, labels.numpy())


def load_course_model() -> ChestClassifier:
    """The course's chest model (``cxrlab.chest.chest_model``: loaded from its cache, or trained
    once at the run mode's size, about a minute on a CPU), calibrated on its validation split."""
    import cxrlab
    from cxrlab.chest import chest_model

    rt = cxrlab.setup(seed=0, data=("chest",), quiet=True)
    cm = chest_model(rt, progress=False)
    x_val, y_val = cm.data.val.tensors
    temperature, conformal = _calibrate(cm.model, x_val, y_val)
    return ChestClassifier(net=cm.model, findings=list(cm.classes), target_layer=cm.model.target_layer,
                           image_size=cm.image_size, channels=int(cm.data.image_shape[0]),
                           temperature=temperature, conformal=conformal,
                           version=f"chest {cm.version}", weights_sha256=cm.weights_sha256,
                           description=cm.summary())


class _TinyNet(nn.Module):
    def __init__(self, classes: int):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def load_tiny_model(seed: int = 0) -> ChestClassifier:
    """A small untrained CNN with the course model's findings, for tests and demos without the
    course model: its probabilities mean nothing, the plumbing is the real one (under a second)."""
    from cxrlab.phantom import PHANTOM_CLASSES

    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = _TinyNet(len(PHANTOM_CLASSES)).eval()
    images = torch.rand(60, 1, 32, 32, generator=generator)
    labels = torch.arange(60) % len(PHANTOM_CLASSES)
    temperature, conformal = _calibrate(net, images, labels)
    return ChestClassifier(net=net, findings=list(PHANTOM_CLASSES), target_layer=net.features[-2],
                           image_size=32, channels=1, temperature=temperature, conformal=conformal,
                           version="tiny-untrained v1", weights_sha256=sha256_weights(net),
                           description="tiny untrained CNN (tests only: its outputs mean nothing)")


def load(kind: str = "course") -> ChestClassifier:
    """The model the app uses: ``"course"`` (the chest model of chapters 7-10) or ``"tiny"``."""
    if kind == "course":
        return load_course_model()
    if kind == "tiny":
        return load_tiny_model()
    raise ValueError(f"model kind must be 'course' or 'tiny', got {kind!r}")
