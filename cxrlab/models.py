"""Network architectures the chapters train: LeNet-5, and torchvision's AlexNet, VGG16,
GoogLeNet and ResNets with a new classification head, pretrained weights when they can be
had, and freezing / unfreezing by layer name or stage.

``build("resnet18", num_classes=2)`` returns a model whose last layer has been replaced
for 2 classes; ``model.weights_source`` says where its weights came from (ImageNet, or a
random initialisation and why). Pretrained weights are looked up in torch's local hub
cache first; a download is attempted only when the host answers within a few seconds, so
an offline machine falls back at once instead of hanging.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Iterable, Sequence
from urllib.parse import urlparse

import torch
import torch.nn as nn


class LeNet5(nn.Module):
    """LeNet-5 as in LeCun et al. (1998): 32x32 grey input, tanh, average pooling.

    Layers C1 (6 maps 5x5) -> S2 (avg pool) -> C3 (16 maps 5x5) -> S4 (avg pool) -> C5
    (120) -> F6 (84) -> 10 outputs (logits). The paper's partial C3 connection table and
    RBF output layer are replaced by full connections and a linear layer, as is usual today.
    Input (N, 1, 32, 32); output (N, num_classes) logits.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5), nn.Tanh(), nn.AvgPool2d(2),   # C1, S2
            nn.Conv2d(6, 16, kernel_size=5), nn.Tanh(), nn.AvgPool2d(2),            # C3, S4
            nn.Conv2d(16, 120, kernel_size=5), nn.Tanh(),                           # C5
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, num_classes),  # F6, out
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[-2:] != (32, 32):
            raise ValueError(f"LeNet5 expects (N, C, 32, 32) input, got {tuple(x.shape)}; "
                             "pad 28x28 digits by 2 pixels (load_mnist(pad=2))")
        return self.classifier(self.features(x))


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters of ``model`` (only trainable ones if asked)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


# --------------------------------------------------------------------------------------
# torchvision builders
# --------------------------------------------------------------------------------------

#: Architectures ``build`` knows, and the smallest square input (pixels) each accepts.
ARCHITECTURES: dict[str, int] = {
    "lenet5": 32, "alexnet": 63, "vgg16": 32, "googlenet": 32,
    "resnet18": 32, "resnet34": 32, "resnet50": 32,
}
#: ImageNet channel statistics the torchvision weights were trained with (RGB, inputs in [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Set to 1 to never try a download (the local cache is still used).
OFFLINE_ENV = "CXRLAB_OFFLINE"


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
            result["error"] = f"{type(error).__name__}: {error}"

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    if result.get("ok"):
        return True, ""
    return False, str(result.get("error", f"no answer from {host} within {timeout:g} s"))


def weights_in_cache(name: str) -> Path | None:
    """Path of ``name``'s ImageNet weights file in torch's hub cache, or None (no network, no import)."""
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
    Returns ``(state_dict, description)`` on success and ``(None, reason)`` otherwise; it
    never raises for a network problem. ``lenet5`` has no pretrained weights.
    """
    name = _check_name(name)
    if not timeout or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if name == "lenet5":
        return None, "no pretrained LeNet-5 weights exist (train it: it takes seconds)"
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    cache_note = f"not in the local cache {folder}"
    for entry, filename in WEIGHT_FILES[name]:
        cached = folder / filename
        if cached.is_file():
            try:
                state = torch.load(cached, map_location="cpu", weights_only=True)
            except Exception as error:  # a truncated or corrupt file: say so, try the next
                cache_note = f"cached file {cached} could not be read ({type(error).__name__}; delete it)"
                continue
            weights = next(w for w in _weight_candidates(name) if w.name == entry)
            return state, f"{_describe(weights)} from the local cache {cached}"
    if os.environ.get(OFFLINE_ENV, "0") not in ("0", "", "false", "no"):
        return None, f"{cache_note} and ${OFFLINE_ENV} forbids a download"
    start = time.perf_counter()
    ok, why = _host_answers(WEIGHTS_HOST, timeout)
    if not ok:
        return None, f"{cache_note} and no download ({why})"
    weights = _weight_candidates(name)[0]
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(max(timeout - (time.perf_counter() - start), 1.0))
    try:
        state = torch.hub.load_state_dict_from_url(weights.url, map_location="cpu", progress=True,
                                                   check_hash=True)
    except Exception as error:
        return None, f"download of {weights.url} failed ({type(error).__name__}: {error})"
    finally:
        socket.setdefaulttimeout(previous)
    return state, f"{_describe(weights)}, downloaded to {folder}"


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


def _set_module(model: nn.Module, path: str, module: nn.Module) -> None:
    parent_path, _, leaf = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, leaf, module)


def adapt_input_channels(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    """A copy of ``conv`` that takes ``in_channels`` channels, its weights carried over.

    One channel: the sum of the RGB filters, so a grey image gives the same response as
    the RGB image with R = G = B. More channels: the RGB filters repeated in turn and scaled
    by 3 / in_channels, so the response to a constant image keeps its size.
    """
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"expected an nn.Conv2d, got {type(conv).__name__}")
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise ValueError(f"in_channels must be a positive integer, got {in_channels!r}")
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


def head_name(model: nn.Module) -> str:
    """Parameter-name prefix of the classification head (``fc``, ``classifier.6``, ...)."""
    if isinstance(getattr(model, "fc", None), nn.Linear):
        return "fc"
    classifier = getattr(model, "classifier", None)
    if isinstance(classifier, nn.Linear):
        return "classifier"
    if isinstance(classifier, nn.Sequential):
        for index in range(len(classifier) - 1, -1, -1):
            if isinstance(classifier[index], nn.Linear):
                return f"classifier.{index}"
    raise ValueError(f"{type(model).__name__} has no classification head named fc or classifier[...] "
                     "(a Linear layer); pass a model made by cxrlab.models.build")


def classifier_head(model: nn.Module) -> nn.Module:
    """The (replaced) classification head of a model made by ``build``: a Linear layer."""
    return model.get_submodule(head_name(model))


def build(name: str, num_classes: int, *, pretrained: bool | str = "auto",
          in_channels: int = 3, timeout: float = 5.0) -> nn.Module:
    """A classifier for ``num_classes`` classes: ``name`` with its last layer replaced.

    ``name``: one of ``ARCHITECTURES`` (lenet5, alexnet, vgg16, googlenet, resnet18/34/50).
    ``pretrained``: ``False`` (random init), ``True`` (ImageNet weights or
    ``PretrainedUnavailable``), ``"auto"`` (ImageNet weights if loadable within
    ``timeout`` seconds, else random init). ``in_channels`` other than 3 replaces the first
    convolution (with pretrained weights: summed RGB filters for grey input). GoogLeNet is
    built without auxiliary classifiers. The model's ``weights_source`` attribute says
    where its weights came from. Inputs are (N, in_channels, H, W) with H, W at least
    ``ARCHITECTURES[name]`` (LeNet-5: exactly 32); pretrained models expect images scaled
    to [0, 1] and normalised with ``IMAGENET_MEAN`` / ``IMAGENET_STD``.
    """
    name = _check_name(name)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise ValueError(f"in_channels must be a positive integer, got {in_channels!r}")
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
            _set_module(model, path, adapt_input_channels(model.get_submodule(path), in_channels))
        old = classifier_head(model)
        _set_module(model, head_name(model), nn.Linear(old.in_features, num_classes))

    if state is not None:
        model.weights_source = reason
    elif pretrained is False:
        model.weights_source = "random initialisation (pretrained=False)"
    else:
        model.weights_source = f"random initialisation (ImageNet weights unavailable: {reason})"
    model.architecture = name
    return model


# --------------------------------------------------------------------------------------
# freezing and unfreezing
# --------------------------------------------------------------------------------------

def stages(model: nn.Module) -> dict[str, list[str]]:
    """Named stages of a model and the parameter-name prefixes each covers.

    ``head`` is the classification head. A ``features`` Sequential (AlexNet, VGG, LeNet-5,
    the chapters' small VGG) is cut into ``block1``, ``block2``, ... after each pooling
    layer; ResNets have ``stem`` and ``layer1``...``layer4``; every other top-level child
    is a stage under its own name.
    """
    result: dict[str, list[str]] = {}
    head = head_name(model)
    features = getattr(model, "features", None)
    for child_name, child in model.named_children():
        if child_name == "features" and isinstance(features, nn.Sequential):
            block, members = 1, []
            for index, layer in enumerate(features):
                members.append(f"features.{index}")
                if isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
                    result[f"block{block}"], block, members = members, block + 1, []
            if members:
                result[f"block{block}"] = members
        elif child_name in ("conv1", "bn1") and hasattr(model, "layer1"):
            result.setdefault("stem", []).append(child_name)
        elif not any(True for _ in child.parameters()):
            continue
        elif child_name != head.split(".")[0]:
            result[child_name] = [child_name]
    classifier = getattr(model, "classifier", None)
    if isinstance(classifier, nn.Sequential) and head != "classifier":
        body = [f"classifier.{i}" for i in range(len(classifier)) if f"classifier.{i}" != head]
        if any(p.numel() for prefix in body for n, p in model.named_parameters() if _matches(n, prefix)):
            result["classifier_body"] = body
    result["head"] = [head]
    return result


def _matches(parameter: str, prefix: str) -> bool:
    return parameter == prefix or parameter.startswith(prefix + ".")


def _resolve(model: nn.Module, names: Iterable[str] | str) -> list[str]:
    if isinstance(names, str):
        names = [names]
    names = list(names)
    known = stages(model)
    parameter_names = [n for n, _ in model.named_parameters()]
    prefixes: list[str] = []
    for item in names:
        if not isinstance(item, str) or not item:
            raise ValueError(f"layer names must be non-empty strings, got {item!r}")
        if item in known:
            prefixes.extend(known[item])
        elif any(_matches(n, item) for n in parameter_names):
            prefixes.append(item)
        else:
            raise ValueError(
                f"{item!r} names no parameter of {type(model).__name__}; use a stage "
                f"({', '.join(known)}) or a parameter-name prefix such as {parameter_names[0]!r}")
    return prefixes


def _set_trainable(model: nn.Module, prefixes: Sequence[str], value: bool, *, invert: bool) -> int:
    changed = 0
    for parameter_name, parameter in model.named_parameters():
        selected = any(_matches(parameter_name, p) for p in prefixes)
        if selected != invert and parameter.requires_grad != value:
            parameter.requires_grad_(value)
            changed += parameter.numel()
    return changed


def freeze(model: nn.Module, *, except_: Iterable[str] | str = ()) -> int:
    """Stop gradients for every parameter except those under the names in ``except_``.

    Names are stages (see ``stages``: ``"head"``, ``"block5"``, ``"layer4"``) or
    parameter-name prefixes (``"fc"``, ``"features.24"``). Parameters in ``except_`` are
    made trainable. Returns the number of scalar parameters whose ``requires_grad`` changed.
    """
    keep = _resolve(model, except_)
    return (_set_trainable(model, keep, False, invert=True)
            + _set_trainable(model, keep, True, invert=False))


def unfreeze(model: nn.Module, names: Iterable[str] | str) -> int:
    """Make the parameters under ``names`` (stages or prefixes) trainable again.

    Returns the number of scalar parameters that were frozen and are now trainable.
    """
    prefixes = _resolve(model, names)
    if not prefixes:
        raise ValueError("unfreeze needs at least one layer or stage name, e.g. unfreeze(model, 'head')")
    return _set_trainable(model, prefixes, True, invert=False)


# --------------------------------------------------------------------------------------
# small CPU-sized relatives used by the AlexNet and VGG chapters
# --------------------------------------------------------------------------------------

class SmallAlexNet(nn.Module):
    """AlexNet's first layer exactly, then a reduced body, for training on a CPU.

    ``features``: conv1 = 64 filters 11x11, stride 4, padding 2 (as in torchvision's
    AlexNet, so its filters can be compared with ImageNet's), ReLU, 3x3/2 max pool; then
    ``width`` 5x5 filters, ReLU, 3x3/2 max pool; ``width`` 3x3 filters, ReLU. ``classifier``:
    global average pool, dropout, linear. Weights start as N(0, 0.01) and biases at 0, the
    initialisation of Krizhevsky et al. (2012). Input (N, in_channels, H, W) with H, W >= 63.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 64):
        super().__init__()
        for value, what in ((num_classes, "num_classes"), (in_channels, "in_channels"), (width, "width")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{what} must be a positive integer, got {value!r}")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(64, width, kernel_size=5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(width, width, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        )
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3),
                                        nn.Linear(width, num_classes))
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(module.weight, 0.0, 0.01)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or min(x.shape[-2:]) < 63:
            raise ValueError(f"SmallAlexNet expects (N, C, H, W) with H, W >= 63, got {tuple(x.shape)}; "
                             "resize the images (e.g. load_cifar10(size=64))")
        return self.classifier(self.features(x))


#: VGG16's convolution layout (configuration D of Simonyan & Zisserman 2015); "M" is 2x2 max pooling.
VGG16_LAYOUT: tuple = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                       512, 512, 512, "M")


class SmallVGG(nn.Module):
    """VGG16's 13 convolutions in 5 blocks, with every width divided by ``width_divisor``.

    ``features``: the VGG16 layout (3x3 convolutions, padding 1; 2x2 max pooling after each
    block), each convolution followed by BatchNorm (as torchvision's ``vgg16_bn``) when
    ``batch_norm`` and ReLU. ``classifier``: global average pool, linear to ``hidden``,
    ReLU, dropout, linear to ``num_classes``. Input (N, in_channels, H, W) with H, W >= 32
    (a multiple of 32 keeps every pooling exact). Stages for ``freeze``: block1..block5,
    classifier_body, head.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width_divisor: int = 8,
                 batch_norm: bool = True, hidden: int = 128, dropout: float = 0.3):
        super().__init__()
        for value, what in ((num_classes, "num_classes"), (in_channels, "in_channels"),
                            (width_divisor, "width_divisor"), (hidden, "hidden")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{what} must be a positive integer, got {value!r}")
        if 64 % width_divisor:
            raise ValueError(f"width_divisor must divide 64 (1, 2, 4, 8, ...), got {width_divisor}")
        layers: list[nn.Module] = []
        channels = in_channels
        for item in VGG16_LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
                continue
            width = item // width_divisor
            layers.append(nn.Conv2d(channels, width, kernel_size=3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.ReLU(inplace=True))
            channels = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, hidden),
                                        nn.ReLU(inplace=True), nn.Dropout(dropout),
                                        nn.Linear(hidden, num_classes))
        self.out_channels = channels
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or min(x.shape[-2:]) < 32:
            raise ValueError(f"SmallVGG expects (N, C, H, W) with H, W >= 32, got {tuple(x.shape)}")
        return self.classifier(self.features(x))


def split_at(model: nn.Module, stage: str) -> tuple[nn.Sequential, nn.Sequential]:
    """Cut a model with a ``features`` Sequential into (up to ``stage``, the rest + classifier).

    ``stage`` is a block name from ``stages`` (``"block4"``: the first part ends with block 4's
    pooling). The two parts share the model's modules (no copy); ``rest(first(x))`` equals
    ``model(x)`` for models whose forward is ``classifier(features(x))``.
    """
    known = stages(model)
    if not stage.startswith("block") or stage not in known:
        blocks = [k for k in known if k.startswith("block")]
        raise ValueError(f"stage must be one of {', '.join(blocks)}, got {stage!r}")
    end = int(known[stage][-1].split(".")[1]) + 1
    features = model.features
    return nn.Sequential(*features[:end]), nn.Sequential(*features[end:], model.classifier)


def replace_head(model: nn.Module, num_classes: int) -> nn.Linear:
    """Put a new, randomly initialised Linear layer for ``num_classes`` in place of the head.

    Works for every model ``build`` makes and for SmallAlexNet / SmallVGG; returns the new
    layer (trainable).
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    name = head_name(model)
    old = model.get_submodule(name)
    new = nn.Linear(old.in_features, num_classes).to(old.weight.device)
    _set_module(model, name, new)
    return new
