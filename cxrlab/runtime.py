"""Where a chapter runs: device, run mode, seeding and the sizes that follow from them.

Every chapter starts with ``rt = cxrlab.setup()``. It detects the device, picks a run
mode, seeds every random number generator and prints one banner line. The chapter then
asks ``rt`` for its sizes (``rt.epochs(...)``, ``rt.size(...)``, ``rt.image_size(...)``)
instead of typing them, so the same notebook runs at laptop scale and at GPU scale, and
passes ``**rt.fit_options()`` to every ``fit``. Modes change sizes, never code paths.

``Runtime`` carries everything a chapter's environment decides: mode, device, seed,
progress bars, offline, the data folder. The environment variables behind them are read
in one place, :mod:`cxrlab.settings`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from . import settings
from ._checks import positive_int

MODES = ("full", "quick", "smoke")
MODE_ENV = settings.MODE_ENV

T = TypeVar("T")


class ModeError(ValueError):
    """Raised when ``CXRLAB_MODE`` or ``mode=`` names a mode that does not exist."""


def detect_device() -> torch.device:
    """Return the best available device: CUDA, then Apple MPS, then CPU.

    Returns:
        ``torch.device("cuda")``, ``torch.device("mps")`` or ``torch.device("cpu")``.
    """
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def choose_mode(mode: str | None, device: torch.device) -> str:
    """Return the run mode: ``mode`` if given, else ``$CXRLAB_MODE``, else by device.

    ``full`` on a GPU (CUDA or MPS), ``quick`` on a CPU; ``smoke`` only when asked for.
    Raises ModeError, naming the valid modes, for anything else.

    Returns:
        One of ``MODES``.

    Raises:
        ModeError: naming the valid modes, for a mode that does not exist.
    """
    source = "mode="
    if mode is None:
        mode = settings.mode_from_env()
        source = MODE_ENV
    if mode is None:
        return "full" if device.type in ("cuda", "mps") else "quick"
    cleaned = str(mode).strip().lower()
    if cleaned not in MODES:
        raise ModeError(
            f"{source}={mode!r} is not a run mode; use one of {', '.join(MODES)} "
            f"(or unset {MODE_ENV} to pick by device)"
        )
    return cleaned


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (CPU and every GPU) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds CUDA and MPS generators


@dataclass
class Runtime:
    """The device, mode and seed a chapter runs with, its environment, and the sizes that follow.

    Sizes are chosen with one value per mode, e.g. ``rt.epochs(full=30, quick=6,
    smoke=1)``; the value for the current mode is returned.

    Attributes:
        device, mode, seed, threads: as chosen by :func:`setup`.
        progress: draw progress bars (``$CXRLAB_PROGRESS``).
        offline: never attempt a download (``$CXRLAB_OFFLINE``).
        data_dir: the data folder (``$CXRLAB_DATA``).
        data_sources: what the banner reports for each data set.
    """

    device: torch.device
    mode: str
    seed: int
    threads: int
    data_sources: dict[str, str] = field(default_factory=dict)
    progress: bool = field(default_factory=settings.progress_enabled)
    offline: bool = field(default_factory=settings.offline)
    data_dir: Path = field(default_factory=settings.data_dir)

    def pick(self, full: T, quick: T, smoke: T) -> T:
        """Return whichever of ``full``, ``quick`` and ``smoke`` matches the mode."""
        return {"full": full, "quick": quick, "smoke": smoke}[self.mode]

    def epochs(self, full: int, quick: int, smoke: int = 1) -> int:
        """Number of training epochs for this mode (a positive integer)."""
        return positive_int(self.pick(full, quick, smoke), "epochs")

    def size(self, full: int | None, quick: int, smoke: int) -> int | None:
        """Number of examples (a subset size) for this mode; ``None`` means all."""
        value = self.pick(full, quick, smoke)
        return None if value is None else positive_int(value, "size")

    def image_size(self, full: int, quick: int, smoke: int) -> int:
        """Side length in pixels of the (square) model input for this mode."""
        return positive_int(self.pick(full, quick, smoke), "image_size")

    @property
    def is_gpu(self) -> bool:
        """True when the device is CUDA or Apple MPS."""
        return self.device.type in ("cuda", "mps")

    @property
    def amp(self) -> bool:
        """Mixed precision: on for CUDA (``fit`` ignores it elsewhere)."""
        return self.device.type == "cuda"

    @property
    def channels_last(self) -> bool:
        """NHWC memory format: on for CPUs, where it speeds small convolutional networks up."""
        return not self.is_gpu

    def fit_options(self, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for :func:`cxrlab.train.fit` that come from the run, not the chapter.

        Args:
            **overrides: replace any of them (``channels_last=False`` for a network without
                convolutions, say).

        Returns:
            ``dict(device=, seed=, amp=, channels_last=, progress=)``.

        Raises:
            TypeError: for an override that is not one of those five.
        """
        options = dict(device=self.device, seed=self.seed, amp=self.amp, channels_last=self.channels_last,
                       progress=self.progress)
        unknown = set(overrides) - set(options)
        if unknown:
            raise TypeError(f"fit_options() can override {', '.join(options)}, not {', '.join(sorted(unknown))}")
        options.update(overrides)
        return options

    def banner(self) -> str:
        """One line: package version, device, threads, mode, seed and data sources."""
        from . import __version__

        device = self.device.type
        if self.device.type == "cuda":
            device = f"cuda ({torch.cuda.get_device_name(self.device)})"
        sources = ", ".join(f"{k}={v}" for k, v in self.data_sources.items()) or "none"
        return (
            f"cxrlab {__version__} | device {device} | threads {self.threads} | "
            f"mode {self.mode} | seed {self.seed} | data: {sources}"
        )


def setup(seed: int = 0, mode: str | None = None, *, data: tuple[str, ...] = ("mnist", "cifar10"),
          quiet: bool = False) -> Runtime:
    """Detect the device, choose the run mode, seed everything and print the banner.

    ``mode`` overrides ``$CXRLAB_MODE``, which overrides detection. ``data`` names the
    data sets whose source (real or stand-in) the banner reports; checking is a disk look-up,
    never a download. Returns the Runtime a chapter asks for its sizes.

    Side effects: seeds Python's ``random``, NumPy and torch; sets NumPy's print options
    (legacy 1.25 scalars); applies the book's figure style (``cxrlab.figures.use_book_style``:
    figures sized for the page at 2x resolution); on CUDA turns on ``cudnn.benchmark``; prints the banner unless ``quiet``.

    Args:
        seed: the seed of every generator.
        mode: ``"full"``, ``"quick"`` or ``"smoke"`` (None: ``$CXRLAB_MODE``, else by device).
        data: names of the data sets whose source the banner reports.
        quiet: do not print the banner.

    Returns:
        The :class:`Runtime`.

    Raises:
        ModeError: for an unknown mode.
    """
    from .data import describe_source

    device = detect_device()
    chosen = choose_mode(mode, device)
    seed_everything(seed)
    # NumPy 2 shows scalars as "np.float64(0.5)"; show "0.5" so printed values and the
    # numbers glued into the book's prose read as plain numbers.
    np.set_printoptions(legacy="1.25")
    from .figures import use_book_style

    use_book_style()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fastest kernels for fixed input shapes
    runtime = Runtime(
        device=device,
        mode=chosen,
        seed=seed,
        threads=torch.get_num_threads(),
        data_sources={name: describe_source(name) for name in data},
    )
    if not quiet:
        print(runtime.banner())
    return runtime
