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

_SHELL_OR_MAGIC = re.compile(r"^\s*(?:[%!]|[\w.,][\w.,\s]*=\s*[%!])")  # linear: no two parts can take the same spaces
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
    """Read a notebook with nbformat and join its code cells into module source.

    Raises NotebookError, naming the file (and the cell), for anything that is not a notebook whose
    code cells are text: broken or deeply nested JSON, cells of the wrong shape, a lone surrogate.
    """
    import nbformat  # imported here: only notebook submissions pay for it

    try:
        notebook = nbformat.read(str(path), as_version=4)
    except Exception as error:  # noqa: BLE001 - nbformat raises many kinds for a broken file (RecursionError too)
        raise NotebookError(f"{path.name} is not a readable notebook ({type(error).__name__}: {str(error)[:200]})") from error
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise NotebookError(f"{path.name} is not a readable notebook (it has no list of cells)")
    lines: list[str] = []
    line_map: dict[int, tuple[int, int]] = {}
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        cell_lines = _cell_text(path, number, cell.get("source", "")).splitlines()
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


def _cell_text(path: Path, number: int, source) -> str:
    """A code cell's source as text (nbformat keeps a list of lines as written), which must be valid Unicode."""
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        source = "".join(source)
    if not isinstance(source, str):
        raise NotebookError(f"{path.name} is not a readable notebook (cell {number}'s source is not text)")
    try:
        source.encode("utf-8")
    except UnicodeEncodeError as error:
        line = source.count("\n", 0, error.start) + 1
        raise NotebookError(f"{path.name} is not read: cell {number}, line {line} holds {ascii(source[error.start])}, "
                            "a lone surrogate (half of a character, not valid text); remove it") from None
    return source
