"""The practice pages, the generated pages and the theme fixes, checked without building the book
(about 20 s on a busy 2-core machine, most of it importing cxrlab for the API page): counts of
questions and answers, citations that resolve, folded answers."""

import re
import sys
from pathlib import Path

import pytest
import yaml

from tools.notebooks import admonitions, chapters, page_markdown

REPO = Path(__file__).resolve().parent.parent
BOOK = REPO / "book"
CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")
BIB_KEYS = set(re.findall(r"^@\w+\{([^,\s]+),", (BOOK / "references.bib").read_text(), re.M))


def _ext(name):
    """A Sphinx extension module of book/_ext (loaded by Sphinx from that folder, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, BOOK / "_ext" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _toc_sections() -> dict[str, list[str]]:
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    return {entry["file"]: [s["file"] for s in entry.get("sections", [])]
            for part in toc["parts"] for entry in part["chapters"]}


def _answers(path: Path):
    return admonitions(path.read_text(), "Answer")


def test_every_chapter_has_a_questionnaire_of_at_least_ten_folded_answers_and_further_research():
    sections = _toc_sections()
    counts = {}
    for chapter in chapters(BOOK):
        doc = f"book/{chapter.stem}"
        page = f"book/questions/ch{chapter.stem[:2]}"
        assert page in sections.get(doc, []), f"{doc} has no questionnaire sub-page in _toc.yml"
        path = REPO / f"{page}.md"
        answers = _answers(path)
        assert len(answers) >= 10, f"{page}: {len(answers)} questions"
        assert all(a.classes[:1] == ["dropdown"] and a.body.strip() for a in answers), page
        text = path.read_text()
        research = text.split("## Further research", 1)[1] if "## Further research" in text else ""
        assert len(re.findall(r"^- ", research, re.M)) >= 2, f"{page}: no Further research"
        counts[chapter.stem[:2]] = len(answers)
    assert len(counts) == len(chapters(BOOK)) >= 11
    print("questionnaire questions per chapter:", counts, "total", sum(counts.values()))


def test_interview_bank_has_sixty_folded_answers_each_with_a_citation():
    answers = _answers(BOOK / "interview_bank.md")
    assert len(answers) >= 60, len(answers)
    for answer in answers:
        assert answer.classes[:1] == ["dropdown"], answer.body[:60]
        assert CITE.search(answer.body), f"an answer without a source: {answer.body[:80]}"
    print("interview bank:", len(answers), "questions")


@pytest.mark.parametrize("page", ["interview_bank.md", "11_regulation_privacy.md", "instructor_guide.md",
                                  "instructor/prerequisites.md", "instructor/capstone.md",
                                  "instructor/data_licences.md", *[f"questions/ch{n:02d}.md" for n in range(1, 12)]])
def test_every_citation_of_the_new_pages_is_in_the_bibliography(page):
    keys = {key.strip() for match in CITE.findall((BOOK / page).read_text()) for key in match.split(",")}
    assert keys <= BIB_KEYS, sorted(keys - BIB_KEYS)


def test_chapter_11_follows_the_chapter_standard():
    title, (text,) = page_markdown(BOOK / "11_regulation_privacy.md")
    assert title.startswith("11. ") and "**Learning goals**" in text and "## Key takeaways" in text
    exercises, solutions = admonitions(text, "Exercise"), admonitions(text, "Solution")
    assert len(exercises) >= 3 and len(solutions) == len(exercises)
    assert all(s.classes == ["dropdown", "solution"] for s in solutions)
    assert len(admonitions(text, "Interview answer")) == 1


def test_generated_interview_page_folds_each_chapter_answer_under_its_question():
    generated = _ext("generated_pages")
    page = generated.interview_page(BOOK)
    folded = admonitions(page, "The chapter's answer (numbers from this build)")
    assert len(folded) == len(generated.chapter_interview_answers(BOOK)) >= 11
    assert all("dropdown" in a.classes for a in folded)
    assert page.count("\n**") >= len(folded) and "**Interview question**" not in page  # each under its question
    assert "**Walk me through LeNet-5.**" in page
    assert "{glue:text}`../book/02_lenet5_mnist.ipynb::lenet_parameters:," in page


def test_api_page_documents_every_public_module():
    generated = _ext("generated_pages")
    modules = generated.public_modules()
    assert "cxrlab.dicom.window" in modules and not any(".__" in m or "._" in m for m in modules)
    page = generated.api_page(modules)
    assert page.count(".. automodule::") == len(modules)
    assert page.count(".. rubric:: Contents") == page.count(".. autosummary::") < len(modules)  # none when empty
    lines = generated.plain_text_docstring(["Scores:", "- ``lac``: s = 1 - p_y", "  Smallest sets.", "|x| and | a |"])
    assert lines == ["Scores:", "", "- ``lac``: s = 1 - p_y", "  Smallest sets.", "\\|x\\| and \\| a \\|"]


def test_theme_fixes_keep_the_books_options_and_subset_the_icons():
    theme = _ext("theme_fixes")
    merged = theme.merged_theme_options({"launch_buttons": {"colab_url": "x"}})
    assert merged == {"launch_buttons": {"colab_url": "x"}, "navbar_persistent": []}
    assert theme.merged_theme_options({"navbar_persistent": ["x"]}) == {"navbar_persistent": ["x"]}
    assert theme.CONTEXT == {"default_mode": "auto"}
    bundle = ('var p={github:[496,512,[],"f09b","M1 2z"]};x;var p={moon:[384,512,[],"f186","M3 4z"]};'
              'y;var p={bars:[448,512,["navicon"],"f0c9","M5 6z"],moon:[384,512,[],"f186","M7 8z"]}')
    library = theme.icon_library(bundle)
    assert library["s:bars"] == library["s:navicon"] == (448, 512, "M5 6z")
    assert library["b:github"] == (496, 512, "M1 2z")
    assert library["r:moon"][2] == "M3 4z" and library["s:moon"][2] == "M7 8z"
    html = ('<i class="fa-solid fa-bars"></i><span class="fab fa-github fa-lg"></span>'
            '<i class="theme-switch fa-regular fa-moon"></i>')
    assert theme.icons_used(html) == {"s:bars", "b:github", "r:moon"}


def test_book_tooling_never_edits_the_import_path():
    for path in [*(REPO / "tools").glob("*.py"), *(BOOK / "_ext").glob("*.py"),
                 *(REPO / "tests").glob("test_book*.py"), REPO / "tests" / "test_editions.py",
                 REPO / "tests" / "test_execution_times.py", REPO / "tests" / "test_exercises.py"]:
        assert "sys.path." + "insert" not in path.read_text(), path
    assert sys.modules.get("make_edition") is None
