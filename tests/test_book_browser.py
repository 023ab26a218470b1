"""The built book as a reader meets it, in a real (headless) Chromium.

The book is built once per test session, in smoke mode, with warnings as errors (or taken
from ``$CXRLAB_BOOK_HTML``, a built ``_build/html`` folder). Every page listed in the table
of contents is opened through a local HTTP server on 127.0.0.1 and checked: no console
error, every image decoded, every equation typeset by the locally served MathJax, every
exercise solution collapsed until clicked and open after, and the navigation reaching every
chapter. Screenshots go to ``build-artifacts/screenshots`` (not committed).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "build-artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.book


def toc_pages() -> list[str]:
    """Doc names (e.g. book/02_lenet5_mnist) in the order of _toc.yml."""
    toc = yaml.safe_load(Path(os.environ.get("CXRLAB_BOOK_TOC", REPO / "_toc.yml")).read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", [{"chapters": toc.get("chapters", [])}]):
        pages += [entry["file"] for entry in part["chapters"]]
    return pages


@pytest.fixture(scope="session")
def built_html(tmp_path_factory) -> Path:
    given = os.environ.get("CXRLAB_BOOK_HTML")
    if given:
        return Path(given)
    subprocess.run(["bash", "scripts/vendor_mathjax.sh"], cwd=REPO, check=True)
    out = tmp_path_factory.mktemp("book")
    env = dict(os.environ, CXRLAB_MODE="smoke", CXRLAB_PROGRESS="0")
    env.pop("MPLBACKEND", None)  # Agg would stop the notebooks from showing their figures
    result = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter-book"), "build", ".", "--path-output", str(out),
         "-W", "--keep-going"], cwd=REPO, env=env, capture_output=True, text=True)
    log = REPO / "build-artifacts" / "smoke-build.log"
    log.parent.mkdir(exist_ok=True)
    log.write_text(result.stdout + result.stderr)
    assert result.returncode == 0, f"the smoke build failed (warnings are errors); see {log}:\n" + \
        "\n".join(line for line in (result.stdout + result.stderr).splitlines() if "WARNING" in line or "ERROR" in line)[-3000:]
    html = out / "_build" / "html"
    report = html / "reports" / "execution.json"
    if report.is_file():  # kept for scripts/record_execution_times.py (the smoke column of the times table)
        shutil.copy(report, log.parent / "smoke-execution.json")
    return html


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
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


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
        if Path(doc).name[:2].isdigit():  # every chapter shows figures its code drew
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
        for solution in solutions:
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


def test_screenshots_at_desktop_and_phone_width(server, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, width, height in (("desktop", 1280, 900), ("phone", 390, 844)):
        browser.set_window_size(width, height)
        for doc in ("book/index", "book/02_lenet5_mnist"):
            _open(browser, f"{server}/{doc}.html")
            path = SHOTS / f"{Path(doc).name}-{name}.png"
            browser.save_screenshot(str(path))
            assert path.stat().st_size > 10_000
    browser.set_window_size(1280, 900)


def test_student_edition_html_has_no_solutions_and_every_exercise(built_html, tmp_path):
    """The student edition, built from this build's executed notebooks, as the student's browser gets it."""
    sys.path.insert(0, str(REPO / "scripts"))
    from make_edition import make_edition

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
