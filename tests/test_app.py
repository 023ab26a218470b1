"""The clinician demo app (app/): headless with Streamlit's AppTest, and once end to end in
headless Chromium (upload, then the Grad-CAM overlays). A tiny untrained model stands in for
the course model. About 40 s together on a busy 2-core machine."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from headless import SHOTS, chromium_or_skip, free_port, wait_for_http

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "app" / "streamlit_app.py"

pytestmark = pytest.mark.app


@pytest.fixture(scope="module")
def data_folder(tmp_path_factory):
    """A private data folder (the app writes its phantom examples there), shared by the module."""
    folder = tmp_path_factory.mktemp("app-data")
    old = os.environ.get("CXRLAB_DATA")
    os.environ["CXRLAB_DATA"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("CXRLAB_DATA", None)
    else:
        os.environ["CXRLAB_DATA"] = old


@pytest.fixture(scope="module")
def phantom_file(data_folder) -> Path:
    from app import examples

    return next(iter(examples.phantom_files().values()))


def _app(audit_log: Path, **state):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["model"] = "tiny"
    at.session_state["audit_log"] = audit_log
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def _texts(at) -> str:
    parts = [e.value for kind in ("markdown", "caption", "error", "info", "subheader", "title") for e in getattr(at, kind)]
    parts += [str(frame.value.to_dict()) for frame in at.dataframe]
    parts += [caption for image in at.image for caption in image.captions]
    return "\n".join(map(str, parts))


def _without_pixels(source: Path) -> bytes:
    ds = pydicom.dcmread(source)
    del ds.PixelData
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _photo_png() -> bytes:
    from PIL import Image
    from sklearn.datasets import load_sample_image

    buffer = io.BytesIO()
    Image.fromarray(load_sample_image("china.jpg")[::4, ::4]).save(buffer, format="PNG")
    return buffer.getvalue()


def _rgb_dicom() -> bytes:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("SC_rgb.dcm")).read_bytes()


def test_upload_shows_deidentified_header_findings_heatmaps_and_audits_once(tmp_path, data_folder, phantom_file):
    from cxrlab.audit import read_audit_log, verify_audit_log

    original = pydicom.dcmread(phantom_file)
    name, patient_id = str(original.PatientName), str(original.PatientID)
    log = tmp_path / "audit.jsonl"
    at = _app(log)
    assert not at.exception and "Upload a DICOM radiograph" in at.info[0].value
    at.sidebar.file_uploader[0].set_value(("scan.dcm", phantom_file.read_bytes(), "application/dicom")).run()
    assert not at.exception, at.exception
    text = _texts(at)
    for heading in ("De-identified header", "Original header (masked)", "Radiograph", "Findings", "Grad-CAM per finding"):
        assert heading in text
    assert "Conformal set (90%)" in text and "ANON-" in text
    assert name not in text and patient_id not in text  # the original is shown masked only
    captions = [caption for image in at.image for caption in image.captions]
    assert [c for c in captions if c.startswith("Grad-CAM")] == ["Grad-CAM: normal", "Grad-CAM: pneumonia",
                                                                 "Grad-CAM: nodule"]  # one overlay per finding
    assert len(at.image) == 4  # and the radiograph
    assert verify_audit_log(log) == 1
    record = read_audit_log(log)[0]
    assert set(record["output"]["probabilities"]) == {"normal", "pneumonia", "nodule"}
    assert name not in log.read_text() and patient_id not in log.read_text()
    at.sidebar.selectbox(key="preset").set_value("Lung (wide)").run()  # a redraw is not a new study
    assert not at.exception and verify_audit_log(log) == 1


def test_bundled_real_radiograph_is_monochrome1_inverted(tmp_path, data_folder):
    from app import examples

    log = tmp_path / "audit.jsonl"
    at = _app(log)
    at.sidebar.radio(key="source").set_value("Bundled example").run()
    at.sidebar.selectbox(key="example").set_value(examples.RG1).run()
    assert not at.exception, at.exception
    assert "MONOCHROME1: inverted for display" in _texts(at)
    assert log.is_file()


@pytest.mark.parametrize("kind", ["not DICOM (a PNG photo)", "no pixel data", "RGB DICOM", "over the size limit"])
def test_bad_input_gets_a_clear_message_and_nothing_is_stored(tmp_path, data_folder, phantom_file, kind, monkeypatch):
    payload, state, expected = {
        "not DICOM (a PNG photo)": (_photo_png, {}, "This file is not DICOM"),
        "no pixel data": (lambda: _without_pixels(phantom_file), {}, "holds no image (no Pixel Data)"),
        "RGB DICOM": (_rgb_dicom, {}, "is a colour image"),
        "over the size limit": (lambda: phantom_file.read_bytes(), {"max_mb": 0.01}, "this demo accepts at most 0.01 MB"),
    }[kind]
    log = tmp_path / "audit.jsonl"
    import streamlit.testing.v1  # noqa: F401 - AppTest makes its own temporary folder once, on import
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))  # the app runs in this process
    before = sorted(data_folder.rglob("*"))
    at = _app(log, **state)
    at.sidebar.file_uploader[0].set_value(("input.bin", payload(), "application/octet-stream")).run()
    assert not at.exception, at.exception
    assert len(at.error) == 1 and expected in at.error[0].value, [e.value for e in at.error]
    assert "Nothing was stored" in _texts(at)
    assert not at.image and not log.exists()
    assert not list(private_tmp.iterdir()) and sorted(data_folder.rglob("*")) == before  # no file anywhere


def test_upload_never_touches_the_disk(tmp_path, phantom_file, monkeypatch):
    """open_study writes no file anywhere: every open() for writing is watched."""
    import builtins

    from app import pipeline

    written = []
    real_open = builtins.open

    def watching_open(file, mode="r", *args, **kwargs):
        if any(flag in mode for flag in "wax+") and not str(file).startswith("/proc/self/fd/"):
            written.append(str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", watching_open)
    study = pipeline.open_study(phantom_file.read_bytes())
    assert study.in_memory and not written, written
    assert study.study_id.startswith("S-") and study.dataset.PatientIdentityRemoved == "YES"
    masked = {row["attribute"]: row["original (masked)"] for row in study.masked_original}
    assert masked["PatientName"].startswith("•") and "character" in masked["PatientName"]


def test_window_presets_and_masking():
    from app import pipeline

    assert pipeline.mask("DOE^JANE") == "•••••••• (8 characters)" and pipeline.mask("") == "(empty)"
    with pytest.raises(ValueError, match="window preset"):
        pipeline.window(None, "bone")


def test_tiny_model_prediction_shapes():
    from app import model

    classifier = model.load("tiny")
    image = np.random.default_rng(0).random((50, 70)).astype(np.float32)
    prediction = classifier.predict(image)
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert set(prediction.conformal_set) <= set(classifier.findings)
    assert all(h.shape == (50, 70) and 0 <= h.min() and h.max() <= 1 for h in prediction.heatmaps.values())
    with pytest.raises(ValueError, match="'course' or 'tiny'"):
        model.load("big")


def test_upload_in_a_real_browser_shows_the_heatmaps(tmp_path, data_folder, phantom_file):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from cxrlab.audit import verify_audit_log

    browser = chromium_or_skip()
    port, log = free_port(), tmp_path / "audit.jsonl"
    env = dict(os.environ, PYTHONPATH=str(REPO), CXRLAB_DATA=str(data_folder), OMP_NUM_THREADS="1")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "streamlit"), "run", str(APP), "--server.address=127.0.0.1",
         f"--server.port={port}", "--server.headless=true", "--browser.gatherUsageStats=false",
         "--server.fileWatcherType=none", "--client.toolbarMode=viewer", "--", "--model", "tiny", "--audit-log", str(log)],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/_stcore/health", timeout=60, process=server)
        browser.get(f"http://127.0.0.1:{port}/")
        upload = WebDriverWait(browser, 60).until(lambda d: d.find_element(By.CSS_SELECTOR, "input[type=file]"))
        upload.send_keys(str(phantom_file))

        def overlays(driver):
            captions = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "[data-testid=stImageCaption]")]
            shown = [c for c in captions if c.startswith("Grad-CAM:")]
            return shown if len(shown) == 3 else False

        captions = WebDriverWait(browser, 90, poll_frequency=0.5).until(overlays)
        decoded = WebDriverWait(browser, 30, poll_frequency=0.5).until(lambda d: d.execute_script(
            "const n = Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length;"
            "return n >= 4 ? n : false;"))  # the radiograph and the three overlays, decoded
        browser.set_window_size(1280, 2000)
        SHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SHOTS / "app.png"))
        assert captions == ["Grad-CAM: normal", "Grad-CAM: pneumonia", "Grad-CAM: nodule"] and decoded >= 4
        assert verify_audit_log(log) == 1
    finally:
        browser.quit()
        server.terminate()
        server.wait(timeout=20)
