"""Sphinx extension: make sphinx-book-theme 1.3 work with pydata-sphinx-theme 0.17.

Three faults of that pair, found in headless Chromium on the built book:

1. **Dead navigation buttons.** pydata-sphinx-theme 0.17 renders its own header
   (``#pst-header``) whenever ``navbar_persistent`` is not set, because it then defaults it to
   ``["search-button-field"]``. That header holds a second ``.primary-toggle`` and
   ``.secondary-toggle``, hidden on wide screens and placed *before* the book theme's own
   buttons. Both themes' scripts bind ``document.querySelector(".primary-toggle")``, i.e. the
   first one, so the phone menu, the phone contents button and the desktop sidebar toggle
   (all the book theme's) get no listener (pydata/pydata-sphinx-theme#2451; the book theme's
   ``fixSidebarToggle`` has the same ``querySelector``).
2. **A second search bar** above the sidebar's own: the same header's search button.
3. **"Got invalid theme mode: ." on a first visit**: the page's inline script sets
   ``data-mode`` to ``localStorage.mode || default_mode``, and ``default_mode`` is empty
   unless set, so with an empty localStorage the theme script is handed "".

Setting ``navbar_persistent`` to an empty list removes the header (every ``navbar_*`` item of
the book theme is empty), which fixes 1 and 2 at the source; ``default_mode = "auto"`` in the
template context (follow the reader's system setting, the theme's own fallback) fixes 3. The options are merged into
whatever ``html_theme_options`` Jupyter Book generated (launch buttons, repository), never
replacing them.

The extension also cuts page weight where the theme allows it:

- **Icons.** pydata-sphinx-theme loads ``fontawesome.js`` (1.5 MB: every Font Awesome icon and
  the library that swaps ``<i class="fa-...">`` for SVG) on every page, for about a dozen icons.
  After the build, the icons the pages actually use are looked up in that file and written,
  with a 30-line replacer, to ``fontawesome-subset.js`` (a few KB), which every page loads
  instead. An icon missing from the subset would stay an empty ``<i>``; the browser test
  checks that every icon on every page became an SVG.
- **MathJax.** Sphinx loads MathJax on a page when the page *or any page in its toctree* has an
  equation, so the landing page (whose toctree holds every chapter) loaded 1.1 MB of MathJax for
  no equation. Pages without an equation of their own no longer load it.

And it ships a small stylesheet (``cxrlab-page.css``): code cells and outputs wrap long lines
instead of overflowing the column, and figures never exceed it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
THEME_OPTIONS = {"navbar_persistent": []}
# default_mode is read by the theme's templates from the page context, not from the theme options
CONTEXT = {"default_mode": "auto"}


def merged_theme_options(options: dict | None) -> dict:
    """``options`` with :data:`THEME_OPTIONS` added where the book sets nothing itself."""
    merged = dict(options or {})
    for key, value in THEME_OPTIONS.items():
        merged.setdefault(key, value)
    return merged


ICON_DEFINITION = re.compile(r'(?:"([\w-]+)"|\b([\w-]+)):\[(\d+),(\d+),\[([^\]]*)\],"[0-9a-f]+","(M[^"]+)"\]')
PACK_START = re.compile(r"var p=\{")
ICON_ELEMENT = re.compile(r'<(?:i|span)\b[^>]*class="([^"]*\bfa-[^"]*)"')
PACK_CLASSES = {"fa-brands": "b", "fab": "b", "fa-regular": "r", "far": "r", "fa-solid": "s", "fas": "s"}
NOT_NAMES = {"fa-fw", "fa-lg", "fa-xs", "fa-sm", "fa-2x", "fa-3x", "fa-spin", "fa-pulse", "fa-inverse", *PACK_CLASSES}
FONTAWESOME_TAG = re.compile(r'<script defer src="([^"]*?)_static/scripts/fontawesome\.js\?digest=[^"]*"></script>')


def icon_library(bundle: str) -> dict[str, tuple[int, int, str]]:
    """``"s:bars" -> (width, height, path)`` for every icon (and alias) in Font Awesome's bundle.

    The bundle defines three packs in this order: brands (b), regular (r), solid (s).
    """
    starts = [m.end() for m in PACK_START.finditer(bundle)]
    packs = ["b", "r", "s"][-len(starts):] if starts else []
    library: dict[str, tuple[int, int, str]] = {}
    for match in ICON_DEFINITION.finditer(bundle):
        pack = next((p for p, start in reversed(list(zip(packs, starts))) if match.start() >= start), None)
        if pack is None:
            continue
        name = match.group(1) or match.group(2)
        icon = (int(match.group(3)), int(match.group(4)), match.group(6))
        aliases = re.findall(r'"([\w-]+)"', match.group(5))
        for key in (name, *aliases):
            library.setdefault(f"{pack}:{key}", icon)
    return library


def icons_used(html: str) -> set[str]:
    """``"s:bars"``-style keys of every Font Awesome icon element in a page."""
    used = set()
    for classes in ICON_ELEMENT.findall(html):
        words = classes.split()
        pack = next((PACK_CLASSES[w] for w in words if w in PACK_CLASSES), "s")
        used.update(f"{pack}:{w[3:]}" for w in words if w.startswith("fa-") and w not in NOT_NAMES)
    return used


REPLACER = """/* Font Awesome icons used by this book (generated by book/_ext/theme_fixes.py from the
   theme's fontawesome.js, Font Awesome Free: icons CC BY 4.0, code MIT). */
(function () {
  const ICONS = %s;
  const PACKS = {"fa-brands": "b", "fab": "b", "fa-regular": "r", "far": "r"};
  function replace(root) {
    root.querySelectorAll('i[class*="fa-"], span[class*="fa-"]').forEach((el) => {
      const words = Array.from(el.classList);
      const pack = words.map((w) => PACKS[w]).find(Boolean) || "s";
      const name = words.find((w) => w.startsWith("fa-") && ICONS[pack + ":" + w.slice(3)]);
      if (!name) return;
      const [width, height, d] = ICONS[pack + ":" + name.slice(3)];
      const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
      for (const attr of el.attributes) svg.setAttribute(attr.name, attr.value);
      svg.setAttribute("class", "svg-inline--fa " + el.getAttribute("class"));
      svg.setAttribute("viewBox", "0 0 " + width + " " + height);
      svg.setAttribute("aria-hidden", "true");
      svg.setAttribute("focusable", "false");
      const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
      path.setAttribute("fill", "currentColor");
      path.setAttribute("d", d);
      svg.appendChild(path);
      el.replaceWith(svg);
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => replace(document));
  } else {
    replace(document);
  }
})();
"""


def write_icon_subset(outdir: Path) -> tuple[int, int]:
    """Write the icon subset and point every page at it; return (icons kept, pages changed)."""
    bundle_path = outdir / "_static" / "scripts" / "fontawesome.js"
    if not bundle_path.is_file():
        return 0, 0
    library = icon_library(bundle_path.read_text(encoding="utf-8"))
    pages = sorted(outdir.rglob("*.html"))
    used = set()
    for page in pages:
        used |= icons_used(page.read_text(encoding="utf-8"))
    subset = {key: library[key] for key in sorted(used) if key in library}
    (outdir / "_static" / "scripts" / "fontawesome-subset.js").write_text(
        REPLACER % json.dumps(subset, separators=(",", ":")), encoding="utf-8")
    changed = 0
    for page in pages:
        text = page.read_text(encoding="utf-8")
        new = FONTAWESOME_TAG.sub(r'<script defer src="\1_static/scripts/fontawesome-subset.js"></script>', text)
        if new != text:
            page.write_text(new, encoding="utf-8")
            changed += 1
    return len(subset), changed


def _drop_unused_mathjax(app, pagename, templatename, context, doctree) -> None:
    """Keep MathJax only on pages that have an equation of their own."""
    if app.builder.format != "html" or doctree is None:
        return
    domain = app.env.get_domain("math")
    if domain.data.get("has_equations", {}).get(pagename):
        return
    scripts = context.get("script_files")
    if scripts:
        context["script_files"] = [s for s in scripts if "mathjax" not in str(getattr(s, "filename", s)).lower()]


def _on_finished(app, exception) -> None:
    if exception is None and app.builder.format == "html":
        write_icon_subset(Path(app.outdir))


def _on_config(app, config) -> None:
    config.html_theme_options = merged_theme_options(config.html_theme_options)
    config.html_context = {**CONTEXT, **(config.html_context or {})}
    config.html_static_path = [*config.html_static_path, str(STATIC)]


def setup(app):
    app.connect("config-inited", _on_config)
    app.connect("html-page-context", _drop_unused_mathjax, priority=900)
    app.connect("build-finished", _on_finished)
    app.add_css_file("cxrlab-page.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
