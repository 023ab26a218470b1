"""Sphinx extension: write the build's per-chapter execution times to reports/execution.json.

Jupyter Book (myst-nb) times every notebook it executes; this keeps those times in a file
that the benchmarks and the instructor guide read, so no time is ever retyped by hand.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path


def _write_report(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    from myst_nb.sphinx_ import NbMetadataCollector

    chapters = {}
    for docname, data in sorted(NbMetadataCollector.get_doc_data(app.env).items()):
        result = data.get("exec_data")
        if result:
            chapters[docname] = {"seconds": result.get("runtime"), "succeeded": result.get("succeeded"),
                                 "method": result.get("method")}
    try:
        from cxrlab.runtime import choose_mode, detect_device

        device = detect_device()
        mode = choose_mode(None, device)
        device_name = device.type
    except Exception as error:  # the report must never break a build
        mode, device_name = f"unknown ({error})", "unknown"
    report = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "mode": mode, "device": device_name, "cpu_count": os.cpu_count(),
        "machine": platform.machine(), "python": platform.python_version(),
        "chapters": chapters,
    }
    folder = Path(app.outdir) / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "execution.json").write_text(json.dumps(report, indent=2))


def setup(app):
    app.connect("build-finished", _write_report)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
