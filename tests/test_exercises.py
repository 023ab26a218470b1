"""Exercise checks against the hidden solutions in the chapters, so the two cannot drift."""

import re
from pathlib import Path

import numpy as np
import pytest

import cxrlab.exercises as exercises
from tools.notebooks import solution_checks

BOOK = Path(__file__).resolve().parent.parent / "book"

# Every Python block inside a Solution admonition (any fence: backticks or colons) that calls
# check(...), found by the parser the student edition uses to remove the same solutions.
SNIPPETS = solution_checks(BOOK)


def test_every_stored_answer_has_a_solution_that_uses_it():
    used = set()
    for _, code in SNIPPETS:
        used.update(re.findall(r'check\("([^"]+)"', code))
    assert used == set(exercises.ANSWERS), "stale or missing entries in cxrlab.exercises.ANSWERS"


@pytest.mark.parametrize("chapter,code", SNIPPETS, ids=[f"{c}-{i}" for i, (c, _) in enumerate(SNIPPETS)])
def test_hidden_solution_passes_its_check(chapter, code, monkeypatch):
    results = []
    real_check = exercises.check

    def recording_check(exercise, answer, **kwargs):
        results.append((exercise, real_check(exercise, answer, quiet=True)))
        return results[-1][1]

    monkeypatch.setattr(exercises, "check", recording_check)
    exec(compile(code, f"<{chapter} solution>", "exec"), {})
    assert results and all(ok for _, ok in results), results


def test_wrong_answers_are_rejected_without_revealing(capsys):
    assert exercises.check("ch01.2", 1791) is False
    out = capsys.readouterr().out
    assert "not yet" in out and "1792" not in out
    assert exercises.check("ch01.1", [1, 8, 31, 31], quiet=True)  # list or tuple both fine
    assert exercises.check("ch01.2", 1792.0, quiet=True)
    with pytest.raises(KeyError, match="no check for exercise"):
        exercises.check("ch99.9", 1)
    with pytest.raises(TypeError, match="give an int"):
        exercises.check("ch01.2", {1: 2})


def test_floats_are_compared_to_six_decimals():
    assert exercises.normalise(14999.499999999998) == exercises.normalise(14999.5) == "14999.5"
    assert exercises.normalise(0.1 + 0.2) == "0.3"
    assert exercises.normalise(5.9999999) == exercises.normalise(6.0) == exercises.normalise(6) == "6"
    assert exercises.normalise(5.551115123125783e-17) == exercises.normalise(-1e-9) == "0"  # no "-0"
    assert exercises.normalise(-2.5) == "-2.5"
    assert exercises.normalise((0.5, 2.0)) == "(0.5, 2)"
    assert exercises.normalise(np.float32(0.1)) == exercises.normalise(np.float64(0.1)) == "0.1"
    assert exercises.normalise(14999.49) != exercises.normalise(14999.5)  # a real difference still counts
    assert exercises.digest("ch07.1b", 14999.5000000001) == exercises.ANSWERS["ch07.1b"]
    assert not exercises.check("ch07.1b", 14999.0, quiet=True)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite"):
            exercises.normalise(bad)
