"""requirements.lock pins every requirement of requirements.txt within its range (run after
``bash scripts/update-lock.sh --keep``), and a stale lock degrades to a warning, never a failure."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("check_lock", REPO / "scripts" / "check_lock.py")
check_lock = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_lock)


def test_lock_covers_requirements_txt_and_pyproject():
    pins = check_lock.read_lock(REPO / "requirements.lock")
    requirements = check_lock.read_requirements(REPO / "requirements.txt")
    missing, conflicting = check_lock.compare(requirements, pins)
    assert not missing, f"requirements.lock lacks {missing}: run bash scripts/update-lock.sh --keep"
    assert not conflicting, f"requirements.lock contradicts {conflicting}: run bash scripts/update-lock.sh --keep"
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    missing, conflicting = check_lock.compare([check_lock.Requirement(r) for r in project["dependencies"]], pins)
    assert not missing and not conflicting, (missing, conflicting)
    assert pins["torch"] and pins["torchvision"]


def test_lock_pins_exact_versions_only():
    lines = [line for line in (REPO / "requirements.lock").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    assert lines and all("==" in line for line in lines), [line for line in lines if "==" not in line][:5]


def test_stale_lock_is_reported_and_its_bad_pins_dropped(tmp_path):
    (tmp_path / "requirements.txt").write_text("numpy>=2.9\nscipy>=1.0\nbrand-new-package>=1\n")
    (tmp_path / "requirements.lock").write_text("numpy==2.4.6\n    # via scipy\nscipy==1.16.0\n")
    out = tmp_path / "pins.txt"
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "check_lock.py"),
                             "--requirements", str(tmp_path / "requirements.txt"),
                             "--lock", str(tmp_path / "requirements.lock"), "--constraints", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "lacks 1 requirement(s)" in result.stdout and "brand-new-package>=1" in result.stdout
    assert "contradicts 1" in result.stdout and "numpy>=2.9 (locked 2.4.6)" in result.stdout
    assert out.read_text() == "scipy==1.16.0\n"  # numpy's stale pin is left out, so pip cannot fail on it


@pytest.mark.parametrize("line, name", [("Jinja2==3.1.6", "jinja2"), ("typing_extensions==4.16.0", "typing-extensions")])
def test_lock_names_are_canonical(tmp_path, line, name):
    (tmp_path / "lock").write_text(line + "\n")
    assert name in check_lock.read_lock(tmp_path / "lock")
