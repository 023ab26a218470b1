"""cxrlab.book: show() renders package source with its file and lines; glue_all() glues a mapping."""

import inspect

import pytest

from cxrlab import book
from cxrlab.nets import LeNet5
from cxrlab.nets.resnet_cifar import Block


def test_show_gives_the_source_with_file_and_lines():
    source = book.show(LeNet5)
    lines, first = inspect.getsourcelines(LeNet5)
    assert source.code.startswith("class LeNet5(nn.Module):") and "def forward" in source.code
    assert source.path == "cxrlab/nets/lenet.py"
    assert (source.first_line, source.last_line) == (first, first + len(lines) - 1)
    markdown = source._repr_markdown_()
    assert "```python\nclass LeNet5" in markdown and "cxrlab/nets/lenet.py, lines" in markdown


def test_show_a_method_dedented_and_a_line_range():
    forward = book.show(Block.forward)
    assert forward.code.startswith("def forward(self, x")  # dedented out of the class
    part = book.show(Block.forward, start="out = self.bn2", end="return")
    assert part.code.splitlines()[0].startswith("out = self.bn2") and part.code.splitlines()[-1].startswith("return")
    assert part.last_line - part.first_line + 1 == len(part.code.splitlines())
    file_lines = open(inspect.getsourcefile(Block)).read().splitlines()
    assert file_lines[part.first_line - 1].strip() == part.code.splitlines()[0].strip()
    with pytest.raises(ValueError, match="start='nowhere'"):
        book.show(Block.forward, start="nowhere")
    with pytest.raises(TypeError, match="no source"):
        book.show(len)


def test_glue_all_prefixes_every_key(monkeypatch):
    import myst_nb

    glued = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: glued.__setitem__(name, (value, display)))
    values = {"accuracy": 0.9, "n_train": 100}
    assert book.glue_all("ch01", values) is None  # a cell ending in it shows nothing more
    assert glued == {"ch01_accuracy": (0.9, False), "ch01_n_train": (100, False)}
    glued.clear()
    with pytest.raises(ValueError, match="prefix"):
        book.glue_all("", values)
    with pytest.raises(ValueError, match="glue keys"):
        book.glue_all("ch01", {"fine": 1, "bad key": 2})
    assert glued == {}  # checked before anything is glued


def test_show_can_leave_docstrings_out():
    full = book.show(Block)
    code_only = book.show(Block, docstrings=False)
    assert '"""' in full.code and '"""' not in code_only.code
    assert "def shortcut(self, x" in code_only.code and "out = out + self.shortcut(x)" in code_only.code
    assert (code_only.first_line, code_only.last_line) == (full.first_line, full.last_line)
    assert "docstrings left out" in code_only.caption
    compile(code_only.code, "<shown>", "exec")  # still valid Python
