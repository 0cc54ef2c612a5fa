"""Turn a Jupyter notebook's code cells into one Python module, without running anything.

The notebook is read as plain JSON (nbformat's validation costs seconds and hundreds of MB on a large
file, and nothing here needs it). IPython magics (``%...``, ``%%...``) and shell lines (``!...``,
``x = !ls``) are skipped, not executed, where they start a logical line, as IPython reads them; a
line inside brackets or a string, such as a continuation line ``    % len(u))``, is Python. The
bodies of ``%%time``-like cells and of ``%%writefile something.py`` are kept as code. A line map
remembers which cell and line each module line came from, so messages point at the notebook.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

# A magic or shell line, where it starts a logical line. Linear: no two parts can take the same spaces.
_SHELL_OR_MAGIC = re.compile(r"^\s*(?:[%!]|[\w.,][\w.,\s]*=\s*[%!])")
_PYTHON_CELL_MAGICS = {"%%time", "%%timeit", "%%capture"}
_LINE_END = re.compile(r"\r\n|\r|\n")  # Python's line ends (``str.splitlines`` has more)
_LEXEME = re.compile(r"#|'''|\"\"\"|['\"]|[(\[{]|[)\]}]")  # what changes a line's state: comments, strings, brackets
_STRING_END = {quote: re.compile(r"(?:\\.|[^\\])*?" + quote) for quote in ("'''", '"""', "'", '"')}


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


def convert(path: Path, max_code_bytes: int) -> ConvertedNotebook:
    """Read a notebook's JSON and join its code cells into module source.

    Raises NotebookError, naming the file (and the cell), for anything that is not a notebook whose
    code cells are text: broken or deeply nested JSON, cells of the wrong shape, a lone surrogate, and
    code cells holding more than ``max_code_bytes`` of UTF-8 text.
    """
    try:
        notebook = json.loads(path.read_bytes())
    except (ValueError, RecursionError) as error:  # JSONDecodeError, UnicodeDecodeError; nesting too deep
        raise NotebookError(f"{path.name} is not a readable notebook ({type(error).__name__}: {str(error)[:200]})") from error
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        old = isinstance(notebook, dict) and "worksheets" in notebook
        raise NotebookError(f"{path.name} is not a readable notebook (it has no list of cells"
                            + ("; it is nbformat 3: open it in a current Jupyter and save it)" if old else ")"))
    code, size = [], 0
    for number, cell in enumerate(cells, start=1):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            text = _cell_text(path, number, cell.get("source", ""))
            code.append((number, text))
            size += len(text.encode("utf-8"))
    if size > max_code_bytes:
        raise NotebookError(f"{path.name}: its code cells hold more than {max_code_bytes // 2**10:,} KiB of text; not read")
    lines: list[str] = []
    line_map: dict[int, tuple[int, int]] = {}
    for number, text in code:
        cell_lines = split_lines(text)
        if cell_lines and cell_lines[0].startswith("%%"):
            if not _runs_python(cell_lines[0]):
                continue
            cell_lines[0] = ""
        for index, line in enumerate(without_magics(cell_lines), start=1):
            lines.append(line)
            line_map[len(lines)] = (number, index)
        lines.append("")
    return ConvertedNotebook("\n".join(lines) + "\n", line_map)


def split_lines(text: str) -> list[str]:
    """The physical lines of Python source, split where Python splits them (a form feed or U+2028 in a
    string stays there)."""
    lines = _LINE_END.split(text)
    return lines[:-1] if lines[-1] == "" else lines


def without_magics(lines: list[str]) -> list[str]:
    """A cell's lines with each magic or shell line that starts a logical line made ``pass`` (the lines it
    continues onto with a backslash made blank), and every other line verbatim.

    Such a line is never Python, so a cell that parses as it is comes back unchanged.
    """
    if not any(_SHELL_OR_MAGIC.match(line) for line in lines):
        return lines
    kept, scan, continued = [], _Scan(), False
    for line in lines:
        if continued or (scan.at_line_start() and _SHELL_OR_MAGIC.match(line)):
            kept.append("" if continued else f"{line[: len(line) - len(line.lstrip())]}pass  # skipped: {line.strip()[:60]}")
            continued = line.endswith("\\")
        else:
            scan.read(line)
            kept.append(line)
    return kept


class _Scan:
    """Where a cell's Python stands after each line read: open brackets, an open string, a backslash
    that joins the next line. Unbalanced code is read on, as the tokenizer would recover."""

    def __init__(self):
        self.depth, self.string, self.joined = 0, "", False

    def at_line_start(self) -> bool:
        """Whether the next line starts a logical line."""
        return not (self.depth or self.string or self.joined)

    def read(self, line: str) -> None:
        """Move past one physical line."""
        at = 0
        while True:
            if self.string:
                end = _STRING_END[self.string].match(line, at)
                if end is None:
                    rest = line[at:]
                    if len(self.string) == 1 and (len(rest) - len(rest.rstrip("\\"))) % 2 == 0:
                        self.string = ""  # a one-line string left open ends with its line
                    self.joined = False
                    return
                at, self.string = end.end(), ""
                continue
            found = _LEXEME.search(line, at)
            if found is None or found.group() == "#":
                self.joined = found is None and line.endswith("\\")
                return
            at, lexeme = found.end(), found.group()
            if lexeme in ("(", "[", "{"):
                self.depth += 1
            elif lexeme in (")", "]", "}"):
                self.depth = max(0, self.depth - 1)
            else:
                self.string = lexeme


def _cell_text(path: Path, number: int, source) -> str:
    """A code cell's source as text (a notebook may keep a list of lines), which must be valid Unicode."""
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
