"""The built book as a reader meets it, in a real (headless) Chromium.

The book is built once per test session, in smoke mode, with warnings as errors (or taken
from ``$CXRLAB_BOOK_HTML``, a built ``_build/html`` folder). Every page listed in the table
of contents is opened through a local HTTP server on 127.0.0.1 and checked: no console
error, every image decoded, every equation typeset by the locally served MathJax, every
exercise solution collapsed until clicked and open after, and the navigation reaching every
chapter. Screenshots go to ``build-artifacts/screenshots`` (not committed).

Every page is also opened as on a *first visit* (empty localStorage, no browser cache) at
1280 px, which measures its weight and checks: no console error, no code block wider than its
column, every icon drawn, MathJax only where there is an equation, figures with real alt text and
a caption (reported per page in ``build-artifacts/figures-report.json``). At 390 px the menu and
contents buttons must open their sidebars, and at 1280 px the sidebar toggle must hide the
sidebar. The built HTML is scanned for build-machine paths, network errors, warnings, provenance
strings and words about how the book was made (``build-artifacts/html-scan.json``).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from headless import SHOTS, chromium_or_skip

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.book


def toc_pages() -> list[str]:
    """Doc names (e.g. book/02_lenet5_mnist) in the order of _toc.yml, sub-pages included."""
    toc = yaml.safe_load(Path(os.environ.get("CXRLAB_BOOK_TOC", REPO / "_toc.yml")).read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries:
            pages.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc.get("parts", [{"chapters": toc.get("chapters", [])}]):
        walk(part["chapters"])
    return pages


def is_notebook(doc: str) -> bool:
    return (REPO / f"{doc}.ipynb").is_file()




@pytest.fixture(scope="session")
def built_html(request) -> Path:
    given = os.environ.get("CXRLAB_BOOK_HTML")
    if given:
        return Path(given)
    return request.getfixturevalue("smoke_book") / "html"  # tests/conftest.py


@pytest.fixture(scope="session")
def server(built_html):
    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(QuietHandler, directory=str(built_html))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="session")
def browser():
    driver = chromium_or_skip(console_log=True)
    yield driver
    driver.quit()


def _screenshot(doc: str, width_name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS / f"{doc.replace('/', '_')}-{width_name}.png"


def _open(browser, url: str) -> None:
    browser.get(url)
    browser.get_log("browser")  # (drain) errors are read per page in the test
    browser.get(url)
    browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "if (window.MathJax && MathJax.startup && MathJax.startup.promise) {"
        "  MathJax.startup.promise.then(() => done(true)).catch(() => done(false)); } else { done(true); }")


def test_no_error_output_in_any_executed_page(built_html):
    reports = built_html / "reports"
    assert not list(reports.glob("**/*.err.log"))  # a missing folder globs to nothing
    for doc in toc_pages():
        html = (built_html / f"{doc}.html").read_text()
        assert "output traceback" not in html and "CellTimeoutError" not in html, doc
        assert "ansi-red-fg" not in html or "Traceback" not in html, doc


def test_every_page_in_a_real_browser(built_html, server, browser):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    counts = {"pages": 0, "images": 0, "equations": 0, "solutions": 0}
    for doc in toc_pages():
        _open(browser, f"{server}/{doc}.html")
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, f"{doc}: console errors {errors}"
        images = browser.execute_script(
            "return Array.from(document.images).map(i => [i.currentSrc, i.complete, i.naturalWidth]);")
        broken = [src for src, complete, width in images if not complete or width == 0]
        assert not broken, f"{doc}: images that did not decode: {broken}"
        if Path(doc).name[:2].isdigit() and is_notebook(doc):  # every chapter notebook shows figures its code drew
            figures = [src for src, _, _ in images if "/_images/" in src]
            assert figures, f"{doc}: no figure from an executed cell"
        maths = browser.execute_script(
            "return [document.querySelectorAll('.math').length,"
            " document.querySelectorAll('.math mjx-container, mjx-container.MathJax').length,"
            " document.querySelectorAll('mjx-merror').length];")
        n_math, n_typeset, n_errors = maths
        assert n_errors == 0, f"{doc}: {n_errors} equations failed to typeset"
        assert n_typeset >= n_math, f"{doc}: {n_math} equations, {n_typeset} typeset"
        solutions = browser.find_elements(By.CSS_SELECTOR, ".solution")
        answers = browser.find_elements(By.CSS_SELECTOR, ".answer")
        for answer in answers:
            body = answer.find_elements(By.CSS_SELECTOR, "p:not(.admonition-title)")
            assert body and not any(b.is_displayed() for b in body), f"{doc}: a questionnaire answer is visible before clicking"
        for solution in solutions + answers[:1]:
            body = solution.find_elements(By.CSS_SELECTOR, "p:not(.admonition-title), .highlight, pre")
            assert body, f"{doc}: a solution with no content"
            assert not any(b.is_displayed() for b in body), f"{doc}: a solution is visible before clicking"
            toggles = solution.find_elements(By.CSS_SELECTOR, "button.toggle-button") or \
                solution.find_elements(By.CSS_SELECTOR, "summary, .admonition-title")
            browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", toggles[0])
            toggles[0].click()
            try:
                WebDriverWait(browser, 5).until(lambda _: any(b.is_displayed() for b in body))
            except TimeoutException:
                pytest.fail(f"{doc}: a solution did not open on click")
        counts["pages"] += 1
        counts["images"] += len(images)
        counts["equations"] += n_typeset
        counts["solutions"] += len(solutions)
        counts["answers"] = counts.get("answers", 0) + len(answers)
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "counts.json").write_text(json.dumps(counts, indent=2))
    print(f"browser checks: {counts}")
    assert counts["pages"] == len(toc_pages()) and counts["solutions"] >= 6 and counts["equations"] > 0


def test_navigation_reaches_every_chapter(server, browser):
    from selenium.webdriver.common.by import By

    _open(browser, f"{server}/book/index.html")
    links = {a.get_attribute("href").split("#")[0] for a in browser.find_elements(By.CSS_SELECTOR, "nav a[href]")}
    for doc in toc_pages()[1:]:
        assert any(link.endswith(f"/{doc}.html") for link in links), f"{doc} is not in the navigation"


def test_screenshots_at_desktop_and_phone_width(first_visits, phone_visits):
    """The first screen of every page at both widths, for a person to look at (taken during the
    first visits at 1280 px and the visits at 390 px, so that no page is opened only for it)."""
    for doc in toc_pages():
        for name in ("desktop", "phone"):
            path = SHOTS / f"{doc.replace('/', '_')}-{name}.png"
            assert path.is_file() and path.stat().st_size > 10_000, f"{doc}: no {name} screenshot ({path})"


def test_student_edition_html_has_no_solutions_and_every_exercise(built_html, tmp_path):
    """The student edition, built from this build's executed notebooks, as the student's browser gets it."""
    from tools.edition import make_edition

    edition = tmp_path / "student"
    removed = make_edition("student", edition, built_html.parent / "jupyter_execute")
    result = subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", str(edition), "-W",
                             "--keep-going"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    student_html = edition / "_build" / "html"
    solutions = exercises = 0
    for doc in toc_pages():
        default_page = (built_html / f"{doc}.html").read_text()
        student_page = (student_html / f"{doc}.html").read_text()
        solutions += default_page.count('<div class="dropdown solution admonition"')
        exercises += default_page.count('class="exercise admonition"')
        assert "solution admonition" not in student_page, doc
        assert student_page.count('class="exercise admonition"') == default_page.count('class="exercise admonition"'), doc
        assert "[student edition]" in student_page, doc
    assert solutions == removed and exercises >= solutions > 0
    print(f"student edition: {exercises} exercises kept, {solutions} solutions removed")


# First visits at 1280 px -------------------------------------------------------------------

PAGE_FACTS_JS = """
const resources = performance.getEntriesByType("resource");
const navigation = performance.getEntriesByType("navigation")[0];
const kinds = {};
let total = navigation ? navigation.encodedBodySize : 0;
kinds.html = total;
for (const r of resources) {
  const path = new URL(r.name).pathname;
  const ext = (path.split(".").pop() || "").toLowerCase();
  const kind = ext === "js" ? "js" : ext === "css" ? "css" : ["woff", "woff2", "ttf", "otf"].includes(ext) ? "font"
             : ["png", "jpg", "jpeg", "svg", "gif", "webp"].includes(ext) ? "image" : "other";
  kinds[kind] = (kinds[kind] || 0) + r.encodedBodySize;
  total += r.encodedBodySize;
}
const main = document.querySelector("main") || document.body;
const overflowing = Array.from(main.querySelectorAll("pre")).filter(
  (p) => p.offsetParent !== null && p.scrollWidth > p.clientWidth + 1).map(
  (p) => [p.scrollWidth - p.clientWidth, p.textContent.slice(0, 60)]);
const figures = Array.from(main.querySelectorAll("img")).filter((i) => i.src.includes("/_images/")).map((i) => {
  const figure = i.closest("figure");
  const caption = figure ? (figure.querySelector("figcaption") || {}).textContent || "" : "";
  return {src: i.getAttribute("src"), alt: i.getAttribute("alt") || "", caption: caption.trim(),
          natural: i.naturalWidth, shown: i.clientWidth,
          attribute: parseFloat(i.style.width) || parseFloat(i.getAttribute("width")) || 0};
});
return {
  bytes: total, kinds: kinds,
  scripts: resources.filter((r) => r.name.endsWith(".js") || r.name.includes(".js?")).map((r) => new URL(r.name).pathname),
  overflowing: overflowing, figures: figures,
  icons_left: document.querySelectorAll('i[class*="fa-"], span[class*="fa-"]').length,
  icons_drawn: document.querySelectorAll("svg.svg-inline--fa").length,
  equations: document.querySelectorAll(".math").length,
  pst_header: !!document.querySelector("#pst-header .primary-toggle, #pst-header .search-button-field")
              || (document.getElementById("pst-header") || {offsetHeight: 0}).offsetHeight > 0,
  search_fields: Array.from(document.querySelectorAll(".search-button-field")).filter((b) => b.offsetParent !== null).length,
};
"""


@pytest.fixture(scope="session")
def first_visits(server, browser):
    """Per page, what a first visit at 1280 px meets: console errors, weight, overflow, figures..."""
    browser.set_window_size(1280, 900)
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    facts = {}
    try:
        for doc in toc_pages():
            url = f"{server}/{doc}.html"
            browser.get(url)
            browser.execute_script("localStorage.clear(); sessionStorage.clear();")
            browser.get_log("browser")  # drain
            browser.get(url)
            browser.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                "const ready = () => (window.MathJax && MathJax.startup && MathJax.startup.promise"
                "  ? MathJax.startup.promise : Promise.resolve()).then(() => setTimeout(() => done(true), 300));"
                "if (document.readyState === 'complete') ready(); else window.addEventListener('load', ready);")
            facts[doc] = browser.execute_script(PAGE_FACTS_JS)
            facts[doc]["errors"] = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
            browser.save_screenshot(str(_screenshot(doc, "desktop")))
    finally:
        browser.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": False})
    out = REPO / "build-artifacts"
    out.mkdir(exist_ok=True)
    weights = {doc: {"total_kb": round(f["bytes"] / 1024), **{k: round(v / 1024) for k, v in f["kinds"].items()}}
               for doc, f in facts.items()}
    (out / "page-weights.json").write_text(json.dumps(weights, indent=1))
    print("page weight (KB):", {doc: w["total_kb"] for doc, w in weights.items()})
    return facts


def test_no_console_error_on_a_first_visit(first_visits):
    """An empty localStorage once made the theme log "Got invalid theme mode"."""
    errors = {doc: f["errors"] for doc, f in first_visits.items() if f["errors"]}
    assert not errors, errors


def test_no_code_block_is_wider_than_its_column_at_1280(first_visits):
    wide = {doc: f["overflowing"] for doc, f in first_visits.items() if f["overflowing"]}
    assert not wide, wide


def test_one_search_field_and_no_second_header(first_visits):
    for doc, f in first_visits.items():
        assert not f["pst_header"], f"{doc}: the theme's second header (a second search bar) is back"
        assert f["search_fields"] <= 1, f"{doc}: {f['search_fields']} search fields visible"


def test_page_weight_without_what_the_theme_lets_us_cut(first_visits):
    """fontawesome.js (1.5 MB) is replaced by the icons the book uses; MathJax loads only with maths."""
    for doc, f in first_visits.items():
        assert not any(s.endswith("/fontawesome.js") for s in f["scripts"]), f"{doc} still loads fontawesome.js"
        assert f["icons_left"] == 0 and f["icons_drawn"] > 0, f"{doc}: {f['icons_left']} icons not drawn"
        loads_mathjax = any("mathjax" in s.lower() for s in f["scripts"])
        assert loads_mathjax == (f["equations"] > 0), f"{doc}: {f['equations']} equations, MathJax loaded: {loads_mathjax}"
        framework = f["bytes"] - f["kinds"].get("image", 0)
        assert framework < 2.75 * 2**20, f"{doc}: {framework / 2**20:.2f} MB of HTML, scripts, styles and fonts"


def _figure_problems(figures: list[dict]) -> list[str]:
    problems = []
    for figure in figures:
        name = Path(figure["src"]).name
        alt = figure["alt"].strip()
        if not alt or name in alt or alt.endswith((".png", ".svg", ".jpg")) or "_images/" in alt:
            problems.append(f"{name}: alt text is {alt!r}")
        if not figure["caption"]:
            problems.append(f"{name}: no caption")
    return problems


def smallest_text_px(figure: dict) -> float:
    """The book style's smallest text (cxrlab.figures.MIN_FONT_PT at 100 dpi) as this image is
    displayed: figures are drawn at 2x with their 1x width in the ``width`` attribute."""
    from cxrlab.figures import MIN_FONT_PT

    one_x = figure["attribute"] or figure["natural"]
    return MIN_FONT_PT / 72 * 100 * figure["shown"] / one_x if one_x else 0.0


def _text_problems(figures: list[dict], width: int) -> list[str]:
    problems = []
    for figure in figures:
        name = Path(figure["src"]).name
        if figure["natural"] and figure["attribute"] and abs(figure["natural"] - 2 * figure["attribute"]) > 2:
            problems.append(f"{name}: drawn at {figure['natural']} px for {figure['attribute']:g} px, not 2x")
        px = smallest_text_px(figure)
        if px < 9:
            problems.append(f"{name}: at {width} px its smallest text is {px:.1f} px (shown {figure['shown']} px wide)")
    return problems


@pytest.fixture(scope="session")
def phone_visits(server, browser):
    """Every page at 390 px: its first screen saved, and the chapters' figures as a phone shows them."""
    browser.set_window_size(390, 844)
    found = {}
    try:
        for doc in toc_pages():
            _open(browser, f"{server}/{doc}.html")
            browser.save_screenshot(str(_screenshot(doc, "phone")))
            found[doc] = browser.execute_script(
                "return Array.from((document.querySelector('main') || document.body).querySelectorAll('img'))"
                ".filter((i) => i.src.includes('/_images/')).map((i) => ({src: i.getAttribute('src'),"
                " natural: i.naturalWidth, shown: i.clientWidth,"
                " attribute: parseFloat(i.style.width) || parseFloat(i.getAttribute('width')) || 0}));")
    finally:
        browser.set_window_size(1280, 900)
    return found


@pytest.mark.parametrize("doc", toc_pages())
def test_every_figure_has_alt_text_and_a_caption(doc, first_visits):
    report_path = REPO / "build-artifacts" / "figures-report.json"
    report = {d: {"figures": len(f["figures"]), "problems": _figure_problems(f["figures"])} for d, f in first_visits.items()}
    report_path.write_text(json.dumps(report, indent=1))
    problems = report[doc]["problems"]
    assert not problems, f"{doc}: {len(problems)} problems in {report[doc]['figures']} figures: {problems}"


@pytest.mark.parametrize("doc", [d for d in toc_pages() if is_notebook(d)])
def test_figure_text_is_at_least_9_px_at_both_widths(doc, first_visits, phone_visits):
    problems = _text_problems(first_visits[doc]["figures"], 1280) + _text_problems(phone_visits[doc], 390)
    assert not problems, f"{doc}: {problems}"


# Navigation at 390 px and 1280 px ------------------------------------------------------------

def _visible(browser, selector):
    from selenium.webdriver.common.by import By

    shown = [e for e in browser.find_elements(By.CSS_SELECTOR, selector) if e.is_displayed()]
    assert shown, f"no visible {selector}"
    return shown[0]


def test_phone_menu_and_contents_buttons_open_their_sidebars(server, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.set_window_size(390, 844)
    try:
        _open(browser, f"{server}/book/07_clinical_pipeline.html")
        _visible(browser, ".primary-toggle").click()
        WebDriverWait(browser, 5).until(lambda b: b.execute_script(
            "const d = document.getElementById('pst-primary-sidebar-modal'); return d && d.open;"))
        links = browser.execute_script(
            "return Array.from(document.querySelectorAll('#pst-primary-sidebar-modal a'))"
            ".filter(a => a.offsetParent !== null).map(a => a.textContent.trim());")
        assert any("Regulation" in text for text in links), links[:5]
        browser.save_screenshot(str(SHOTS / "phone-menu-open.png"))
        browser.execute_script("document.getElementById('pst-primary-sidebar-modal').close();")
        _visible(browser, ".secondary-toggle").click()
        WebDriverWait(browser, 5).until(lambda b: b.execute_script(
            "const d = document.getElementById('pst-secondary-sidebar-modal'); return d && d.open;"))
        browser.save_screenshot(str(SHOTS / "phone-contents-open.png"))
        browser.execute_script("document.getElementById('pst-secondary-sidebar-modal').close();")
    finally:
        browser.set_window_size(1280, 900)


SIDEBAR_HIDDEN_CLASS = "return document.getElementById('pst-primary-sidebar').classList.contains('pst-sidebar-hidden');"


def test_desktop_sidebar_toggle_hides_and_shows_the_sidebar(server, browser):
    browser.set_window_size(1280, 900)
    _open(browser, f"{server}/book/02_lenet5_mnist.html")
    hidden = "return getComputedStyle(document.getElementById('pst-primary-sidebar')).visibility === 'hidden';"
    assert not browser.execute_script(hidden)
    _visible(browser, ".primary-toggle").click()
    browser.implicitly_wait(0)
    assert browser.execute_script(SIDEBAR_HIDDEN_CLASS)
    assert not browser.execute_script("const d = document.getElementById('pst-primary-sidebar-modal'); return d.open;")
    _visible(browser, ".primary-toggle").click()
    assert not browser.execute_script(SIDEBAR_HIDDEN_CLASS)


# What the pages say -------------------------------------------------------------------------

def test_html_scan_finds_nothing_a_reader_must_not_see(built_html):
    """No build-machine path, network error, warning, provenance string or word about how the
    book was made on any page (issue 16 item 17); every hit is also written, per page, to
    build-artifacts/html-scan.json. The one exception: the API reference documents the package's
    default folders (``~/.cache/cxrlab/data``, Debian's ``/usr/share/datasets``), which are every
    user's defaults, not this machine's paths."""
    from dataclasses import asdict

    from tools.html_scan import scan_book

    found = scan_book(built_html, [f"{doc}.html" for doc in toc_pages()])
    (REPO / "build-artifacts").mkdir(exist_ok=True)
    (REPO / "build-artifacts" / "html-scan.json").write_text(
        json.dumps({page: [asdict(h) for h in hits] for page, hits in found.items()}, indent=1))
    for page, hits in found.items():
        for hit in hits:
            print(f"{page}: [{hit.kind}] {hit.match!r}: ...{hit.context}...")
    print(f"html scan: {sum(map(len, found.values()))} hits in {sum(1 for h in found.values() if h)} of {len(found)} pages")
    assert len(found) == len(toc_pages())
    documented_defaults = ("~/.cache", "/usr/share/")
    left = {page: [h.match for h in hits if not (page == "_generated/api.html" and h.kind == "build-machine path"
                                                 and h.match.startswith(documented_defaults))]
            for page, hits in found.items()}
    assert not any(left.values()), {page: matches for page, matches in left.items() if matches}
