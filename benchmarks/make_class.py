"""Generate a class of submissions: correct ones and each classic mistake, as .py folders and notebooks.

Run: .venv/bin/python -m benchmarks.make_class OUT --students 200 [--notebooks]
Student i gets the reference solutions with the i-th variant (cycling through the correct and
wrong variants of examples/variants.py); every third one is a notebook when --notebooks is given.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import nbformat

from examples.variants import CORRECT_VARIANTS, WRONG_VARIANTS, build_submission

ROOT = Path(__file__).resolve().parent.parent
MODULES = ("neuron", "backprop", "autograd_loop", "autograd_basics")


def variant_changes() -> list[tuple[str, dict]]:
    """(label, changes) for the unchanged solutions, every correct variant and every wrong one."""
    return ([("reference", {})] + [(f"right: {name}", changes) for name, changes in sorted(CORRECT_VARIANTS.items())]
            + [(f"wrong: {name}", spec[0]) for name, spec in sorted(WRONG_VARIANTS.items())])


def as_notebook(folder: Path, target: Path) -> None:
    """Write the folder's four modules as the code cells of one notebook (cross-module imports dropped)."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_markdown_cell("# Learning & Autograd: my solutions"))
    for module in MODULES:
        lines = (folder / f"{module}.py").read_text().splitlines()
        code = "\n".join(line for line in lines if not line.startswith(("from neuron import", "from backprop import")))
        notebook.cells.append(nbformat.v4.new_code_cell(code))
    nbformat.write(notebook, str(target))


def make_class(out: Path, students: int, notebooks: bool, solutions: Path = ROOT / "solutions") -> list[str]:
    """Write ``students`` submissions into ``out`` (``student0001/`` or ``student0001.ipynb``); return their labels."""
    out.mkdir(parents=True, exist_ok=True)
    variants = variant_changes()
    labels = []
    for index in range(students):
        label, changes = variants[index % len(variants)]
        name = f"student{index + 1:04d}"
        folder = build_submission(solutions, out / name, changes)
        if notebooks and index % 3 == 2:
            as_notebook(folder, out / f"{name}.ipynb")
            shutil.rmtree(folder)
        labels.append(label)
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--notebooks", action="store_true")
    options = parser.parse_args()
    make_class(options.out, options.students, options.notebooks)


if __name__ == "__main__":
    main()
