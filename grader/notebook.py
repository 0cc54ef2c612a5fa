"""Turn a Jupyter notebook's code cells into one Python module, without running anything.

IPython magics (``%...``, ``%%...``) and shell lines (``!...``, ``x = !ls``) are skipped, not
executed; the bodies of ``%%time``-like cells and of ``%%writefile something.py`` are kept as
code. A line map remembers which cell and line each module line came from, so messages point at
the notebook.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_SHELL_OR_MAGIC = re.compile(r"^\s*(?:[%!]|[\w.,\s]+=\s*[%!])")
_PYTHON_CELL_MAGICS = {"%%time", "%%timeit", "%%capture"}


@dataclass
class ConvertedNotebook:
    """The module text and, per module line, the notebook ``(cell number, line in cell)``."""

    source: str
    line_map: dict[int, tuple[int, int]] = field(default_factory=dict)

    def locate(self, line: int) -> str:
        """``cell N, line M`` for a module line."""
        cell, cell_line = self.line_map.get(line, (0, line))
        return f"cell {cell}, line {cell_line}" if cell else f"line {line}"


def _runs_python(cell_magic: str) -> bool:
    """Whether a cell magic's body is this notebook's Python: ``%%time``, or ``%%writefile x.py``."""
    words = cell_magic.split()
    return words[0] in _PYTHON_CELL_MAGICS or (words[0] == "%%writefile" and words[-1].endswith(".py"))


class NotebookError(ValueError):
    """The file is not a readable notebook."""


def convert(path: Path) -> ConvertedNotebook:
    """Read a notebook with nbformat and join its code cells into module source."""
    import nbformat  # imported here: only notebook submissions pay for it

    try:
        notebook = nbformat.read(str(path), as_version=4)
    except Exception as error:  # noqa: BLE001 - nbformat raises many kinds for a broken file
        raise NotebookError(f"{path.name} is not a readable notebook ({type(error).__name__}: {str(error)[:200]})") from error
    lines: list[str] = []
    line_map: dict[int, tuple[int, int]] = {}
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        cell_lines = str(cell.get("source", "")).splitlines()
        if cell_lines and cell_lines[0].startswith("%%"):
            if not _runs_python(cell_lines[0]):
                continue
            cell_lines[0] = ""
        for index, text in enumerate(cell_lines, start=1):
            if _SHELL_OR_MAGIC.match(text):
                indent = text[: len(text) - len(text.lstrip())]
                text = f"{indent}pass  # skipped: {text.strip()[:60]}"
            lines.append(text)
            line_map[len(lines)] = (number, index)
        lines.append("")
    return ConvertedNotebook("\n".join(lines) + "\n", line_map)
