"""CXR Lab's clinician demo: a chest radiograph through the course's pipeline, one screen.

    bash scripts/app.sh                      # http://127.0.0.1:8501
    streamlit run app/streamlit_app.py -- --model tiny --audit-log /tmp/audit.jsonl

Upload a DICOM file (or pick a bundled example), then see: the de-identified header next
to a masked summary of the original, the windowed image (presets; MONOCHROME1 shown the
right way round), the multi-label chest model's calibrated probability per finding (one
sigmoid and one temperature each), the conformal set of findings (false-negative rate
controlled at alpha), a Grad-CAM overlay for each finding of the set, and the record appended
to the hash-chained audit log.
The original file stays in memory: it is never written to disk or logged.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import streamlit as st

from app import examples, model, pipeline
from app.overlay import HEATMAP_CMAP, overlay_png, shrink
from cxrlab.audit import sha256_pixels
from cxrlab.settings import data_dir


def options() -> argparse.Namespace:
    """The app's options: command line after ``--``, overridden by ``st.session_state`` (tests)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--model", choices=("course", "tiny"), default="course")
    parser.add_argument("--audit-log", type=Path, default=data_dir() / "app" / "audit.jsonl")
    parser.add_argument("--max-mb", type=float, default=pipeline.MAX_UPLOAD_MB)
    args, _ = parser.parse_known_args(sys.argv[1:])
    for key in ("model", "audit_log", "max_mb"):
        if key in st.session_state:
            setattr(args, key, st.session_state[key])
    return args


@st.cache_resource(show_spinner="Loading the chest model (the first time it is trained: about a minute)...")
def classifier(kind: str) -> model.ChestClassifier:
    return model.load(kind)


def chosen_file(args: argparse.Namespace) -> tuple[bytes | None, str]:
    """(bytes of the file to analyse, where it came from) from the sidebar."""
    st.sidebar.header("1. Choose a radiograph")
    source = st.sidebar.radio("Source", ("Upload a DICOM file", "Bundled example"), key="source")
    if source == "Upload a DICOM file":
        upload = st.sidebar.file_uploader(f"DICOM file (.dcm), at most {args.max_mb:g} MB", key="upload",
                                          help="The file stays in this app's memory: it is never written to disk.")
        return (upload.getvalue() if upload is not None else None), "upload"
    found = examples.examples()
    label = st.sidebar.selectbox("Example", list(found), key="example")
    return found[label].read_bytes(), label


def main() -> None:
    st.set_page_config(page_title="CXR Lab: chest X-ray demo", layout="wide")
    st.title("CXR Lab: chest X-ray demo")
    st.caption("For teaching only: not a medical device. The model was trained on small or synthetic chest images.")
    args = options()
    data, origin = chosen_file(args)
    preset = st.sidebar.selectbox("2. Window", pipeline.WINDOW_PRESETS, key="preset")
    if data is None:
        st.info("Upload a DICOM radiograph, or pick a bundled example in the sidebar.")
        return
    try:
        study = pipeline.open_study(data, max_mb=args.max_mb)
    except pipeline.InputError as error:
        st.error(str(error))
        st.caption(pipeline.NOTHING_STORED)
        return

    header, original = st.columns(2)
    with header:
        st.subheader("De-identified header")
        st.caption(f"PS3.15 Basic Profile: {len(study.report['removed'])} removed, "
                   f"{len(study.report['pseudonymised'])} pseudonymised, {len(study.report['dates_shifted'])} "
                   f"dates shifted, {study.report['uids_replaced']} UIDs replaced.")
        st.dataframe(pd.DataFrame(pipeline.header_table(study.dataset)), hide_index=True, height=320)
    with original:
        st.subheader("Original header (masked)")
        st.caption("Identifying values of the original are shown only as their length; the original file "
                   + ("stays in memory." if study.in_memory else "was deleted after de-identification."))
        st.dataframe(pd.DataFrame(study.masked_original), hide_index=True, height=320)

    shown = pipeline.window(study.dataset, preset)
    classifier_model = classifier(args.model)
    prediction = classifier_model.predict(pipeline.window(study.dataset, pipeline.WINDOW_PRESETS[0]).display)

    picture, findings = st.columns([1, 1])
    with picture:
        st.subheader("Radiograph")
        note = "MONOCHROME1: inverted for display" if shown.inverted else shown.photometric
        st.image(shrink(shown.display), clamp=True, caption=f"{preset}: {shown.voi}. {note}.")
    with findings:
        st.subheader("Findings")
        names = sorted(prediction.probabilities, key=prediction.probabilities.get, reverse=True)
        temperature = dict(zip(classifier_model.findings, classifier_model.temperatures))
        table = pd.DataFrame({"finding": names,
                              "calibrated probability": [f"{prediction.probabilities[f]:.1%}" for f in names],
                              "temperature": [f"{temperature[f]:.2f}" for f in names],
                              "in the set": ["yes" if f in prediction.finding_set else "" for f in names]})
        st.dataframe(table, hide_index=True, width="stretch", column_config={
            "finding": st.column_config.TextColumn(width="medium"),
            "calibrated probability": st.column_config.TextColumn("probability", width="small",
                                                                  help="sigmoid(logit / T), calibrated"),
            "temperature": st.column_config.TextColumn("T", width="small",
                                                       help="this finding's temperature (validation split)"),
            "in the set": st.column_config.TextColumn("in set", width="small")})
        st.markdown(f"**Set of findings (alpha = {prediction.alpha:g}):** "
                    + (", ".join(prediction.finding_set) or "empty: no finding reaches the threshold"))
        st.caption(f"{classifier_model.guarantee()} The set holds every finding whose calibrated probability "
                   f"reaches {prediction.threshold:.3f} (conformal risk control of the false-negative rate, "
                   f"calibrated on {classifier_model.risk_control.n_calibration} held-out "
                   f"{classifier_model.calibration_unit} with findings). Each finding has its own sigmoid, so "
                   "the probabilities need not sum to 100 %, and its own temperature, fitted on the validation "
                   f"split. Model: {classifier_model.description}.")

    st.subheader("Grad-CAM per finding in the set")
    model_image = pipeline.window(study.dataset, pipeline.WINDOW_PRESETS[0]).display
    if not prediction.heatmaps:
        st.info("The set of findings is empty, so there is no finding to explain.")
    per_row = 3
    items = list(prediction.heatmaps.items())
    for row in range(0, len(items), per_row):
        for column, (finding, heatmap) in zip(st.columns(per_row), items[row:row + per_row]):
            with column:
                st.image(overlay_png(model_image, heatmap, f"{finding}: {prediction.probabilities[finding]:.1%}"),
                         caption=f"Grad-CAM: {finding}")
    st.caption(f"Grad-CAM (Selvaraju et al. 2017) of each finding's logit, colour map {HEATMAP_CMAP}: the brighter "
               "and more opaque, the more that region raised the finding's score; where the map is cold the "
               "radiograph shows through. It shows where the model looked, not where the finding is.")

    output = {"probabilities": {f: round(p, 6) for f, p in prediction.probabilities.items()},
              "finding_set": prediction.finding_set, "alpha": prediction.alpha,
              "threshold": round(prediction.threshold, 6),
              "temperatures": {f: round(float(t), 6) for f, t in temperature.items()}}
    key = (study.input_sha256, classifier_model.weights_sha256)
    audited = st.session_state.setdefault("audited", {})
    if key not in audited:  # one record per study and model, not one per redraw
        extra = {"heatmap_sha256": {f: sha256_pixels(h) for f, h in prediction.heatmaps.items()},
                 "source": "upload" if origin == "upload" else "bundled example"}
        audited[key] = pipeline.audit(args.audit_log, study, model_version=classifier_model.version,
                                      weights_sha256=classifier_model.weights_sha256, output=output, extra=extra)
    record, chain = audited[key]
    with st.expander(f"Audit record (hash chain verified: {chain} record{'' if chain == 1 else 's'})"):
        st.json(record)


main()
