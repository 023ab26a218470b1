"""Give every chapter the first code cell that makes it run on Colab, and the course kernel.

    python scripts/insert_colab_cell.py                 # every book/*.ipynb, in place
    python scripts/insert_colab_cell.py --check         # exit 1 if a notebook is not up to date
    python scripts/insert_colab_cell.py a.ipynb b.ipynb # only these

The cell is scripts/colab_cell.py with three values filled in: the repository URL and branch
from _config.yml (``repository: url/branch``; an empty or placeholder URL leaves it empty, and
the cell then says so instead of installing), and the data sets the chapter's
``cxrlab.setup(data=...)`` names. It is tagged ``colab-setup`` (found and updated in place on
the next run) and ``remove-cell`` (executed, but not shown in the built book), and it goes
before the chapter's first code cell. The notebook's kernelspec becomes the course kernel
``cxrlab`` (scripts/register_kernel.py). Running it twice changes nothing.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

import yaml

from tools.repository import is_repository_url

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "scripts" / "colab_cell.py"
TAG = "colab-setup"
KERNELSPEC = {"display_name": "CXR Lab (Python 3)", "language": "python", "name": "cxrlab"}
SETUP_DEFAULT_DATA = ("mnist", "cifar10")  # cxrlab.setup's default ``data``



def repository(config: Path) -> tuple[str, str]:
    """(repository URL or "" when unset or a placeholder, branch) from a Jupyter Book _config.yml."""
    settings = (yaml.safe_load(config.read_text()) or {}).get("repository") or {}
    url = str(settings.get("url") or "").strip()
    return (url if is_repository_url(url) else ""), str(settings.get("branch") or "main")


def chapter_data(nb: dict) -> tuple[str, ...]:
    """The data sets a chapter's ``cxrlab.setup(...)`` call names (its default when it names none);
    () for a notebook that never calls setup."""
    for cell in nb["cells"]:
        if cell["cell_type"] != "code" or TAG in cell.get("metadata", {}).get("tags", []):
            continue
        try:
            tree = ast.parse("".join(cell["source"]))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "setup":
                for keyword in node.keywords:
                    if keyword.arg == "data":
                        return tuple(ast.literal_eval(keyword.value))
                return SETUP_DEFAULT_DATA
    return ()


def cell_source(url: str, branch: str, data: tuple[str, ...]) -> str:
    """The template with the repository, branch and data filled in."""
    lines = TEMPLATE.read_text().splitlines()
    values = {"_REPOSITORY": repr(url), "_BRANCH": repr(branch), "_DATA": repr(tuple(data))}
    out = []
    for line in lines:
        name = line.split(" = ", 1)[0]
        if name in values and " = " in line:
            comment = line.split("  #", 1)[1] if "  #" in line else None
            line = f"{name} = {values.pop(name)}" + (f"  #{comment}" if comment else "")
        out.append(line)
    if values:
        raise SystemExit(f"{TEMPLATE} lacks the assignments {sorted(values)}")
    return "\n".join(out).rstrip("\n")


def updated(nb: dict, source: str) -> dict:
    """``nb`` with its colab-setup cell set to ``source`` and the course kernelspec."""
    cell = {"cell_type": "code", "execution_count": None, "id": TAG,
            "metadata": {"tags": [TAG, "remove-cell"]}, "outputs": [], "source": source.splitlines(keepends=True)}
    cells = [c for c in nb["cells"]]
    tagged = [i for i, c in enumerate(cells) if TAG in c.get("metadata", {}).get("tags", [])]
    if tagged:
        cells[tagged[0]] = cell
        for extra in reversed(tagged[1:]):
            del cells[extra]
    else:
        first_code = next((i for i, c in enumerate(cells) if c["cell_type"] == "code"), len(cells))
        cells.insert(first_code, cell)
    metadata = dict(nb.get("metadata", {}), kernelspec=dict(KERNELSPEC))
    return dict(nb, cells=cells, metadata=metadata)


def process(path: Path, url: str, branch: str, *, write: bool) -> bool:
    """Update one notebook (if ``write``); return whether it was (or would be) changed."""
    raw = path.read_text(encoding="utf-8")
    nb = json.loads(raw)
    new = updated(nb, cell_source(url, branch, chapter_data(nb)))
    text = json.dumps(new, indent=1, ensure_ascii=False) + "\n"  # nbformat's own layout
    if text == raw:
        return False
    if write:
        path.write_text(text, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every book/*.ipynb")
    parser.add_argument("--config", type=Path, default=REPO / "_config.yml")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook is out of date")
    args = parser.parse_args(argv)
    url, branch = repository(args.config)
    notebooks = args.notebooks or sorted((REPO / "book").glob("*.ipynb"))
    changed = [p for p in notebooks if process(p, url, branch, write=not args.check)]
    where = url or "no repository URL (set repository: url in _config.yml for Colab)"
    for path in changed:
        print(f"{'out of date' if args.check else 'updated'}: {path}")
    print(f"[colab] {len(notebooks) - len(changed)} of {len(notebooks)} notebooks already up to date; {where}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
