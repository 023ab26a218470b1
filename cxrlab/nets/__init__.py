"""The course's network architectures, one file per network.

| file | network | chapter |
|---|---|---|
| ``lenet.py`` | ``LeNet5`` (LeCun et al. 1998) | 2 |
| ``alexnet.py`` | ``SmallAlexNet``: AlexNet's first layer, a reduced body | 3 |
| ``vgg.py`` | ``SmallVGG``: VGG16's 13 convolutions, widths divided | 4 |
| ``inception.py`` | ``Inception`` module, ``InceptionNet``, ``googlenet_for(rt, ...)`` | 5 |
| ``resnet_cifar.py`` | ``Block`` (the residual block), ``DeepCNN`` (He et al.'s CIFAR nets) | 6 |
| ``dropout_nets.py`` | ``dropout_cnn``, ``mlp_head`` (MC dropout, ensembles) | 9 |
| ``layers.py`` | ``Resize``, ``Normalize``; ``SigmoidTanh``, ``FullConnectionConv2d`` (faster LeNet-5) | 2, 5, 7-10 |

torchvision's ImageNet networks are built by :func:`cxrlab.pretrained.build`; freezing,
stages and head replacement live in :mod:`cxrlab.transfer`.

Every public name of every file here can be imported from the package itself
(``from cxrlab.nets import LeNet5``). The look-up is lazy: it reads each file's literal
``__all__`` (without importing the file) and imports only the file that holds the name, so a
new architecture file is found without editing this one.
"""

from __future__ import annotations

import ast
import functools
import importlib
import pkgutil
from pathlib import Path
from types import ModuleType

import torch.nn as nn


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters of ``model``.

    Args:
        model: any ``nn.Module``.
        trainable_only: count only parameters with ``requires_grad`` (what an optimizer updates).

    Returns:
        The total number of scalars (an int >= 0).

    Raises:
        TypeError: when ``model`` is not an ``nn.Module``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"count_parameters needs an nn.Module, got {type(model).__name__}")
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _files() -> list[str]:
    return sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_"))


@functools.lru_cache(maxsize=None)
def _exports() -> dict[str, str]:
    """Exported name -> file, read from each file's literal ``__all__`` without importing it."""
    found: dict[str, str] = {}
    for file in _files():
        tree = ast.parse((Path(__file__).parent / f"{file}.py").read_text())
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
                for name in ast.literal_eval(node.value):
                    found.setdefault(name, file)
    return found


def __getattr__(name: str) -> object:
    if name in _files():
        return importlib.import_module(f"{__name__}.{name}")
    file = _exports().get(name)
    if file is not None:
        module: ModuleType = importlib.import_module(f"{__name__}.{file}")
        return getattr(module, name)
    raise AttributeError(f"cxrlab.nets has no {name!r}; its files are {', '.join(_files())}")


def __dir__() -> list[str]:
    return sorted({"count_parameters", *_files(), *_exports()})
