"""The Colab first cell: its decision logic, the cell run for real with the system calls mocked,
the insert script on a copy of the book (idempotent), and the launch-button rule. Seconds."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
launch_spec = importlib.util.spec_from_file_location("launch_buttons", REPO / "book" / "_ext" / "launch_buttons.py")
launch_buttons = importlib.util.module_from_spec(launch_spec)
launch_spec.loader.exec_module(launch_buttons)

spec = importlib.util.spec_from_file_location("insert_colab_cell", REPO / "scripts" / "insert_colab_cell.py")
insert = importlib.util.module_from_spec(spec)
spec.loader.exec_module(insert)
URL = "https://github.com/someone/cxr-lab"


def _cell_namespace(source: str) -> dict:
    """The cell's definitions, without running its last line (the call)."""
    namespace: dict = {}
    exec(compile(source.replace("\n_colab_setup()", "\n"), "<colab-setup>", "exec"), namespace)
    return namespace


@pytest.fixture
def plan():
    return _cell_namespace(insert.cell_source(URL, "main", ("chest",)))["_colab_setup_plan"]


def test_plan_is_empty_where_cxrlab_is_importable(plan):
    assert plan(True, URL, "main", ("chest",), "/content/cxr-lab", False, "python") == []
    assert plan(True, "", "main", ("chest",), "/content/cxr-lab", False, "python") == []  # even with no URL


def test_plan_outside_the_repository_clones_installs_pinned_and_fetches(plan):
    steps = plan(False, URL, "dev", ("chest", "mnist"), "/content/cxr-lab", False, "/usr/bin/python3")
    commands = [command for command, _, _ in steps]
    assert commands[0] == ["git", "clone", "--depth", "1", "--branch", "dev", URL, "/content/cxr-lab"]
    assert commands[1][:2] == ["/usr/bin/python3", "/content/cxr-lab/scripts/check_lock.py"]
    assert "torch" in commands[1] and "nvidia-*" in commands[1]  # the host's own CUDA torch is kept
    install, fallback, must = steps[2]
    assert install[:3] == ["/usr/bin/python3", "-m", "pip"] and install[-2:] == ["-c", "/content/cxr-lab/.colab-constraints.txt"]
    assert fallback == install[:-2] and must  # the ranges when the tested versions do not install
    assert commands[3] == ["/usr/bin/python3", "/content/cxr-lab/data_scripts/fetch.py", "chest", "mnist"]
    assert [m for _, _, m in steps] == [True, False, True, False]  # a failed fetch leaves the stand-ins


def test_plan_reuses_a_clone_and_skips_fetch_without_data(plan):
    steps = plan(False, URL, "main", (), "/content/cxr-lab", True, "python")
    assert [c[0][1] if c[0][0] == "python" else c[0][0] for c in steps] == ["/content/cxr-lab/scripts/check_lock.py", "-m"]


def test_plan_without_repository_says_what_to_do(plan):
    with pytest.raises(RuntimeError, match="names no course repository"):
        plan(False, "", "main", ("chest",), "/content/cxr-lab", False, "python")


def test_the_cell_does_nothing_here(monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    cwd, path = Path.cwd(), list(sys.path)
    exec(insert.cell_source(URL, "main", ("chest",)), {})
    assert calls == [] and Path.cwd() == cwd and sys.path == path


def test_the_cell_on_a_host_without_cxrlab(monkeypatch, tmp_path):
    calls, moved = [], []
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "cxrlab" else real_find_spec(name, *a))
    monkeypatch.setattr(subprocess, "run", lambda command, **k: calls.append(command) or types.SimpleNamespace(returncode=0))
    monkeypatch.setattr("os.chdir", moved.append)
    monkeypatch.setattr(sys, "path", list(sys.path))
    import site

    read = []
    monkeypatch.setattr(site, "addsitedir", read.append)
    exec(insert.cell_source(URL, "main", ("mnist",)), {})
    assert [c[0] for c in calls] == ["git", sys.executable, sys.executable, sys.executable]
    assert calls[-1][-1] == "mnist" and moved == ["/content/cxr-lab/book"]
    # the editable install's .pth is read into the running kernel (no path hack)
    import sysconfig

    assert sysconfig.get_paths()["purelib"] in read


def test_insert_script_on_a_copy_of_the_book_is_idempotent(tmp_path):
    book = tmp_path / "book"
    shutil.copytree(REPO / "book", book, ignore=shutil.ignore_patterns("_build", "images"))
    config = tmp_path / "_config.yml"
    config.write_text(yaml.safe_dump({"repository": {"url": URL, "branch": "main"}}))
    notebooks = sorted(book.glob("*.ipynb"))
    before = {p.name: json.loads(p.read_text()) for p in notebooks}
    args = ["--config", str(config), *map(str, notebooks)]
    assert insert.main(["--check", *args]) == 1 or all(insert.TAG in json.dumps(nb) for nb in before.values())
    assert insert.main(args) == 0
    first = {p.name: p.read_text() for p in notebooks}
    assert insert.main(["--check", *args]) == 0 and insert.main(args) == 0
    assert {p.name: p.read_text() for p in notebooks} == first  # a second run changes nothing
    for path in notebooks:
        nb = json.loads(first[path.name])
        tagged = [i for i, c in enumerate(nb["cells"]) if insert.TAG in c["metadata"].get("tags", [])]
        first_code = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code")
        assert tagged == [first_code], path.name
        assert nb["cells"][first_code]["metadata"]["tags"] == ["colab-setup", "remove-cell"]
        assert nb["metadata"]["kernelspec"] == {"display_name": "CXR Lab (Python 3)", "language": "python", "name": "cxrlab"}
        assert URL in "".join(nb["cells"][first_code]["source"])
        old = before[path.name]["cells"]
        assert [c for c in nb["cells"] if insert.TAG not in c["metadata"].get("tags", [])] == \
            [c for c in old if insert.TAG not in c.get("metadata", {}).get("tags", [])]  # nothing else changed
    chapter8 = json.loads(first["08_explainability.ipynb"])
    assert "_DATA = ('chest',)" in "".join(chapter8["cells"][next(i for i, c in enumerate(chapter8["cells"])
                                                                   if c["cell_type"] == "code")]["source"])


def test_the_book_notebooks_carry_the_current_cell_once_inserted():
    notebooks = sorted((REPO / "book").glob("*.ipynb"))
    if not any(insert.TAG in p.read_text() for p in notebooks):
        pytest.skip("the colab-setup cells are not inserted yet: python scripts/insert_colab_cell.py")
    assert insert.main(["--check"]) == 0, "a notebook's colab-setup cell is stale: python scripts/insert_colab_cell.py"


@pytest.mark.parametrize("url, real", [("", False), (None, False), ("https://github.com/OWNER/REPO", False),
                                       ("https://github.com/someone/cxr-lab", True),
                                       ("https://github.com/your-fork/cxr-lab", False),
                                       ("http://github.com/a/b", False), ("github.com/a/b", False),
                                       ("https://gitlab.example.com/a/b", False), ("https://gitlab.com/group/course.git", True)])
def test_repository_url_rule(url, real):
    assert launch_buttons.is_repository_url(url) is real


def test_launch_buttons_hidden_without_a_real_repository():
    buttons = {"colab_url": "https://colab.research.google.com", "notebook_interface": "jupyterlab"}
    for url, shown in (("", False), (URL, True)):
        config = types.SimpleNamespace(html_theme_options={"launch_buttons": dict(buttons), "repository_url": url})
        launch_buttons.hide_launch_buttons_without_repository(None, config)
        assert ("launch_buttons" in config.html_theme_options) is shown
    assert insert.repository(REPO / "_config.yml")[0] == "" or launch_buttons.is_repository_url(
        insert.repository(REPO / "_config.yml")[0])
