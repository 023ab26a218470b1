"""What counts as a real repository address (the one setting that shows launch buttons and arms the Colab cell)."""

from __future__ import annotations

import re

REPOSITORY_URL = re.compile(r"^https://[A-Za-z0-9.-]+\.[A-Za-z]{2,}/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?(\.git)?/?$")
PLACEHOLDERS = ("your-fork", "your_fork", "yourfork", "owner/repo", "example.com", "example.org", "<", ">")


def is_repository_url(url: object) -> bool:
    """True for the https address of a repository (e.g. ``https://github.com/someone/cxr-lab``);
    False for an empty value, another scheme, or a placeholder (``OWNER/REPO``, ``your-fork``)."""
    text = str(url or "").strip()
    return bool(REPOSITORY_URL.match(text)) and not any(p in text.lower() for p in PLACEHOLDERS)
