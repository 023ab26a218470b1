"""The shared chest model: a multi-label ResNet-18 trained once per build, then reused.

Chapters 7 to 10 look at the same classifier. ``chest_model(rt)`` asks ``load_chest()`` for
whatever chest data is on disk (real ChestMNIST, else PneumoniaMNIST, else phantoms), trains
one logit per finding with ``train_chest`` (binary cross-entropy with ``pos_weight``) at the
size the run mode allows, saves the weights with their configuration in
``cxrlab.data.data_dir()/models/`` and, on the next call, loads them instead of training
again. The file name carries the mode, the random seed and a hash of everything that shapes the
weights (the data's fingerprint, the training settings, the model and phantom versions), so
a change to any of them trains a new model rather than reusing a stale one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from .audit import sha256_weights
from .data import data_dir
from .data.chest import ChestBundle, load_chest
from .distributed import save_on_main
from .multilabel import MultiLabelHistory, fit_multilabel, predict_logits
from .nets.chest import ChestNet
from .probabilities import probabilities
from .runtime import Runtime

CHEST_MODEL_VERSION = "3"  # 3: multi-label (one sigmoid per finding), trained on what load_chest() returns
ARCHITECTURE = "resnet18"


@dataclass
class ChestModel:
    """The trained chest classifier and everything needed to trust and reproduce it.

    ``model``: a ChestNet in eval mode on ``rt.device`` (inputs in [0, 1], one logit per
    finding). ``classes``: the finding names. ``data``: the ChestBundle it was trained and is
    evaluated on. ``history``: per-epoch training record (loss, validation macro-AUROC,
    ``pos_weight``). ``weights_sha256``: ``audit.sha256_weights`` of the weights (what an
    audit log records). ``version``: the cache key's hash. ``image_size``: input side (px).
    ``train_seconds``: wall time of the training (also when loaded: the time it took then).
    ``config``: the settings of ``chest_config`` it was trained with.
    """

    model: ChestNet
    classes: list[str]
    data: ChestBundle
    history: MultiLabelHistory
    weights_sha256: str
    version: str
    image_size: int
    train_seconds: float
    weights_source: str = ""
    cache_path: Path | None = None
    from_cache: bool = False
    config: dict = field(default_factory=dict)

    @property
    def pos_weight(self) -> pd.Series:
        """The ``pos_weight`` of each finding used in training (negatives / positives, capped)."""
        return pd.Series(self.history.pos_weight, index=self.classes[:len(self.history.pos_weight)], name="pos_weight")

    def predict(self, split: str = "test") -> tuple[torch.Tensor, torch.Tensor]:
        """(probabilities, labels) of ``split``, both float32 (N, F) on the CPU; one sigmoid per finding."""
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
        x, y = getattr(self.data, split).tensors
        return probabilities(predict_logits(self.model, x), multi_label=True), y

    def summary(self) -> str:
        """One line: architecture, data, size, findings, where the weights came from."""
        origin = f"loaded from the cache ({self.cache_path.name})" if self.from_cache and self.cache_path else \
            f"trained in {self.train_seconds:.0f} s"
        return (f"{ARCHITECTURE} on {self.data.display_name}, {self.image_size} px, {len(self.classes)} findings "
                f"(one sigmoid each); {origin}; init: {self.weights_source}; sha256 {self.weights_sha256[:12]}")


def chest_config(rt: Runtime) -> dict:
    """Training settings for the run mode.

    Keys: ``size`` (px), ``n`` (images drawn, or the real subset), ``epochs``, ``batch_size``,
    ``lr`` (peak), ``loss`` ("weighted_bce": BCE with ``pos_weight``), ``max_pos_weight`` (the
    cap on a rare finding's weight) and, used only by phantoms, ``enrichment`` (NIH
    patterns weighted by enrichment ** findings, so rare findings have enough positives) and
    ``lesion_contrast`` (findings drawn that much denser). full (GPU) trains at 224 px on
    the NIH rates; quick fits a CPU budget of about a minute of training on 2 cores, and a
    ResNet-18 trained from scratch for a few hundred steps learns little from subtle, rare
    findings, so quick mode doubles their rate and draws them 3 times as dense. smoke only
    proves the code runs.
    """
    common = dict(loss="weighted_bce", max_pos_weight=50.0, weight_decay=1e-4)
    return rt.pick(
        full=dict(common, size=224, n=8000, epochs=12, batch_size=64, lr=2e-3, enrichment=1.0, lesion_contrast=2.0),
        quick=dict(common, size=64, n=1200, epochs=5, batch_size=32, lr=2e-3, enrichment=2.0, lesion_contrast=3.0),
        smoke=dict(common, size=32, n=120, epochs=1, batch_size=32, lr=2e-3, enrichment=2.0, lesion_contrast=3.0),
    )


def chest_data(rt: Runtime, *, source: str = "auto", progress: bool | None = None) -> ChestBundle:
    """The data the shared model trains on: ``load_chest(source=source)`` (default "auto": real
    data when fetched) at the mode's size, number of images and phantom factors (which real data
    ignore), seeded with ``rt.seed``. ``source="phantom"`` gives the phantom set of this mode
    (what chapter 8 scores explanations on when the real set, which has no masks, is in use)."""
    cfg = chest_config(rt)
    return load_chest(n=cfg["n"], size=cfg["size"], seed=rt.seed, source=source, enrichment=cfg["enrichment"],
                      lesion_contrast=cfg["lesion_contrast"], progress=progress)


def train_chest(net: ChestNet, data: ChestBundle, cfg: dict, *, seed: int = 0,
                progress: bool | None = None) -> MultiLabelHistory:
    """Train ``net`` on ``data`` as the shared model is trained: the call chapter 7 shows.

    One logit per finding, binary cross-entropy with ``pos_weight`` = negatives / positives of
    each finding in the training split (capped at ``cfg["max_pos_weight"]``), AdamW with a
    one-cycle schedule for ``cfg["epochs"]`` epochs, the weights of the best validation
    macro-AUROC kept. Returns the MultiLabelHistory.
    """
    return fit_multilabel(net, data.train, data.val, loss=cfg["loss"], max_pos_weight=cfg["max_pos_weight"],
                          epochs=cfg["epochs"], lr=cfg["lr"], batch_size=cfg["batch_size"],
                          weight_decay=cfg["weight_decay"], channels_last=True, progress=progress, seed=seed)


def data_fingerprint(data: ChestBundle) -> str:
    """Short SHA-256 of a bundle's classes, source and training and validation tensors."""
    digest = hashlib.sha256(json.dumps([list(data.classes), data.dataset]).encode())
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


def new_chest_net(data: ChestBundle, pretrained: bool | str = "auto") -> ChestNet:
    """An untrained ChestNet for ``data``: ResNet-18 with one output per finding, its input
    standardised with the training split's per-channel mean and standard deviation."""
    from .pretrained import build

    channels = data.image_shape[0]
    backbone = build(ARCHITECTURE, num_classes=len(data.classes), in_channels=channels,
                     pretrained=pretrained, timeout=3.0)
    x = data.train.tensors[0]
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    net = ChestNet(backbone, mean, std, classes=list(data.classes))
    net.input_size = int(data.image_shape[-1])
    net.weights_info = backbone.weights_info
    net.weights_source = backbone.weights_info.source
    return net


def chest_model(rt: Runtime, *, data: ChestBundle | None = None, retrain: bool = False,
                progress: bool | None = None) -> ChestModel:
    """The shared multi-label chest classifier: load it from the cache, or train and cache it.

    Args:
        rt: the Runtime from ``cxrlab.setup()``.
        data: a ChestBundle (default ``chest_data(rt)``: whatever ``load_chest()`` finds).
        retrain: train even when a cached model exists (and overwrite it).
        progress: progress bars (None: on unless $CXRLAB_PROGRESS=0).

    Returns:
        ChestModel whose ``model`` is in eval mode on ``rt.device`` and whose ``data`` is the
        bundle it trained on.

    Raises:
        TypeError: ``rt`` or ``data`` of the wrong type. ValueError: images under 32 px.
    """
    if not isinstance(rt, Runtime):
        raise TypeError("rt must be the Runtime from cxrlab.setup(); call rt = cxrlab.setup() first")
    cfg = chest_config(rt)
    if data is None:
        data = chest_data(rt, progress=progress)
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

    net = new_chest_net(data, "auto")
    pretrained = net.weights_info.pretrained
    version, path = _cache_key(rt, cfg, fingerprint, pretrained)
    net.to(rt.device)
    history = train_chest(net, data, cfg, seed=rt.seed, progress=progress)
    sha = sha256_weights(net)
    record = {
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "sha256": sha, "version": version, "config": cfg, "classes": list(data.classes),
        "history": dataclasses.asdict(history), "weights_source": net.weights_source,
        "train_seconds": history.train_seconds, "data_fingerprint": fingerprint,
        "data_source": data.dataset, "channels": data.image_shape[0], "image_size": size,
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
        net = new_chest_net(data, False)
        net.load_state_dict(record["state_dict"])
        history = MultiLabelHistory(**record["history"])
    except Exception as error:  # noqa: BLE001 - any damage means: train again
        print(f"cached chest model {path.name} could not be used ({type(error).__name__}: {error}); training again")
        return None
    sha = sha256_weights(net)
    if sha != record.get("sha256"):
        print(f"cached chest model {path.name} does not match its recorded hash; training again")
        return None
    net.weights_source = record.get("weights_source", "unknown")
    net.to(rt.device).eval()
    return ChestModel(model=net, classes=list(record["classes"]), data=data, history=history,
                      weights_sha256=sha, version=record["version"], image_size=record["image_size"],
                      train_seconds=float(record["train_seconds"]), weights_source=net.weights_source,
                      cache_path=path, from_cache=True, config=dict(record["config"]))


def chest_report(cm: ChestModel, split: str = "test", *, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The per-finding table of ``cm`` on ``split``: prevalence, positives, AUROC with a
    bootstrap interval (over patients when the data say who they are), AUPRC, and CheXNet's
    published AUROC for the same finding (``cxrlab.findings.chexnet_reference``; other data).

    Returns a DataFrame indexed by finding (see ``cxrlab.findings.per_finding_table``), with a
    last row "macro average" holding the mean AUROC and AUPRC over the findings.
    """
    from .findings import chexnet_reference, per_finding_table

    probs, labels = cm.predict(split)
    table = per_finding_table(labels, probs, cm.classes, patient_ids=cm.data.patient_ids(split),
                              n_resamples=n_resamples, seed=seed)
    table["CheXNet AUROC (published)"] = pd.Series(chexnet_reference(cm.classes))
    macro = {"prevalence": float(labels.mean()), "positives": int(labels.sum()),
             "auroc": float(table["auroc"].mean()), "auprc": float(table["auprc"].mean()),
             "interval_unit": table["interval_unit"].iloc[0], "CheXNet AUROC (published)": ""}
    table.loc["macro average"] = pd.Series(macro)
    return table


__all__ = ["ChestNet", "ChestModel", "chest_model", "chest_config", "chest_data", "chest_report",
           "train_chest", "new_chest_net", "data_fingerprint", "CHEST_MODEL_VERSION"]
