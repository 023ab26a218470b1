"""The appendix's reader of benchmark result files: newest run per benchmark, unreadable files skipped."""

import json

from tools.benchmark_results import newest_rows, result_files


def test_newest_run_per_benchmark_and_bad_files_skipped(tmp_path):
    old = {"machine": {"date": "2026-11-01"}, "rows": [{"benchmark": "lenet", "what": "old", "ratio": 1.0}]}
    new = {"machine": {"date": "2026-12-01"}, "rows": [{"benchmark": "lenet", "what": "new", "ratio": 2.0},
                                                       {"benchmark": "dicom", "what": "read", "ratio": 1.2}]}
    (tmp_path / "a.json").write_text(json.dumps(old))
    (tmp_path / "b.json").write_text(json.dumps(new))
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "tiny.json").write_text(json.dumps({"tiny": True, "rows": [{"benchmark": "lenet", "what": "t"}]}))
    found = result_files(tmp_path)
    assert sorted(name for _, name in found) == ["a.json", "b.json"]
    table = newest_rows(found)
    assert sorted(table["what"]) == ["new", "read"]
    assert set(table["reproduce"]) == {"python -m benchmarks --only lenet --json benchmarks/results/b.json --merge",
                                       "python -m benchmarks --only dicom --json benchmarks/results/b.json --merge"}
    assert result_files(tmp_path / "missing") == []
