"""The benchmark runner in a tiny configuration, so it cannot rot."""

import json

import pytest

from benchmarks import book
from benchmarks.__main__ import main
from benchmarks.common import Row, format_table


def test_ratio_direction():
    assert Row("x", "time", "b", 10.0, 2.0, "s", higher_is_better=False).ratio == 5.0
    assert Row("x", "throughput", "b", 10.0, 20.0, "img/s", higher_is_better=True).ratio == 2.0
    assert "5.00x" in format_table([Row("x", "time", "b", 10.0, 2.0, "s", higher_is_better=False)])


def test_lenet_benchmark_tiny_writes_json(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["--only", "lenet", "--tiny", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "training time to the seed's test accuracy" in printed
    result = json.loads(out.read_text())
    assert result["tiny"] is True and result["machine"]["cores"] >= 1
    rows = {r["what"]: r for r in result["rows"]}
    assert set(rows) == {"training time to the seed's test accuracy", "final test accuracy"}
    for row in rows.values():
        assert row["baseline"] > 0 and row["cxrlab"] > 0


def test_book_benchmark_reads_the_execution_report(tmp_path):
    report = {"created": "2026-11-23T00:00:00+00:00", "mode": "quick", "device": "cpu",
              "chapters": {"book/02_lenet5_mnist": {"seconds": 90.0, "succeeded": True}}}
    path = tmp_path / "execution.json"
    path.write_text(json.dumps(report))
    (row,) = book.run(path=path)
    assert row.baseline == 180.0 and row.cxrlab == 90.0 and row.ratio == 2.0
    with pytest.raises(FileNotFoundError, match="build the book first"):
        book.run(path=tmp_path / "missing.json")
