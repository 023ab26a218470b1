"""The shared chest model: a ResNet-18 trained once per build on chest radiographs, then reused.

Chapters 7 to 10 all look at the same classifier. ``chest_model(rt)`` trains it on the
phantom set (or on the ``data`` you pass) at the size the run mode allows, saves the
weights with their configuration in ``cxrlab.data.data_dir()/models/``, and on the next
call loads them instead of training again. The file name carries the mode, the seed and a
version hash of everything that shapes the weights (model, data, training settings), so
a change to any of them trains a new model rather than reusing a stale one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from .audit import sha256_weights
from .data import data_dir
from .data.chest import ChestBundle, load_chest
from .distributed import save_on_main
from .runtime import Runtime
from .train import History, fit, predict

CHEST_MODEL_VERSION = "2"  # 2: weights hashed with audit.sha256_weights, as audit logs record them
ARCHITECTURE = "resnet18"
#: fewest cells per side of the Grad-CAM layer's maps (224 px / 32 = 7 for layer4)
MIN_CAM_CELLS = 7


class ChestNet(nn.Module):
    """A backbone that takes images in [0, 1] and standardises them itself.

    ``mean`` and ``std`` (one value per channel, from the training split) are buffers, so
    they travel with the weights. ``target_layer`` is the layer for Grad-CAM (the last
    residual block whose maps are fine enough to localise at this input size).
    Input (N, C, H, W) in [0, 1]; output (N, classes) logits.
    """

    def __init__(self, backbone: nn.Module, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.backbone = backbone
        self.register_buffer("mean", mean.reshape(1, -1, 1, 1).float().clone())
        self.register_buffer("std", std.reshape(1, -1, 1, 1).float().clone())

    #: input side (pixels) the network was built for; set by ``chest_model``
    input_size: int = 224

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
        A coarser map cannot point at a lesion a few pixels wide: at 64 px, ``layer3``'s
        4x4 grid missed every lesion of the phantom test set, ``layer2`` found three in four
        within the pointing game's tolerance (chapter 8).
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


@dataclass
class ChestModel:
    """The trained chest classifier and everything needed to trust and reproduce it.

    ``model``: a ChestNet in eval mode on ``rt.device`` (inputs in [0, 1]). ``data``: the
    ChestBundle it was trained and is evaluated on. ``history``: per-epoch training record.
    ``weights_sha256``: hash of the weights, ``audit.sha256_weights`` (what an audit log records). ``version``: the
    cache key's hash. ``image_size``: input side in pixels. ``train_seconds``: wall time
    of the training (also when loaded from the cache: the time it took then).
    """

    model: ChestNet
    classes: list[str]
    data: ChestBundle
    history: History
    weights_sha256: str
    version: str
    image_size: int
    train_seconds: float
    weights_source: str = ""
    cache_path: Path | None = None
    from_cache: bool = False
    config: dict = field(default_factory=dict)

    def summary(self) -> str:
        """One line: architecture, data, size, where the weights came from."""
        origin = f"loaded from {self.cache_path}" if self.from_cache else f"trained in {self.train_seconds:.0f} s"
        return (f"{ARCHITECTURE} on {self.data.name}, {self.image_size} px, classes {self.classes}; "
                f"{origin}; init: {self.weights_source}; sha256 {self.weights_sha256[:12]}")


def chest_config(rt: Runtime) -> dict:
    """Training settings for the run mode: image size (px), images drawn, epochs, batch, lr,
    and the phantoms' ``lesion_contrast``.

    full (GPU) trains at 224 px. quick fits a CPU budget of about a minute of training on
    2 cores: 64 px, and findings drawn 3.5 times denser than the generator's default,
    because a ResNet-18 trained from scratch for ~300 steps stays at chance on the subtle
    default findings (measured: 33 % accuracy at contrast 1, 62 % at 2, 89 % at 3.5).
    smoke only proves the code runs.
    """
    return rt.pick(
        full=dict(size=224, n=6000, epochs=10, batch_size=64, lr=2e-3, lesion_contrast=2.0),
        quick=dict(size=64, n=1200, epochs=4, batch_size=16, lr=2e-3, lesion_contrast=3.5),
        smoke=dict(size=64, n=96, epochs=1, batch_size=32, lr=2e-3, lesion_contrast=3.5),
    )


def data_fingerprint(data: ChestBundle) -> str:
    """Short SHA-256 of a bundle's training and validation tensors and classes."""
    digest = hashlib.sha256(json.dumps(list(data.classes)).encode())
    for split in (data.train, data.val):
        for tensor in split.tensors:
            digest.update(str(tuple(tensor.shape)).encode())
            digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _imagenet_weights_on_disk() -> bool:
    """Whether torchvision's ResNet-18 ImageNet weights lie in the local torch hub cache."""
    from .pretrained import weights_in_cache

    return weights_in_cache(ARCHITECTURE) is not None


def _cache_key(rt: Runtime, cfg: dict, fingerprint: str, pretrained: bool) -> tuple[str, Path]:
    from . import phantom

    key = {"model": CHEST_MODEL_VERSION, "phantom": phantom.PHANTOM_VERSION, "arch": ARCHITECTURE,
           "cfg": cfg, "data": fingerprint, "pretrained": pretrained, "seed": rt.seed, "mode": rt.mode}
    version = f"v{CHEST_MODEL_VERSION}-{hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]}"
    return version, data_dir() / "models" / f"chest-{rt.mode}-{rt.seed}-{version}.pt"


def _new_model(data: ChestBundle, pretrained: bool | str) -> ChestNet:
    from .pretrained import build

    channels = data.image_shape[0]
    backbone = build(ARCHITECTURE, num_classes=len(data.classes), in_channels=channels,
                     pretrained=pretrained, timeout=3.0)
    x = data.train.tensors[0]
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    net = ChestNet(backbone, mean, std)
    net.input_size = int(data.image_shape[-1])
    net.weights_info = backbone.weights_info
    net.weights_source = backbone.weights_info.source
    return net


def chest_model(rt: Runtime, *, data: ChestBundle | None = None, retrain: bool = False,
                progress: bool | None = None) -> ChestModel:
    """The shared chest classifier: load it from the cache, or train and cache it.

    ``data``: a ChestBundle (default: ``load_chest(source="phantom")`` at the mode's size
    and number of images, seeded with ``rt.seed``). ``retrain``: train even when a cached
    model exists (and overwrite it). ``progress``: training progress bar (None: on unless
    $CXRLAB_PROGRESS=0). Returns a ChestModel whose ``model`` is in eval mode on ``rt.device``.
    """
    if not isinstance(rt, Runtime):
        raise TypeError("rt must be the Runtime from cxrlab.setup(); call rt = cxrlab.setup() first")
    cfg = chest_config(rt)
    if data is None:
        data = load_chest(n=cfg["n"], size=cfg["size"], seed=rt.seed, source="phantom",
                          lesion_contrast=cfg.get("lesion_contrast", 1.0), progress=progress)
    elif not isinstance(data, ChestBundle):
        raise TypeError("data must be a ChestBundle from cxrlab.data.load_chest(...)")
    size = int(data.image_shape[-1])
    if size < 32:
        raise ValueError(f"images of {size} px are too small for ResNet-18 (>= 32 px); load_chest(size=...)")
    fingerprint = data_fingerprint(data)
    version, path = _cache_key(rt, cfg, fingerprint, _imagenet_weights_on_disk())

    if path.is_file() and not retrain:
        loaded = _load(path, data, rt)
        if loaded is not None:
            return loaded

    net = _new_model(data, "auto")
    pretrained = net.weights_info.pretrained
    version, path = _cache_key(rt, cfg, fingerprint, pretrained)
    net.to(rt.device)
    history = fit(net, data.train, data.val, epochs=cfg["epochs"], lr=cfg["lr"],
                  batch_size=cfg["batch_size"], optimizer="adamw", weight_decay=1e-4,
                  schedule="onecycle", amp=rt.device.type == "cuda", channels_last=True,
                  keep_best=True, progress=progress, seed=rt.seed)
    net = net.to(memory_format=torch.contiguous_format).eval()
    sha = sha256_weights(net)
    record = {
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "sha256": sha, "version": version, "config": cfg, "classes": list(data.classes),
        "history": dataclasses.asdict(history), "weights_source": net.weights_source,
        "train_seconds": history.train_seconds, "data_fingerprint": fingerprint,
        "data_source": data.source, "channels": data.image_shape[0], "image_size": size,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    save_on_main(record, path)  # atomic, and under torchrun by rank 0 alone (the others wait)
    return ChestModel(model=net, classes=list(data.classes), data=data, history=history,
                      weights_sha256=sha, version=version, image_size=size,
                      train_seconds=history.train_seconds, weights_source=net.weights_source,
                      cache_path=path, from_cache=False, config=cfg)


def _load(path: Path, data: ChestBundle, rt: Runtime) -> ChestModel | None:
    """The cached model at ``path``, or None (with a note) when it is unreadable or altered."""
    try:
        record = torch.load(path, map_location="cpu", weights_only=False)
        net = _new_model(data, False)
        net.load_state_dict(record["state_dict"])
    except Exception as error:  # noqa: BLE001 - any damage means: train again
        print(f"cached chest model {path} could not be used ({type(error).__name__}: {error}); training again")
        return None
    sha = sha256_weights(net)
    if sha != record.get("sha256"):
        print(f"cached chest model {path} does not match its recorded hash; training again")
        return None
    net.weights_source = record.get("weights_source", "unknown")
    net.to(rt.device).eval()
    history = History(**record["history"])
    return ChestModel(model=net, classes=list(record["classes"]), data=data, history=history,
                      weights_sha256=sha, version=record["version"], image_size=record["image_size"],
                      train_seconds=float(record["train_seconds"]), weights_source=net.weights_source,
                      cache_path=path, from_cache=True, config=dict(record["config"]))


def chest_report(cm: ChestModel, split: str = "test") -> pd.DataFrame:
    """Per-class accuracy (recall, fraction), one-vs-rest AUROC and support on ``split``.

    A last row "overall" holds the accuracy over all images and the macro-average AUROC.
    """
    from sklearn.metrics import roc_auc_score

    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    logits, labels = predict(cm.model, getattr(cm.data, split))
    probs = torch.softmax(logits, 1).numpy()
    y = labels.numpy()
    pred = probs.argmax(1)
    rows = []
    for k, name in enumerate(cm.classes):
        mine = y == k
        auc = roc_auc_score(mine, probs[:, k]) if 0 < mine.sum() < len(y) else np.nan
        rows.append({"class": name, "accuracy": float((pred[mine] == k).mean()) if mine.any() else np.nan,
                     "auroc": auc, "support": int(mine.sum())})
    rows.append({"class": "overall", "accuracy": float((pred == y).mean()),
                 "auroc": float(np.nanmean([r["auroc"] for r in rows])), "support": len(y)})
    return pd.DataFrame(rows).set_index("class")


__all__ = ["ChestNet", "ChestModel", "chest_model", "chest_config", "chest_report",
           "data_fingerprint", "CHEST_MODEL_VERSION"]
