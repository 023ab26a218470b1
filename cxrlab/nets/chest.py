"""ChestNet: the course's chest X-ray classifier, a backbone that standardises its own input.

One output logit per finding: findings co-occur, so each is a yes/no question of its own,
answered by an independent sigmoid (``cxrlab.probabilities.probabilities(logits,
multi_label=True)``), never a softmax across findings.
"""

from __future__ import annotations

import torch
import torch.nn as nn

#: fewest cells per side of the Grad-CAM layer's maps (224 px / 32 = 7 for layer4)
MIN_CAM_CELLS = 7


class ChestNet(nn.Module):
    """A backbone that takes images in [0, 1] and standardises them itself.

    Args:
        backbone: a ResNet-style network (``layer1`` .. ``layer4`` stages) ending in one logit
            per finding.
        mean, std: one value per input channel, from the training split; kept as buffers, so
            they travel with the weights and cannot be forgotten at inference.
        classes: the finding names, one per output logit (optional, for reports).

    Input (N, C, H, W) float in [0, 1]; output (N, F) logits, F = number of findings.
    ``target_layer`` is the layer for Grad-CAM (the last residual block whose maps are fine
    enough to localise at this input size).
    """

    #: input side (pixels) the network was built for; set by ``chest_model``
    input_size: int = 224

    def __init__(self, backbone: nn.Module, mean: torch.Tensor, std: torch.Tensor,
                 classes: list[str] | None = None):
        super().__init__()
        self.backbone = backbone
        self.register_buffer("mean", torch.as_tensor(mean).reshape(1, -1, 1, 1).float().clone())
        self.register_buffer("std", torch.as_tensor(std).reshape(1, -1, 1, 1).float().clone())
        self.classes = list(classes) if classes is not None else None

    @property
    def target_layer(self) -> nn.Module:
        """The layer for Grad-CAM: the last residual block of ``target_stage``."""
        return getattr(self.backbone, self.target_stage)[-1]

    @property
    def target_stage(self) -> str:
        """Name of the backbone stage Grad-CAM explains: the deepest one whose maps still
        have at least ``MIN_CAM_CELLS`` (7) cells per side at ``input_size``.

        ResNet-18's stages divide the side by 4, 8, 16 and 32, so: ``layer4`` from 224 px
        (7x7, the usual choice), ``layer3`` from 112 px, ``layer2`` from 56 px (8x8 at 64 px).
        A coarser map cannot point at a lesion a few pixels wide.
        """
        for stage, stride in (("layer4", 32), ("layer3", 16), ("layer2", 8)):
            if self.input_size // stride >= MIN_CAM_CELLS:
                return stage
        return "layer1"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.mean.shape[1]:
            raise ValueError(f"ChestNet expects (N, {self.mean.shape[1]}, H, W) images in [0, 1], "
                             f"got {tuple(x.shape)}")
        return self.backbone((x - self.mean) / self.std)


__all__ = ["ChestNet", "MIN_CAM_CELLS"]
