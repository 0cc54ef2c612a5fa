"""Generate the students' stubs from the reference solutions.

In a solution, the code students must write sits between ``### BEGIN SOLUTION`` and
``### END SOLUTION``; a ``### HINT: ...`` line inside gives the one-line hint. Each marked
region becomes ``raise NotImplementedError("<hint>")`` at the region's indentation; everything
else (docstrings, imports, helpers, printing, ``main()``) is kept verbatim.
"""

from __future__ import annotations

import re
from pathlib import Path

BEGIN, END, HINT = "### BEGIN SOLUTION", "### END SOLUTION", "### HINT:"
DEFAULT_HINT = "not implemented yet: see the docstring"


class MarkerError(ValueError):
    """Unbalanced or nested solution markers."""


def stub_source(source: str, name: str = "<solution>") -> str:
    """The student version of one solution file."""
    output: list[str] = []
    region: list[str] | None = None
    indent = ""
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        stripped = line.strip()
        if stripped == BEGIN:
            if region is not None:
                raise MarkerError(f"{name}:{number}: nested {BEGIN}")
            region, indent = [], line[: len(line) - len(line.lstrip())]
        elif stripped == END:
            if region is None:
                raise MarkerError(f"{name}:{number}: {END} without {BEGIN}")
            output.append(f"{indent}raise NotImplementedError({_hint(region)!r})\n")
            region = None
        elif region is not None:
            region.append(stripped)
        else:
            output.append(line)
    if region is not None:
        raise MarkerError(f"{name}: {BEGIN} is never closed")
    return "".join(output)


def _hint(region: list[str]) -> str:
    hints = [line[len(HINT):].strip() for line in region if line.startswith(HINT)]
    return hints[0] if hints else DEFAULT_HINT


def solution_regions(source: str) -> list[str]:
    """The text of every marked region (what must never reach students)."""
    return [match.strip() for match in re.findall(rf"{re.escape(BEGIN)}\n(.*?){re.escape(END)}", source, re.S)]


def generate_exercises(solutions: Path, exercises: Path) -> list[Path]:
    """Write the stub of every solution ``.py`` into ``exercises``; return the files written."""
    exercises.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(solutions.glob("*.py")):
        target = exercises / path.name
        target.write_text(stub_source(path.read_text(encoding="utf-8"), str(path)), encoding="utf-8")
        written.append(target)
    return written
