"""Student and instructor editions are generated from the one source and hold what they should."""

import json
import subprocess
import sys

import pytest

from tools.edition import ROOT, make_edition, solutions, transform

SAMPLE = """Intro

````{admonition} Exercise 9.1
:class: exercise
Do it.
````

````{admonition} Solution
:class: dropdown solution
The secret answer is 42.

```python
check("ch09.1", 42)
```
````

After."""


def test_transform_removes_or_opens_solutions():
    student = transform(SAMPLE, "student")
    assert "secret answer" not in student and "Solution" not in student
    assert "Exercise 9.1" in student and student.endswith("After.")
    instructor = transform(SAMPLE, "instructor")
    assert "secret answer" in instructor and ":class: solution" in instructor and "dropdown" not in instructor


def test_student_edition_of_the_book_has_no_solution_text(tmp_path):
    out = tmp_path / "student"
    removed = make_edition("student", out)
    assert removed >= 6  # chapters 1 and 2 alone have 8
    for path in (out / "book").glob("*.ipynb"):
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            assert "{admonition} Solution" not in source, path.name
            assert "dropdown solution" not in source, path.name
    assert "[student edition]" in (out / "_config.yml").read_text()


def test_no_line_of_any_solution_survives_in_the_student_edition(tmp_path):
    solution_lines, other_text = set(), []
    for path in (ROOT / "book").glob("*.ipynb"):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "markdown":
                text = "".join(cell["source"])
                spans = [(m.start, m.end) for m in solutions(text)]
                for start, end in spans:
                    solution_lines.update(line.strip() for line in text[start:end].splitlines()
                                          if len(line.strip()) > 40)
                outside = "".join(text[a:b] for a, b in zip([0] + [e for _, e in spans], [s for s, _ in spans] + [len(text)]))
                other_text.append(outside)
    other = "\n".join(other_text)
    solution_lines = {line for line in solution_lines if line not in other}  # quoted in the exercise: no leak
    out = tmp_path / "student"
    make_edition("student", out)
    student_text = "\n".join(
        "".join(cell["source"]) for path in (out / "book").glob("*.ipynb")
        for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "markdown")
    leaked = [line for line in solution_lines if line in student_text]
    assert solution_lines and not leaked, leaked[:3]


def test_edition_from_an_executed_build_keeps_its_outputs_and_does_not_execute(tmp_path):
    executed = tmp_path / "jupyter_execute" / "book"
    executed.mkdir(parents=True)
    for path in (ROOT / "book").glob("*.ipynb"):
        notebook = json.loads(path.read_text())
        first_code = next(c for c in notebook["cells"] if c["cell_type"] == "code")
        first_code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["computed in the build\n"]}]
        (executed / path.name).write_text(json.dumps(notebook))
    out = tmp_path / "student"
    assert make_edition("student", out, executed.parent) >= 6
    config = (out / "_config.yml").read_text()
    assert 'execute_notebooks: "off"' in config and "execute_notebooks: force" not in config
    for path in (out / "book").glob("*.ipynb"):
        cells = json.loads(path.read_text())["cells"]
        assert any(o.get("text") == ["computed in the build\n"] for c in cells for o in c.get("outputs", []))
        assert not any("{admonition} Solution" in "".join(c["source"]) for c in cells), path.name
    (executed / "08_explainability.ipynb").unlink()
    with pytest.raises(FileNotFoundError, match="08_explainability.ipynb"):
        make_edition("student", tmp_path / "again", executed.parent)


COLON_FENCED = """Intro

:::{admonition} Exercise 9.9
:class: exercise
Compute it, then `check("ch09.9", n)`.
:::

::::{admonition} Solution
:class: dropdown solution
The colon-fenced secret.

```python
from cxrlab.exercises import check
check("ch09.9", 7)
```

A line with three colons inside a code block cannot close it:

```text
:::
```
::::

After."""


def test_a_colon_fenced_solution_is_removed_whole_and_its_check_is_found():
    """The case the three old regexes disagreed on: one parser now serves edition and tests."""
    from tools.notebooks import code_blocks

    found = solutions(COLON_FENCED)
    assert len(found) == 1 and found[0].fence == "::::" and found[0].classes == ["dropdown", "solution"]
    assert [c for c in code_blocks(found[0].body) if "check(" in c] == ['from cxrlab.exercises import check\ncheck("ch09.9", 7)']
    student = transform(COLON_FENCED, "student")
    assert "secret" not in student and "check(\"ch09.9\", 7)" not in student and ":::\n```" not in student
    assert "Exercise 9.9" in student and student.endswith("After.")
    instructor = transform(COLON_FENCED, "instructor")
    assert ":class: solution" in instructor and "The colon-fenced secret." in instructor


def test_a_shorter_fence_inside_does_not_end_a_solution():
    text = "````{admonition} Solution\n:class: dropdown solution\n```python\nx = 1\n```\nstill hidden\n````\nvisible"
    assert transform(text, "student").strip() == "visible"
    assert "still hidden" in solutions(text)[0].body


def test_version_is_stamped_in_the_title_and_edition_record(tmp_path):
    out = tmp_path / "student"
    make_edition("student", out, version="2027.1")
    assert "[student edition 2027.1]" in (out / "_config.yml").read_text()
    record = json.loads((out / "EDITION.json").read_text())
    assert record["version"] == "2027.1" and record["edition"] == "student" and record["solutions"] >= 6
    assert record["commit"] is None or len(record["commit"]) == 40


def test_the_entry_point_runs_as_a_module(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tools.edition", "instructor", str(tmp_path / "i"), "--version", "t1"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "solutions opened" in done.stdout
    with pytest.raises(ValueError, match="edition must be"):
        make_edition("teacher", tmp_path / "t")
