"""Scan a built book's HTML for text a reader must never see.

    python -m tools.html_scan _build/html            # every hit, page by page
    python -m tools.html_scan _build/html --strict   # exit 1 when there is any hit

What it looks for, in the text a reader sees (tags, scripts and styles removed):

- **paths of the build machine**: home folders, caches, system data folders, virtual
  environments, temporary and work folders;
- **network errors** that leaked from an offline build (DNS failures, refused connections);
- **warnings** printed into outputs (``TqdmWarning``, ``IProgress not found``, Python's
  ``...Warning:`` lines);
- **provenance strings**: pinned package versions and wheel names pasted into prose;
- **words about how the book was made**, which readers never saw: "the seed", "seed 000",
  "the source this chapter was built from", "the assignment this chapter grew from"...
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

RULES: dict[str, list[str]] = {
    "build-machine path": [
        r"(?<![\w.])/home/[\w.-]+", r"(?<![\w.])/root/", r"(?<![\w.])/Users/[\w.-]+", r"~/\.cache\b",
        r"(?<![\w.])\.cache/(?:torch|cxrlab|pip|huggingface)", r"(?<![\w.])/usr/(?:share|lib|local)/",
        r"site-packages/", r"\.venv/lib/python", r"(?<![\w.])/work/[\w.-]+",
        r"[A-Z]:\\\\Users\\\\",
    ],
    "network error": [
        r"gaierror", r"Name or service not known", r"Temporary failure in name resolution",
        r"NameResolutionError", r"\[Errno -[23]\]", r"Connection refused", r"Max retries exceeded",
        r"getaddrinfo failed",
    ],
    "warning in output": [
        r"TqdmWarning", r"IProgress not found", r"\b\w*Warning: ", r"\bwarnings\.warn\(",
    ],
    "provenance string": [
        r"\b[a-z][\w-]*==\d+(?:\.\d+)+", r"from PyPI wheel", r"PyPI wheel", r"\.whl\b",
    ],
    "how the book was made": [
        r"\bthe seed\b(?!\s+(?:of|for|value|argument|=))", r"\bseed 0\d\d\b", r"\bseed code\b", r"\bseed monitor\b",
        r"\bthe seed's\b", r"\bseed's rule\b", r"\bthe source this chapter\b", r"\bthe source's\b",
        r"\bthe assignment this chapter\b", r"\bthe assignment's\b", r"\bthis book's sources\b",
        r"\bone of this book's sources\b", r"\bthe book's source material\b", r"\bgrew from\b",
        r"\bsource documents?\b", r"\bthe original assignment\b",
    ],
}
PATTERNS = [(kind, re.compile(pattern, re.I if kind == "how the book was made" else 0))
            for kind, patterns in RULES.items() for pattern in patterns]
INVISIBLE = re.compile(r"<(script|style|noscript)\b.*?</\1>", re.S | re.I)
TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Hit:
    """One match: the page, the rule's kind, the matched text and what surrounds it."""

    page: str
    kind: str
    match: str
    context: str


def visible_text(page_html: str) -> str:
    """The text of a page as a reader sees it: no scripts, styles or tags; entities decoded."""
    text = TAG.sub(" ", INVISIBLE.sub(" ", page_html))
    return re.sub(r"[ \t\r\f\v]+", " ", html.unescape(text))


def scan_text(text: str, page: str = "") -> list[Hit]:
    """Every hit of every rule in ``text`` (overlapping matches of one kind count once)."""
    hits, spans = [], {}
    for kind, pattern in PATTERNS:
        for match in pattern.finditer(text):
            taken = spans.setdefault(kind, [])
            if any(match.start() < end and start < match.end() + 20 for start, end in taken):
                continue
            taken.append((match.start(), match.end()))
            start, end = max(0, match.start() - 60), min(len(text), match.end() + 60)
            context = " ".join(text[start:end].split())
            hits.append(Hit(page, kind, match.group(0), context))
    return hits


def scan_page(path: Path, root: Path | None = None) -> list[Hit]:
    """Every hit in one built HTML page."""
    name = str(path.relative_to(root)) if root else str(path)
    return scan_text(visible_text(path.read_text(encoding="utf-8", errors="replace")), name)


def scan_book(html_dir: Path, pages: list[str] | None = None) -> dict[str, list[Hit]]:
    """Page (e.g. ``book/07_clinical_pipeline.html``) -> its hits, for ``pages`` or every page
    of the book (not Sphinx's own search and index pages)."""
    html_dir = Path(html_dir)
    paths = ([html_dir / p for p in pages] if pages is not None else
             sorted(p for p in html_dir.rglob("*.html") if p.name not in {"search.html", "genindex.html"}
                    and "_static" not in p.parts and "_sources" not in p.parts))
    return {str(p.relative_to(html_dir)): scan_page(p, html_dir) for p in paths}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path, help="a built book's _build/html folder")
    parser.add_argument("--strict", action="store_true", help="exit 1 when anything is found")
    parser.add_argument("--json", type=Path, help="also write every hit to this JSON file")
    args = parser.parse_args(argv)
    found = scan_book(args.html)
    total = sum(len(h) for h in found.values())
    for page, hits in found.items():
        for hit in hits:
            print(f"{page}: [{hit.kind}] {hit.match!r} in: ...{hit.context}...")
    print(f"{total} hits in {sum(1 for h in found.values() if h)} of {len(found)} pages")
    if args.json:
        args.json.write_text(json.dumps({p: [asdict(h) for h in hits] for p, hits in found.items()}, indent=1))
    return 1 if args.strict and total else 0


if __name__ == "__main__":
    sys.exit(main())
