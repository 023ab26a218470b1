"""The one reader of the course's environment variables.

Every ``CXRLAB_*`` variable is read here and nowhere else, so one rule decides what a value
means. :class:`cxrlab.runtime.Runtime` carries these settings into a chapter; package
functions called outside a chapter fall back to the same readers.

| variable | meaning | default |
|---|---|---|
| ``CXRLAB_MODE`` | run mode: ``full``, ``quick`` or ``smoke`` | by device |
| ``CXRLAB_PROGRESS`` | progress bars on (``1``) or off (``0``, ``false``, ``no``, ``off``) | on |
| ``CXRLAB_OFFLINE`` | ``1`` skips every download attempt (pretrained weights) | off |
| ``CXRLAB_DATA`` | the data folder | ``~/.cache/cxrlab/data`` |
"""

from __future__ import annotations

import os
from pathlib import Path

MODE_ENV = "CXRLAB_MODE"
PROGRESS_ENV = "CXRLAB_PROGRESS"
OFFLINE_ENV = "CXRLAB_OFFLINE"
DATA_ENV = "CXRLAB_DATA"
DEFAULT_DATA_DIR = Path.home() / ".cache" / "cxrlab" / "data"

_FALSE = ("0", "false", "no", "off")


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() not in _FALSE


def mode_from_env() -> str | None:
    """The mode named by ``$CXRLAB_MODE`` (not validated here), or None when unset or empty."""
    value = os.environ.get(MODE_ENV)
    return value if value else None


def progress_enabled(progress: bool | None = None) -> bool:
    """Whether to draw progress bars: ``progress`` when given, else ``$CXRLAB_PROGRESS`` (default on)."""
    if progress is not None:
        return bool(progress)
    return _flag(PROGRESS_ENV, True)


def offline() -> bool:
    """True when ``$CXRLAB_OFFLINE`` asks that no download be attempted."""
    return _flag(OFFLINE_ENV, False)


def data_dir() -> Path:
    """The data folder: ``$CXRLAB_DATA`` if set, else ``~/.cache/cxrlab/data``."""
    value = os.environ.get(DATA_ENV)
    return Path(value).expanduser() if value else DEFAULT_DATA_DIR
