"""Sphinx extension: drop repeated inline <script> lines from every built page.

With Jupyter Book 1.0.4 and sphinx-thebe 0.3.1 the inline thebe and togglebutton
configuration scripts are written twice into each page; the second ``const THEBE_JS_URL``
is a JavaScript error in every page's console. After the build, each page keeps the first
copy of any identical ``<script>...</script>`` line.
"""

from __future__ import annotations

import re
from pathlib import Path

INLINE_SCRIPT = re.compile(r"^\s*<script>.*</script>\s*$")


def dedupe_page(text: str) -> str:
    """``text`` without the second and later copies of identical one-line inline scripts."""
    seen, lines = set(), []
    for line in text.splitlines(keepends=True):
        if INLINE_SCRIPT.match(line):
            if line.strip() in seen:
                continue
            seen.add(line.strip())
        lines.append(line)
    return "".join(lines)


def _on_finished(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        cleaned = dedupe_page(text)
        if cleaned != text:
            page.write_text(cleaned, encoding="utf-8")


def setup(app):
    app.connect("build-finished", _on_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
