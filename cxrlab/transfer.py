"""Transfer learning: a model's named stages, freezing and unfreezing them, a new head,
and running a frozen backbone once so that only the head trains (chapter 4).

``stages(model)`` names the parts of a network (``block1`` .. ``block5``, ``layer1`` ..
``layer4``, ``head``); ``freeze(model, except_=["head"])`` stops gradients everywhere else;
``unfreeze(model, "block5")`` fine-tunes one more stage; ``replace_head(model, k)`` puts a
new classifier for ``k`` classes in place; ``cache_features(backbone, data)`` stores the
frozen backbone's outputs so each epoch costs only the head; ``class_subset`` cuts a data
set into a source and a target task with disjoint classes (Yosinski et al. 2014).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import torch
import torch.nn as nn
from torch.utils.data import TensorDataset

from ._checks import positive_int
from ._torch import eval_mode, model_device, progress_bar
from .train import as_tensors


def set_module(model: nn.Module, path: str, module: nn.Module) -> None:
    """Put ``module`` at the dotted ``path`` of ``model`` (``"fc"``, ``"classifier.6"``), replacing what was there.

    Raises:
        AttributeError: when the parent of ``path`` does not exist in ``model``.
    """
    parent_path, _, leaf = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, leaf, module)


def head_name(model: nn.Module) -> str:
    """Parameter-name prefix of the classification head (``fc``, ``classifier.6``, ...).

    Raises:
        ValueError: when the model has no Linear layer named ``fc`` or in ``classifier``.

    Returns:
        The dotted name, e.g. ``"fc"`` or ``"classifier.6"``.
    """
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
                     "(a Linear layer); pass a model made by cxrlab.pretrained.build")


def classifier_head(model: nn.Module) -> nn.Module:
    """The classification head of a model made by ``cxrlab.pretrained.build``: a Linear layer.

    Raises:
        ValueError: as :func:`head_name`.

    Returns:
        The head, an ``nn.Linear``.
    """
    return model.get_submodule(head_name(model))


def stages(model: nn.Module) -> dict[str, list[str]]:
    """Named stages of a model and the parameter-name prefixes each covers.

    ``head`` is the classification head. A ``features`` Sequential (AlexNet, VGG, LeNet-5,
    the chapters' small VGG) is cut into ``block1``, ``block2``, ... after each pooling
    layer; ResNets have ``stem`` and ``layer1``...``layer4``; every other top-level child
    is a stage under its own name.

    Args:
        model: a network with a head (see :func:`head_name`).

    Returns:
        ``{stage name: [parameter-name prefixes]}`` in input-to-output order, ``head`` last.

    Raises:
        ValueError: as :func:`head_name`.
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
    made trainable.

    Returns:
        The number of scalar parameters whose ``requires_grad`` changed.

    Raises:
        ValueError: for a name that is neither a stage nor a parameter-name prefix.
    """
    keep = _resolve(model, except_)
    return (_set_trainable(model, keep, False, invert=True)
            + _set_trainable(model, keep, True, invert=False))


def unfreeze(model: nn.Module, names: Iterable[str] | str) -> int:
    """Make the parameters under ``names`` (stages or prefixes) trainable again.

    Returns:
        The number of scalar parameters that were frozen and are now trainable.

    Raises:
        ValueError: for no name, or one that is neither a stage nor a parameter-name prefix.
    """
    prefixes = _resolve(model, names)
    if not prefixes:
        raise ValueError("unfreeze needs at least one layer or stage name, e.g. unfreeze(model, 'head')")
    return _set_trainable(model, prefixes, True, invert=False)


def split_at(model: nn.Module, stage: str) -> tuple[nn.Sequential, nn.Sequential]:
    """Cut a model with a ``features`` Sequential into (up to ``stage``, the rest + classifier).

    ``stage`` is a block name from ``stages`` (``"block4"``: the first part ends with block 4's
    pooling). The two parts share the model's modules (no copy); ``rest(first(x))`` equals
    ``model(x)`` for models whose forward is ``classifier(features(x))``.

    Returns:
        ``(first, rest)``, two ``nn.Sequential``.

    Raises:
        ValueError: when ``stage`` is not one of the model's ``block`` stages.
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

    Works for every model ``cxrlab.pretrained.build`` makes and for SmallAlexNet / SmallVGG.

    Returns:
        The new layer (trainable, on the old head's device).

    Raises:
        ValueError: for a non-positive ``num_classes`` or a model without a head.
    """
    positive_int(num_classes, "num_classes")
    name = head_name(model)
    old = model.get_submodule(name)
    new = nn.Linear(old.in_features, num_classes).to(old.weight.device)
    set_module(model, name, new)
    return new

@torch.no_grad()
def cache_features(backbone: nn.Module, data: TensorDataset | tuple[torch.Tensor, torch.Tensor], *,
                   batch_size: int = 256, device: torch.device | str | None = None,
                   progress: bool | None = None) -> TensorDataset:
    """Run a frozen ``backbone`` once over ``data`` and keep its outputs: (features, labels).

    The backbone runs in eval mode (BatchNorm uses its running statistics, dropout is off)
    without gradients, and every submodule's own train/eval flag is restored afterwards. A
    head trained on the result sees exactly what it would see behind the frozen backbone,
    and each epoch costs only the head's own computation.

    Args:
        backbone: the frozen part of a network.
        data: a TensorDataset or a tuple (inputs, labels).
        batch_size: images per forward pass.
        device: where to run (default: the backbone's device).
        progress: a progress bar (None: ``cxrlab.settings.progress_enabled()``).

    Returns:
        A TensorDataset of float32 features (N, ...) on the CPU and the labels unchanged.

    Raises:
        ValueError: for a non-positive ``batch_size`` or empty or mismatched data.
    """
    x, y = as_tensors(data)
    positive_int(batch_size, "batch_size")
    device = torch.device(device) if device is not None else model_device(backbone)
    outputs = []
    starts = range(0, len(x), batch_size)
    with eval_mode(backbone):
        for start in progress_bar(starts, total=len(starts), desc="caching features", enabled=progress,
                                  unit="batch"):
            outputs.append(backbone(x[start:start + batch_size].to(device)).float().cpu())
    return TensorDataset(torch.cat(outputs), y.cpu())


def class_subset(data: TensorDataset | tuple[torch.Tensor, torch.Tensor], classes: Sequence[int], *,
                 n_per_class: int | None = None, seed: int = 0) -> TensorDataset:
    """The examples of ``classes`` only, relabelled 0..len(classes)-1 in the order given.

    ``n_per_class`` keeps that many random examples of each class (None: all); an error
    says so when a class has fewer. Used to split one data set into a source and a target
    task with disjoint classes (Yosinski et al. 2014).

    Returns:
        A TensorDataset (inputs copied, labels 0..len(classes)-1).

    Raises:
        ValueError: for repeated or missing classes, or a class with fewer than ``n_per_class`` examples.
    """
    x, y = as_tensors(data)
    classes = [int(c) for c in classes]
    if not classes or len(set(classes)) != len(classes):
        raise ValueError(f"classes must be a non-empty list of distinct labels, got {classes}")
    generator = torch.Generator().manual_seed(seed)
    keep, labels = [], []
    for new_label, old_label in enumerate(classes):
        index = torch.nonzero(y == old_label).flatten()
        if len(index) == 0:
            raise ValueError(f"class {old_label} has no examples in this data set")
        if n_per_class is not None:
            if n_per_class > len(index):
                raise ValueError(f"class {old_label} has only {len(index)} examples, asked for {n_per_class}")
            index = index[torch.randperm(len(index), generator=generator)[:n_per_class]].sort().values
        keep.append(index)
        labels.append(torch.full((len(index),), new_label, dtype=torch.long))
    order = torch.cat(keep)
    return TensorDataset(x[order].clone(), torch.cat(labels))


__all__ = ["cache_features", "class_subset", "classifier_head", "freeze", "head_name", "replace_head",
           "set_module", "split_at", "stages", "unfreeze"]
