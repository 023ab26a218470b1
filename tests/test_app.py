"""The clinician demo app (app/): headless with Streamlit's AppTest, and once end to end in
headless Chromium (upload, then the Grad-CAM overlays). A tiny untrained multi-label model with
the phantom's findings stands in for the course model. About 40 s together on a busy 2-core
machine."""

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


@pytest.fixture(scope="module")
def expected_set(phantom_file) -> list[str]:
    """The tiny model's set of findings for the phantom, computed without the app."""
    from app import model, pipeline

    study = pipeline.open_study(phantom_file.read_bytes())
    return model.load("tiny").predict(pipeline.window(study.dataset, pipeline.WINDOW_PRESETS[0]).display).finding_set


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


def test_upload_shows_deidentified_header_findings_heatmaps_and_audits_once(tmp_path, data_folder, phantom_file,
                                                                             expected_set):
    from cxrlab.audit import read_audit_log, verify_audit_log
    from cxrlab.phantom import FINDINGS

    original = pydicom.dcmread(phantom_file)
    name, patient_id = str(original.PatientName), str(original.PatientID)
    log = tmp_path / "audit.jsonl"
    at = _app(log)
    assert not at.exception and "Upload a DICOM radiograph" in at.info[0].value
    at.sidebar.file_uploader[0].set_value(("scan.dcm", phantom_file.read_bytes(), "application/dicom")).run()
    assert not at.exception, at.exception
    text = _texts(at)
    for heading in ("De-identified header", "Original header (masked)", "Radiograph", "Findings",
                    "Grad-CAM per finding in the set"):
        assert heading in text
    assert "Set of findings (alpha = 0.1):" in text and "ANON-" in text
    # alpha is stated with what it guarantees: a marginal bound on the expected fraction of findings missed
    assert "misses at most 10% of their true findings" in text and "expected false-negative rate" in text
    assert "marginal" in text
    assert name not in text and patient_id not in text  # the original is shown masked only
    table = at.dataframe[2].value  # the findings table: every phantom finding, one probability each
    assert sorted(table["finding"]) == sorted(FINDINGS) and list(table.columns) == [
        "finding", "calibrated probability", "temperature", "in the set"]
    assert expected_set and [f for f, yes in zip(table["finding"], table["in the set"]) if yes] == expected_set
    captions = [caption for image in at.image for caption in image.captions]
    assert [c for c in captions if c.startswith("Grad-CAM")] == [f"Grad-CAM: {f}" for f in expected_set]
    assert len(at.image) == 1 + len(expected_set)  # the radiograph and one overlay per finding of the set
    assert verify_audit_log(log) == 1
    record = read_audit_log(log)[0]
    assert set(record["output"]["probabilities"]) == set(FINDINGS)
    assert record["output"]["finding_set"] == expected_set and record["output"]["alpha"] == 0.1
    assert set(record["extra"]["heatmap_sha256"]) == set(expected_set)
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


def test_tiny_model_is_multi_label_with_per_finding_calibration_and_an_fnr_set():
    import torch

    from app import model
    from cxrlab.calibrate import apply_temperatures_per_finding
    from cxrlab.dicom import to_model_input
    from cxrlab.phantom import FINDINGS

    classifier = model.load("tiny")
    assert classifier.findings == list(FINDINGS) and classifier.temperatures.shape == (len(FINDINGS),)
    assert classifier.alpha == model.ALPHA == 0.1 and 0 < classifier.risk_control.threshold < 1
    image = np.random.default_rng(0).random((50, 70)).astype(np.float32)
    prediction = classifier.predict(image)
    # one sigmoid per finding at its own temperature: calibrate.apply_temperatures_per_finding's numbers
    x = to_model_input(image, 32, channels=1, keep_aspect=True)[None]
    with torch.no_grad():
        logits = classifier.net(x).double().numpy()
    expected = apply_temperatures_per_finding(logits, classifier.temperatures)[0]
    assert list(prediction.probabilities) == list(FINDINGS)
    assert np.allclose(list(prediction.probabilities.values()), expected, atol=1e-6)
    assert sum(prediction.probabilities.values()) != pytest.approx(1.0, abs=1e-3)  # no softmax across findings
    # the set: every finding at or above the risk-controlled threshold, most probable first
    above = [f for f, p in prediction.probabilities.items() if p >= prediction.threshold]
    assert sorted(prediction.finding_set) == sorted(above) and prediction.finding_set
    assert [prediction.probabilities[f] for f in prediction.finding_set] == sorted(
        (prediction.probabilities[f] for f in above), reverse=True)
    assert list(prediction.heatmaps) == prediction.finding_set  # a Grad-CAM map per finding of the set
    assert all(h.shape == (50, 70) and 0 <= h.min() and h.max() <= 1 for h in prediction.heatmaps.values())
    assert "expected false-negative rate <= alpha = 0.1" in classifier.guarantee()
    with pytest.raises(ValueError, match="'course' or 'tiny'"):
        model.load("big")


def test_overlay_opacity_follows_the_heat_in_a_perceptual_colour_map():
    import matplotlib
    from PIL import Image

    from app import overlay

    heat = np.array([[0.0, 0.25], [0.5, 1.0]])
    rgba = overlay.heat_rgba(heat)
    assert overlay.HEATMAP_CMAP == "inferno"
    assert np.allclose(rgba[..., 3], overlay.MAX_OPACITY * heat) and rgba[0, 0, 3] == 0  # cold = transparent
    assert np.allclose(rgba[..., :3], matplotlib.colormaps["inferno"](heat)[..., :3])
    with pytest.raises(ValueError, match="finite"):
        overlay.heat_rgba(np.array([[np.nan]]))
    grey = np.linspace(0, 1, 64 * 48).reshape(64, 48)
    png = overlay.overlay_png(grey, np.zeros_like(grey), "no heat")
    assert Image.open(io.BytesIO(png)).width > 48  # drawn with its colour bar


def test_upload_in_a_real_browser_shows_the_heatmaps(tmp_path, data_folder, phantom_file, expected_set):
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
            return shown if len(shown) == len(expected_set) else False

        captions = WebDriverWait(browser, 90, poll_frequency=0.5).until(overlays)
        decoded = WebDriverWait(browser, 30, poll_frequency=0.5).until(lambda d: d.execute_script(
            "const n = Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length;"
            f"return n >= {1 + len(expected_set)} ? n : false;"))  # the radiograph and the overlays, decoded
        browser.set_window_size(1280, 2000)
        SHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SHOTS / "app.png"))
        assert captions == [f"Grad-CAM: {f}" for f in expected_set] and decoded >= 1 + len(expected_set)
        print(f"browser: {decoded} images decoded, overlays {captions}")
        assert verify_audit_log(log) == 1
    finally:
        browser.quit()
        server.terminate()
        server.wait(timeout=20)
