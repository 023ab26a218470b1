"""The book's execution cache: its key follows the package source, the mode and the data, and
the build re-reads every page when the key changes (scripts/book_cache.py). About 1 s."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("book_cache", REPO / "scripts" / "book_cache.py")
book_cache = importlib.util.module_from_spec(spec)
sys.modules["book_cache"] = book_cache
spec.loader.exec_module(book_cache)


@pytest.fixture
def package(tmp_path):
    root = tmp_path / "cxrlab"
    (root / "nets").mkdir(parents=True)
    (root / "__init__.py").write_text("VERSION = 1\n")
    (root / "nets" / "lenet.py").write_text("class LeNet5: pass\n")
    return root


def key_of(package, **changes):
    inputs = dict(package_dir=package, mode="quick", data_listing="mnist real", environ={},
                  result_files=[], packages={"torch": "2.14.1"}, python="3.11.7")
    inputs.update(changes)
    return book_cache.cache_key(book_cache.key_inputs(**inputs))


def test_key_is_stable_and_follows_the_package_source(package):
    before = key_of(package)
    assert key_of(package) == before
    (package / "nets" / "lenet.py").write_text("class LeNet5:\n    pass  # edited\n")
    edited = key_of(package)
    assert edited != before
    (package / "nets" / "new_module.py").write_text("")
    added = key_of(package)
    assert added != edited
    (package / "notes.txt").write_text("not source")  # only Python source counts
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "stale.py").write_text("compiled leftovers")
    assert key_of(package) == added


def test_key_follows_mode_data_settings_results_and_packages(package, tmp_path):
    base = key_of(package)
    results = tmp_path / "cpu.json"
    results.write_text(json.dumps({"rows": []}))
    assert key_of(package, mode="smoke") != base
    assert key_of(package, data_listing="mnist stand-in") != base
    assert key_of(package, environ={"CXRLAB_DATA": "/elsewhere"}) != base
    assert key_of(package, result_files=[results]) != base
    assert key_of(package, packages={"torch": "2.15.0"}) != base
    # the progress bar and the raw mode variable (the resolved mode counts) do not
    assert key_of(package, environ={"CXRLAB_PROGRESS": "0", "CXRLAB_MODE": "quick"}) == base


def test_empty_package_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no Python source"):
        book_cache.package_source_digest(tmp_path)


def test_select_rereads_on_a_new_key_and_keeps_earlier_caches(tmp_path):
    build = tmp_path / "_build"
    assert book_cache.select(build, "a" * 16) is True          # first build: nothing to compare
    link = build / book_cache.LINK
    assert link.is_symlink() and link.resolve() == (build / book_cache.CACHES / ("a" * 16)).resolve()
    (link / "marker").write_text("executed notebooks of key a")
    assert book_cache.select(build, "a" * 16) is False         # same key: incremental
    assert book_cache.select(build, "b" * 16) is True          # package changed: re-read all
    assert not (link / "marker").exists()                      # ... into an empty cache
    assert book_cache.select(build, "a" * 16) is True          # back to key a: its cache is kept
    assert (link / "marker").is_file()
    assert book_cache.select(build, "a" * 16, fresh=True) is True  # --fresh empties it
    assert not (link / "marker").exists()


def test_select_keeps_only_the_most_recent_caches(tmp_path):
    build = tmp_path / "_build"
    for index, key in enumerate("abcdef"):
        book_cache.select(build, key * 16, keep=3)
    kept = sorted(p.name[0] for p in (build / book_cache.CACHES).iterdir())
    assert kept == ["d", "e", "f"]


def test_select_replaces_a_cache_of_unknown_key(tmp_path):
    build = tmp_path / "_build"
    (build / book_cache.LINK).mkdir(parents=True)   # written by a plain `jupyter-book build`
    (build / book_cache.LINK / "global.db").write_text("")
    assert book_cache.select(build, "c" * 16) is True
    assert (build / book_cache.LINK).is_symlink()


def test_config_caches_and_the_build_script_uses_the_key():
    config = (REPO / "_config.yml").read_text()
    assert "execute_notebooks: cache" in config
    script = (REPO / "scripts" / "build-book.sh").read_text()
    assert "book_cache.py select _build" in script and '"--all"' in script and "--fresh" in script
    assert "benchmarks.book" in script  # the build summary, with its budget flags
