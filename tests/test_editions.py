"""Student and instructor editions are generated from the one source and hold what they should."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from make_edition import make_edition, transform  # noqa: E402

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
    from make_edition import ROOT, SOLUTION

    solution_lines, other_text = set(), []
    for path in (ROOT / "book").glob("*.ipynb"):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "markdown":
                text = "".join(cell["source"])
                spans = [m.span() for m in SOLUTION.finditer(text)]
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
