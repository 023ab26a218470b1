"""Pretrained ImageNet weights for torchvision's networks, loaded without ever hanging offline.

``build("resnet18", num_classes=2)`` returns torchvision's network with its last layer
replaced for 2 classes; ``model.weights_info`` (a :class:`WeightsInfo`) says whether its
weights are ImageNet's, where they came from, and the architecture. Pretrained weights are
looked up in torch's local hub cache first; a download is attempted only when the host
answers within a few seconds (and never with ``CXRLAB_OFFLINE=1``), so an offline machine
falls back at once instead of hanging. ``IMAGENET_MEAN`` / ``IMAGENET_STD`` are the input
statistics those weights expect, defined here once for the whole package.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
import torch.nn as nn

from . import settings
from ._checks import positive_int
from .nets.lenet import LeNet5
from .transfer import classifier_head, head_name, set_module

#: Architectures ``build`` knows, and the smallest square input (pixels) each accepts.
ARCHITECTURES: dict[str, int] = {
    "lenet5": 32, "alexnet": 63, "vgg16": 32, "googlenet": 32,
    "resnet18": 32, "resnet34": 32, "resnet50": 32,
}
#: ImageNet channel statistics the torchvision weights were trained with (RGB, inputs in [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Set to 1 to never try a download (the local cache is still used); read by ``cxrlab.settings``.
OFFLINE_ENV = settings.OFFLINE_ENV


@dataclass(frozen=True)
class WeightsInfo:
    """Where a model's weights came from: a typed record, not a sentence to parse.

    Attributes:
        pretrained: True when the weights are ImageNet's (loaded or downloaded), False for a
            random initialisation.
        source: a sentence for people: which weights and from where, or why random.
        architecture: the torchvision name (``"resnet18"``) or ``"lenet5"``.
    """

    pretrained: bool
    source: str
    architecture: str

    def __str__(self) -> str:
        return self.source


class PretrainedUnavailable(RuntimeError):
    """Raised by ``build(..., pretrained=True)`` when no pretrained weights can be loaded."""


def _check_name(name: str) -> str:
    if not isinstance(name, str) or name.strip().lower() not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; use one of {', '.join(ARCHITECTURES)}")
    return name.strip().lower()


#: torchvision ImageNet weights with a full classifier, best first: (enum name, file name in
#: the hub cache). Kept here so the offline path needs no torchvision import; a test checks
#: it against torchvision's own table.
WEIGHT_FILES: dict[str, list[tuple[str, str]]] = {
    "alexnet": [("IMAGENET1K_V1", "alexnet-owt-7be5be79.pth")],
    "vgg16": [("IMAGENET1K_V1", "vgg16-397923af.pth")],
    "googlenet": [("IMAGENET1K_V1", "googlenet-1378be20.pth")],
    "resnet18": [("IMAGENET1K_V1", "resnet18-f37072fd.pth")],
    "resnet34": [("IMAGENET1K_V1", "resnet34-b627a593.pth")],
    "resnet50": [("IMAGENET1K_V2", "resnet50-11ad3fa6.pth"), ("IMAGENET1K_V1", "resnet50-0676ba61.pth")],
}
WEIGHTS_HOST = "https://download.pytorch.org/models/"


def _weight_candidates(name: str) -> list:
    """torchvision weight enums for ``name`` with a full ImageNet classifier, best first."""
    from torchvision.models import get_model_weights

    enum = get_model_weights(name)
    return [enum[entry] for entry, _ in WEIGHT_FILES[name]]


def _describe(weights) -> str:
    acc = weights.meta.get("_metrics", {}).get("ImageNet-1K", {}).get("acc@1")
    extra = f", top-1 {acc:.1f} %" if acc is not None else ""
    return f"ImageNet-1k (torchvision {weights.name}{extra})"


def _network_reason(error: BaseException) -> str:
    """A network failure in words ("no network: the host name could not be resolved"), not
    the socket module's message, which the book's pages must not show."""
    if isinstance(error, socket.gaierror) or "Name or service not known" in str(error) \
            or "name resolution" in str(error).lower():
        return "no network: the host name could not be resolved"
    if isinstance(error, ConnectionRefusedError):
        return "the connection was refused"
    if isinstance(error, (TimeoutError, socket.timeout)):
        return "the connection timed out"
    return f"{type(error).__name__}"


def _host_answers(url: str, timeout: float) -> tuple[bool, str]:
    """Whether the host of ``url`` accepts a TCP connection within ``timeout`` seconds.

    Runs in a daemon thread so that even a stalled DNS look-up cannot hold the caller.
    """
    parsed = urlparse(url)
    host, port = parsed.hostname or "", parsed.port or (443 if parsed.scheme == "https" else 80)
    result: dict[str, object] = {}

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result["ok"] = True
        except OSError as error:
            result["error"] = f"{host} could not be reached ({_network_reason(error)})"

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    if result.get("ok"):
        return True, ""
    return False, str(result.get("error", f"no answer from {host} within {timeout:g} s"))


def weights_in_cache(name: str) -> Path | None:
    """Path of ``name``'s ImageNet weights file in torch's hub cache, or None (no network, no import).

    Raises:
        ValueError: for an unknown architecture ``name``.

    Returns:
        The file path, or None when no weights file of ``name`` is in the cache.
    """
    name = _check_name(name)
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    for _, filename in WEIGHT_FILES.get(name, []):
        if (folder / filename).is_file():
            return folder / filename
    return None


def load_pretrained_state(name: str, timeout: float = 5.0) -> tuple[dict | None, str]:
    """ImageNet weights of torchvision architecture ``name`` as a state dict, and a reason.

    Looks in torch's hub cache (``torch.hub.get_dir()/checkpoints``) first; if the file is
    not there, probes the download host for at most ``timeout`` seconds and downloads only
    if it answers (each network read then also times out after ``timeout`` s, so a stalled
    transfer fails instead of hanging). ``$CXRLAB_OFFLINE=1`` skips the download attempt.
    ``lenet5`` has no pretrained weights.

    Returns:
        ``(state_dict, description)`` on success and ``(None, reason)`` otherwise; it never
        raises for a network problem.

    Raises:
        ValueError: for an unknown ``name`` or a non-positive ``timeout``.
    """
    name = _check_name(name)
    if not timeout or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if name == "lenet5":
        return None, "no pretrained LeNet-5 weights exist (train it: it takes seconds)"
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    # Notes are printed into chapter outputs: they name the cache, not this machine's path
    # (``weights_in_cache`` and ``torch.hub.get_dir()`` give the path to whoever needs it).
    cache_note = "not in torch's hub cache"
    for entry, filename in WEIGHT_FILES[name]:
        cached = folder / filename
        if cached.is_file():
            try:
                state = torch.load(cached, map_location="cpu", weights_only=True)
            except Exception as error:  # a truncated or corrupt file: say so, try the next
                cache_note = (f"the cached file {cached.name} in torch's hub cache could not be read "
                              f"({type(error).__name__}; delete it)")
                continue
            weights = next(w for w in _weight_candidates(name) if w.name == entry)
            return state, f"{_describe(weights)} from torch's hub cache ({cached.name})"
    if settings.offline():
        return None, f"{cache_note} and ${OFFLINE_ENV} forbids a download"
    start = time.perf_counter()
    ok, why = _host_answers(WEIGHTS_HOST, timeout)
    if not ok:
        return None, f"{cache_note}, and no download: {why}"
    weights = _weight_candidates(name)[0]
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(max(timeout - (time.perf_counter() - start), 1.0))
    try:
        state = torch.hub.load_state_dict_from_url(weights.url, map_location="cpu", progress=True,
                                                   check_hash=True)
    except Exception as error:
        return None, f"the download of {weights.url} failed ({_network_reason(error)})"
    finally:
        socket.setdefaulttimeout(previous)
    return state, f"{_describe(weights)}, downloaded to torch's hub cache"


def _torchvision_model(name: str, pretrained_loaded: bool, in_channels: int) -> nn.Module:
    import torchvision.models as tvm

    if name == "googlenet":
        # Pretrained GoogLeNet expects its own input normalisation (transform_input);
        # that conversion is defined for RGB only.
        return tvm.googlenet(weights=None, aux_logits=False, init_weights=not pretrained_loaded,
                             transform_input=pretrained_loaded and in_channels == 3)
    return getattr(tvm, name)(weights=None)


def _first_conv_path(name: str) -> str:
    return {"alexnet": "features.0", "vgg16": "features.0", "googlenet": "conv1.conv",
            "resnet18": "conv1", "resnet34": "conv1", "resnet50": "conv1"}[name]


def adapt_input_channels(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    """A copy of ``conv`` that takes ``in_channels`` channels, its weights carried over.

    One channel: the sum of the RGB filters, so a grey image gives the same response as
    the RGB image with R = G = B. More channels: the RGB filters repeated in turn and scaled
    by 3 / in_channels, so the response to a constant image keeps its size.

    Raises:
        TypeError: when ``conv`` is not an ``nn.Conv2d``.
        ValueError: for a non-positive ``in_channels``.

    Returns:
        A new ``nn.Conv2d`` (the original is not changed).
    """
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"expected an nn.Conv2d, got {type(conv).__name__}")
    positive_int(in_channels, "in_channels")
    new = nn.Conv2d(in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                    padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                    bias=conv.bias is not None, padding_mode=conv.padding_mode)
    with torch.no_grad():
        w = conv.weight
        if in_channels == 1:
            new.weight.copy_(w.sum(dim=1, keepdim=True))
        else:
            index = torch.arange(in_channels) % w.shape[1]
            new.weight.copy_(w[:, index] * (w.shape[1] / in_channels))
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    return new


def build(name: str, num_classes: int, *, pretrained: bool | str = "auto",
          in_channels: int = 3, timeout: float = 5.0) -> nn.Module:
    """A classifier for ``num_classes`` classes: ``name`` with its last layer replaced.

    ``name``: one of ``ARCHITECTURES`` (lenet5, alexnet, vgg16, googlenet, resnet18/34/50).
    ``pretrained``: ``False`` (random init), ``True`` (ImageNet weights or
    ``PretrainedUnavailable``), ``"auto"`` (ImageNet weights if loadable within
    ``timeout`` seconds, else random init). ``in_channels`` other than 3 replaces the first
    convolution (with pretrained weights: summed RGB filters for grey input). GoogLeNet is
    built without auxiliary classifiers. Inputs are (N, in_channels, H, W) with H, W at
    least ``ARCHITECTURES[name]`` (LeNet-5: exactly 32); pretrained models expect images
    scaled to [0, 1] and normalised with ``IMAGENET_MEAN`` / ``IMAGENET_STD``.

    Returns:
        The model, with ``model.weights_info`` a :class:`WeightsInfo` (pretrained or not,
        the source as a sentence, the architecture).

    Raises:
        ValueError: for an unknown ``name``, a non-positive ``num_classes`` / ``in_channels``
            or a ``pretrained`` other than True, False, "auto".
        PretrainedUnavailable: with ``pretrained=True`` when no weights can be had, saying
            where to put the file.
    """
    name = _check_name(name)
    positive_int(num_classes, "num_classes")
    positive_int(in_channels, "in_channels")
    if pretrained not in (True, False, "auto"):
        raise ValueError(f"pretrained must be True, False or 'auto', got {pretrained!r}")

    state, reason = (None, "not asked for (pretrained=False)")
    if pretrained:
        state, reason = load_pretrained_state(name, timeout=timeout)
        if state is None and pretrained is True:
            raise PretrainedUnavailable(
                f"no pretrained weights for {name}: {reason}. Use pretrained='auto' to fall back to a "
                f"random initialisation, or put the weights file in {Path(torch.hub.get_dir()) / 'checkpoints'}")

    if name == "lenet5":
        model: nn.Module = LeNet5(num_classes=num_classes, in_channels=in_channels)
    else:
        model = _torchvision_model(name, state is not None, in_channels)
        if state is not None:
            if name == "googlenet":
                state = {k: v for k, v in state.items() if not k.startswith("aux")}
            model.load_state_dict(state)
        if in_channels != 3:
            path = _first_conv_path(name)
            set_module(model, path, adapt_input_channels(model.get_submodule(path), in_channels))
        old = classifier_head(model)
        set_module(model, head_name(model), nn.Linear(old.in_features, num_classes))

    if state is not None:
        source = reason
    elif pretrained is False:
        source = "random initialisation (pretrained=False)"
    else:
        source = f"random initialisation (ImageNet weights unavailable: {reason})"
    model.weights_info = WeightsInfo(pretrained=state is not None, source=source, architecture=name)
    return model




__all__ = ["ARCHITECTURES", "IMAGENET_MEAN", "IMAGENET_STD", "PretrainedUnavailable", "WEIGHT_FILES",
           "WeightsInfo", "adapt_input_channels", "build", "load_pretrained_state", "weights_in_cache"]
