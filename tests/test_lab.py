"""The course in JupyterLab: a server on 127.0.0.1 with a token runs a chapter's first cells on
the course kernel ``cxrlab`` through the kernel REST and websocket API, and headless Chromium
sees the Lab UI list every chapter. About 50 s together on a busy 2-core machine."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from headless import SHOTS, chromium_or_skip, free_port, wait_for_http

REPO = Path(__file__).resolve().parent.parent
BANNER = re.compile(r"cxrlab \d+\.\d+\.\d+\S* \| device \w+ .*\| mode smoke \| seed 0")
CHAPTERS = sorted(p.name for p in (REPO / "book").glob("[0-9][0-9]_*.ipynb"))

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(base URL, token) of a JupyterLab server whose only extra kernel is the course's,
    registered by scripts/register_kernel.py into a private Jupyter folder."""
    home = tmp_path_factory.mktemp("jupyter")
    subprocess.run([sys.executable, str(REPO / "scripts" / "register_kernel.py"), "--prefix", str(home)],
                   check=True, capture_output=True)
    token, port = secrets.token_hex(16), free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO), CXRLAB_MODE="smoke", CXRLAB_PROGRESS="0",
               JUPYTER_PATH=str(home / "share" / "jupyter"), JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), OMP_NUM_THREADS="1")
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={REPO}", "--LabApp.default_url=/lab/tree/book",
         "--ServerApp.port_retries=0", "--allow-root"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/api/status?token={token}", timeout=60, process=server)
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _api(base: str, token: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(f"{base}{path}", method="POST" if body is not None else "GET",
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def _execute(socket, session: str, code: str, timeout: float = 60) -> tuple[str, dict]:
    """Run ``code`` on the kernel; return (everything it printed, the execute_reply content)."""
    msg_id = uuid.uuid4().hex
    socket.send(json.dumps({
        "header": {"msg_id": msg_id, "username": "test", "session": session, "msg_type": "execute_request",
                   "version": "5.3", "date": dt.datetime.now(dt.timezone.utc).isoformat()},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True}}))
    printed, reply, idle = [], None, False
    deadline = time.monotonic() + timeout
    while (reply is None or not idle) and time.monotonic() < deadline:
        message = json.loads(socket.recv())
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind, content = message["msg_type"], message["content"]
        if kind == "stream":
            printed.append(content["text"])
        elif kind == "error":
            printed.append("\n".join(content["traceback"]))
        elif kind == "execute_reply":
            reply = content
        elif kind == "status" and content["execution_state"] == "idle":
            idle = True
    assert reply is not None, f"no reply within {timeout} s to {code[:80]!r}"
    return "".join(printed), reply


def test_chapter_first_cells_run_on_the_course_kernel(lab):
    import websocket

    base, token = lab
    specs = _api(base, token, "/api/kernelspecs")["kernelspecs"]
    assert "cxrlab" in specs and specs["cxrlab"]["spec"]["display_name"] == "CXR Lab (Python 3)"
    kernel = _api(base, token, "/api/kernels", {"name": "cxrlab"})
    assert kernel["name"] == "cxrlab"
    socket = websocket.create_connection(f"ws://127.0.0.1:{base.rsplit(':', 1)[1]}/api/kernels/{kernel['id']}/channels",
                                         header=[f"Authorization: token {token}"], timeout=60)
    try:
        chapter = json.loads((REPO / "book" / "08_explainability.ipynb").read_text())
        printed = ""
        for cell in [c for c in chapter["cells"] if c["cell_type"] == "code"][:3]:
            output, reply = _execute(socket, uuid.uuid4().hex, "".join(cell["source"]))
            assert reply["status"] == "ok", output[-2000:]
            printed += output
            if BANNER.search(printed):
                break
        assert BANNER.search(printed), f"no smoke-mode banner in what the first cells printed: {printed[-1000:]!r}"
        where, _ = _execute(socket, uuid.uuid4().hex, "import cxrlab, sys; print(cxrlab.__file__); print(sys.executable)")
        assert where.splitlines()[0].startswith(str(REPO)), where  # this checkout's package
    finally:
        socket.close()
        urllib.request.urlopen(urllib.request.Request(f"{base}/api/kernels/{kernel['id']}", method="DELETE",
                                                      headers={"Authorization": f"token {token}"}), timeout=30)


def test_lab_ui_lists_every_chapter(lab):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, token = lab
    browser = chromium_or_skip()
    try:
        browser.get(f"{base}/lab/tree/book?token={token}")

        def listed(driver):
            names = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".jp-DirListing-itemText")]
            return names if set(CHAPTERS) <= set(names) else False

        names = WebDriverWait(browser, 60, poll_frequency=0.5).until(listed)
        cards = WebDriverWait(browser, 30, poll_frequency=0.5).until(
            lambda d: [e.text for e in d.find_elements(By.CSS_SELECTOR, ".jp-LauncherCard")] or False)
        assert any("CXR Lab" in card for card in cards), cards  # the course kernel in the launcher
        assert "JupyterLab" in browser.title or browser.find_elements(By.CSS_SELECTOR, "#jp-main-dock-panel")
        SHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SHOTS / "jupyterlab.png"))
        assert set(CHAPTERS) <= set(names) and len(CHAPTERS) == 10
    finally:
        browser.quit()
