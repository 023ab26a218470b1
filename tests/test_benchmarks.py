"""The benchmark runner in a tiny configuration, so it cannot rot."""

import json
from pathlib import Path

import pytest

from benchmarks import book
from benchmarks.__main__ import main
from benchmarks.common import Row, format_table


def test_ratio_direction():
    assert Row("x", "time", "b", 10.0, 2.0, "s", higher_is_better=False).ratio == 5.0
    assert Row("x", "throughput", "b", 10.0, 20.0, "img/s", higher_is_better=True).ratio == 2.0
    assert "5.00x" in format_table([Row("x", "time", "b", 10.0, 2.0, "s", higher_is_better=False)])


def test_lenet_benchmark_tiny_writes_json_and_merges(tmp_path, capsys):
    out = tmp_path / "r.json"
    other = {"benchmark": "gradcam", "what": "kept", "ratio": 2.0}
    out.write_text(json.dumps({"machine": {}, "tiny": True, "rows": [other, {"benchmark": "lenet", "what": "old"}],
                               "failures": {}}))
    assert main(["--only", "lenet", "--tiny", "--json", str(out), "--merge"]) == 0
    printed = capsys.readouterr().out
    assert "a typical tutorial pipeline" in printed and "seed 0" not in printed
    result = json.loads(out.read_text())
    assert result["tiny"] is True and result["machine"]["cores"] >= 1
    assert result["rows"][0] == other                       # --merge kept the other benchmark's row
    assert all(r.get("what") != "old" for r in result["rows"])  # and replaced lenet's
    rows = {r["unit"]: r for r in result["rows"] if r["benchmark"] == "lenet"}
    assert all(r["measured"] and r["repeats"] == 1 for r in rows.values())
    assert set(rows) == {"s", "%"}
    for row in rows.values():
        assert row["baseline"] > 0 and row["cxrlab"] > 0
        assert row["baseline_name"] == "a typical tutorial pipeline, 1 epochs"
    assert "load average" in rows["s"]["note"]


def test_no_benchmark_label_speaks_of_the_books_sources():
    """Readers never saw the documents the course was specified from: labels say what a baseline is."""
    import re

    for path in sorted((Path(__file__).resolve().parent.parent / "benchmarks").glob("*.py")):
        if path.name == "dicom.py":  # owned and relabelled with its new rows elsewhere
            continue
        text = path.read_text()
        assert not re.search(r"\bseed 00\d|the seed's|seed code|SeedLeNet", text, re.I), path.name


def test_book_benchmark_reads_the_execution_report(tmp_path):
    report = {"created": "2026-11-23T00:00:00+00:00", "mode": "quick", "device": "cpu",
              "chapters": {"book/02_lenet5_mnist": {"seconds": 90.0, "succeeded": True}}}
    path = tmp_path / "execution.json"
    path.write_text(json.dumps(report))
    (row,) = book.run(path=path)
    assert row.baseline == 180.0 and row.cxrlab == 90.0 and row.ratio == 2.0
    with pytest.raises(FileNotFoundError, match="build the book first"):
        book.run(path=tmp_path / "missing.json")


def _report(mode, **seconds):
    return {"created": "2026-12-01T00:00:00+00:00", "mode": mode, "device": "cpu",
            "chapters": {f"book/{doc}": {"seconds": value, "succeeded": True} for doc, value in seconds.items()}}


def test_build_summary_flags_chapters_over_their_mode_budget():
    report = _report("quick", ch01=12.0, ch05=181.5, ch08=180.0)
    late = book.over_budget(report)
    assert [c.docname for c in late] == ["book/ch05"]          # 180.0 is within, 181.5 is over
    text = book.summary(report, executed={"book/ch05"})
    assert "OVER BUDGET by 2 s" in text and "1 chapter(s) over the quick-mode budget of 180 s: ch05" in text
    lines = {line.split()[0]: line for line in text.splitlines()[1:-1]}
    assert "executed" in lines["ch05"] and "cached" in lines["ch01"] and "OVER" not in lines["ch08"]
    smoke = _report("smoke", ch01=31.0, ch02=29.0)
    assert [c.docname for c in book.over_budget(smoke)] == ["book/ch01"]
    assert "every chapter within" in book.summary(_report("smoke", ch01=3.0))


def test_build_summary_without_a_budget_flags_nothing_and_reports_failures():
    full = _report("full", ch05=900.0)
    assert book.over_budget(full) == [] and "no time budget for this mode" in book.summary(full)
    failed = _report("quick", ch02=10.0)
    failed["chapters"]["book/ch02"]["succeeded"] = False
    assert "FAILED" in book.summary(failed)
    with pytest.raises(ValueError, match="not an execution report"):
        book.summary({"rows": []})


def test_build_summary_command(tmp_path, capsys):
    path = tmp_path / "execution.json"
    path.write_text(json.dumps(_report("quick", ch05=200.0)))
    executed = tmp_path / "executed.txt"
    executed.write_text("book/ch05\n")
    assert book.main([str(path), "--executed", str(executed)]) == 0   # over budget is reported, not fatal
    assert "OVER BUDGET by 20 s" in capsys.readouterr().out
    assert book.main([str(tmp_path / "none.json")]) == 1


def test_lenet_benchmark_trains_as_chapter_2_does():
    """The benchmark's CHAPTER recipe is the one chapter 2's training cell runs in quick mode."""
    import re

    from benchmarks.lenet import CHAPTER

    notebook = json.loads((Path(__file__).resolve().parent.parent / "book" / "02_lenet5_mnist.ipynb").read_text())
    cell = next("".join(c["source"]) for c in notebook["cells"]
                if c["cell_type"] == "code" and "history = fit(" in "".join(c["source"]))
    recipe = re.search(r"recipe = dict\((.*?)\)\n", cell, re.S).group(1)
    assert f"optimizer={CHAPTER['optimizer']!r}" in recipe and f"lr={CHAPTER['lr']!r}" in recipe
    assert f"weight_decay={CHAPTER['weight_decay']!r}" in recipe and f'schedule="{CHAPTER["schedule"]}"' in recipe
    assert f"quick={CHAPTER['epochs']}," in cell and f"batch_size = {CHAPTER['batch_size']}" in cell
    assert f"shift = {CHAPTER['shift']}" in cell
    assert f"label_smoothing={CHAPTER['label_smoothing']!r}" in recipe
    assert f"threads={CHAPTER['threads']!r}" in cell.replace('"', "'")


def _run_appendix(results_dir, monkeypatch):
    """Run the Performance appendix's code cells with its results folder pointed elsewhere."""
    import matplotlib

    matplotlib.use("Agg")
    notebook = json.loads((Path(__file__).resolve().parent.parent / "book" / "appendix_performance.ipynb").read_text())
    cells = ["".join(c["source"]) for c in notebook["cells"]
             if c["cell_type"] == "code" and "colab-setup" not in c["metadata"].get("tags", [])]
    cells[0] = cells[0].replace('RESULTS = Path("..") / "benchmarks" / "results"', f"RESULTS = Path({str(results_dir)!r})")
    assert str(results_dir) in cells[0]
    glued = {}
    monkeypatch.setattr("myst_nb.glue", lambda name, value, display=True: glued.__setitem__(name, value))
    namespace: dict = {}
    for source in cells:
        exec(compile(source, "appendix", "exec"), namespace)
    return namespace, glued


def test_appendix_names_missing_peers_and_survives_no_results(tmp_path, monkeypatch, capsys):
    rows = [{"benchmark": "gradcam", "what": "Grad-CAM vs Captum's LayerGradCam, 224 px",
             "baseline_name": "Captum LayerGradCam, batched", "baseline": 20.0, "cxrlab": 30.0, "unit": "img/s",
             "higher_is_better": True, "note": "32 images", "ratio": 1.5},
            {"benchmark": "lenet", "what": "LeNet-5 training time", "baseline_name": "a typical tutorial pipeline",
             "baseline": 60.0, "cxrlab": 15.0, "unit": "s", "higher_is_better": False, "note": "3 seeds", "ratio": 4.0,
             "measured": "2026-12-01T12:00:00+00:00"}]
    machine = {"cpu": "test CPU", "cores": 2, "gpu": None, "torch": "2", "date": "2026-12-01T00:00:00+00:00"}
    (tmp_path / "m.json").write_text(json.dumps({"machine": machine, "tiny": False, "rows": rows}))
    (tmp_path / "broken.json").write_text("{not json")
    namespace, glued = _run_appendix(tmp_path, monkeypatch)
    report = namespace["peer_report"](namespace["table"])
    assert "**1.50×**" in report and "**4.00×**" in report
    assert "against dicognito: not in the result files yet" in report
    assert "against pytorch-grad-cam: not in the result files yet" in report
    assert "--only dicom" in report and "test CPU" in glued["perf_machine"]
    assert "In all 2 comparisons" in glued["perf_verdict"]
    empty = tmp_path / "empty"
    empty.mkdir()
    namespace, glued = _run_appendix(empty, monkeypatch)
    assert namespace["table"].empty and glued["perf_verdict"] == "There are no results to compare yet."
    assert "not in the result files yet" in namespace["peer_report"](namespace["table"])
