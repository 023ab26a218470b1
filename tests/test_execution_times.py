"""The per-mode execution-time table: recorded from build reports, rendered at build time."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import tools.execution_times as gp

REPO = Path(__file__).resolve().parent.parent


def _report(mode="quick", seconds=(18.14, 63.06), succeeded=True):
    return {"created": "2026-11-23T18:00:00+00:00", "mode": mode, "device": "cpu", "cpu_count": 2,
            "chapters": {"book/01_cnn_basics": {"seconds": seconds[0], "succeeded": True},
                         "book/02_lenet5_mnist": {"seconds": seconds[1], "succeeded": succeeded}}}


def test_a_report_is_stored_under_its_mode_and_replaces_only_that_mode():
    record = gp.record_report({}, _report("smoke", (2.0, 3.0)))
    record = gp.record_report(record, _report("quick"))
    assert set(record["modes"]) == {"smoke", "quick"}
    assert record["modes"]["quick"]["seconds"] == {"book/01_cnn_basics": 18.1, "book/02_lenet5_mnist": 63.1}
    again = gp.record_report(record, _report("quick", (20.0, 70.0)))
    assert again["modes"]["quick"]["seconds"]["book/02_lenet5_mnist"] == 70.0
    assert again["modes"]["smoke"] == record["modes"]["smoke"]


def test_failed_or_unknown_builds_are_refused():
    with pytest.raises(ValueError, match="book/02_lenet5_mnist"):
        gp.record_report({}, _report(succeeded=False))
    with pytest.raises(ValueError, match="expected one of"):
        gp.record_report({}, _report(mode="unknown (no torch)"))
    with pytest.raises(ValueError, match="every notebook"):
        gp.record_report({}, {**_report(), "chapters": {}})


def test_table_has_a_row_per_chapter_a_column_per_mode_and_says_what_is_missing():
    record = gp.record_report(gp.record_report({}, _report("smoke", (2.0, 3.0))), _report("quick"))
    table = gp.execution_table(record, {"book/01_cnn_basics": "1. CNN basics"})
    lines = table.splitlines()
    assert lines[0] == "| chapter | smoke (s) | quick (s) |"
    assert "| [1. CNN basics](01_cnn_basics.ipynb) | 2 | 18 |" in lines
    assert "| [book/02_lenet5_mnist](02_lenet5_mnist.ipynb) | 3 | 63 |" in lines
    assert "| **all chapters (min)** | **0.1** | **1.4** |" in lines
    assert "not recorded yet: full" in table and "quick: built 2026-11-23 on cpu with 2 cores" in table
    assert "No build has been recorded" in gp.execution_table({}, {})


def test_the_committed_record_covers_every_chapter_of_the_book():
    record = json.loads((REPO / "book" / gp.RECORD).read_text())
    notebooks = {f"book/{p.stem}" for p in (REPO / "book").glob("*.ipynb")}
    assert record["modes"], "record at least one build: python -m tools.execution_times"
    for mode, entry in record["modes"].items():
        assert set(entry["seconds"]) == notebooks, f"the {mode} record is stale: rebuild and record it again"
        assert all(s > 0 for s in entry["seconds"].values())


def test_record_script_round_trip(tmp_path):
    report, record = tmp_path / "execution.json", tmp_path / "times.json"
    report.write_text(json.dumps(_report()))
    done = subprocess.run([sys.executable, "-m", "tools.execution_times", str(report),
                           "--record", str(record)], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(record.read_text())["modes"]["quick"]["seconds"]["book/01_cnn_basics"] == 18.1
    missing = subprocess.run([sys.executable, "-m", "tools.execution_times",
                              str(tmp_path / "none.json"), "--record", str(record)], cwd=REPO, capture_output=True, text=True)
    assert missing.returncode == 2 and "build the book first" in missing.stderr
