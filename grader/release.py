"""Generate the students' stubs from the reference solutions.

In a solution, the code students must write sits between ``### BEGIN SOLUTION`` and
``### END SOLUTION``; a ``### HINT: ...`` line inside gives the one-line hint. Each marked
region becomes ``raise NotImplementedError("<hint>")`` at the region's indentation; everything
else (docstrings, imports, helpers, printing, ``main()``) is kept verbatim. A course's ``exercises/``
is regenerated without overwriting a stub edited since (``grader.generated``).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

from grader import generated
from grader.generated import EditedFiles

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


def stubs(solutions: Path) -> dict[str, str]:
    """The stub of every solution ``.py``, by file name (every file's markers checked before anything is written)."""
    return {path.name: stub_source(path.read_text(encoding="utf-8"), str(path)) for path in sorted(solutions.glob("*.py"))}


def write_stubs(planned: dict[str, str], exercises: Path) -> list[Path]:
    """Write each stub (file name to text) into ``exercises``; return the files written."""
    exercises.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in planned.items():
        target = exercises / name
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


def generate_exercises(solutions: Path, exercises: Path) -> list[Path]:
    """Write the stub of every solution ``.py`` into ``exercises`` (a bundle's: nothing recorded); return the files written."""
    return write_stubs(stubs(solutions), exercises)


def release_exercises(solutions: Path, exercises: Path, force: bool = False) -> list[Path]:
    """Regenerate a course's ``exercises/`` from its solutions and record what was written (``generated``).
    A stub changed since release last wrote it stops this before anything is written
    (``EditedFiles``), unless ``force``. Return the stubs written."""
    planned = stubs(solutions)
    changed = [] if force else generated.edited(exercises, planned)
    if changed:
        raise EditedFiles(exercises, changed)
    written = write_stubs(planned, exercises)
    generated.record(exercises, written)
    return written


def stub_notebook(path: Path, target: Path) -> None:
    """The student version of a solution notebook: marked regions stubbed, every output cleared."""
    import nbformat  # only notebook releases pay for it

    notebook = nbformat.read(str(path), as_version=4)
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.cell_type == "code":
            cell.source = stub_source(cell.source, f"{path.name} cell {number}")
            cell.outputs, cell.execution_count = [], None
    nbformat.write(notebook, str(target))


def secrets(solutions: Path) -> tuple[set[str], list[str]]:
    """What must never reach students: each marked region's text, and its lines that appear nowhere
    in the public part of the solutions (stubs, docstrings, hints, ``main()``)."""
    texts = []
    for path in list(solutions.glob("*.py")) + list(solutions.glob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".ipynb":
            text = "\n".join("".join(cell["source"]) for cell in json.loads(text)["cells"])
        texts.append((path, text))
    public = "\n".join(stub_source(text, str(path)) for path, text in texts)
    lines, regions = set(), []
    for _, text in texts:
        for region in solution_regions(text):
            code = "\n".join(line for line in region.splitlines() if not line.strip().startswith(HINT))
            regions.append(code)
            lines |= {line.strip() for line in code.splitlines() if len(line.strip()) > 8 and line.strip() not in public}
    return lines, regions


def leaks(bundle: Path, solutions: Path) -> list[str]:
    """Every secret line or region of the solutions found in any file of the bundle (must be empty)."""
    lines, regions = secrets(solutions)
    found = []
    for file in (p for p in bundle.rglob("*") if p.is_file()):
        text = file.read_bytes().decode("utf-8", errors="replace")
        found += [f"{file.relative_to(bundle)}: {line}" for line in sorted(lines) if line in text]
        found += [f"{file.relative_to(bundle)}: a whole solution region" for region in regions if region and region in text]
    return found


def write_bundle(assignment, out: Path, seeds: list[int]) -> Path:
    """The student release in ``out``: stubs, the declarations, the answer key; no solution code. It is written
    beside ``out`` first, and moved in only once no line of the solutions is found in it: a refused release
    leaves nothing behind."""
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".autograde-release-", dir=out.parent))
    try:
        _write_bundle(assignment, staging, seeds)
        found = leaks(staging, assignment.solutions)
        if found:
            raise MarkerError("the release would contain solution code (nothing was written):\n" + "\n".join(found[:10]))
        for item in sorted(staging.iterdir()):
            item.rename(out / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _write_bundle(assignment, out: Path, seeds: list[int]) -> None:
    """Write the bundle's files into ``out``."""
    from grader import answer_key, starter_notebook, student_readme

    generate_exercises(assignment.solutions, out / "exercises")
    starter_notebook.write(assignment, out / starter_notebook.NAME)  # the stubs as cells, each function checked in place
    for notebook in sorted(assignment.solutions.glob("*.ipynb")):
        stub_notebook(notebook, out / "exercises" / notebook.name)
    declarations = (assignment.declarations or assignment.root / "assignment.toml").read_text(encoding="utf-8")
    declarations = re.sub(r"(?m)^(solutions|mistakes|answer_key|inputs|targets)\s*=.*\r?\n", "", declarations)
    settings = 'answer_key = "answer-key.json"\n'
    if assignment.inputs is not None:  # the input builders go with the students' check; the targets do not
        shutil.copyfile(assignment.inputs, out / "inputs.py")
        settings += 'inputs = "inputs.py"\n'
    header = re.compile(r"(?m)^\[assignment\][ \t]*(#.*)?\r?\n")
    if header.search(declarations):
        declarations = header.sub(lambda match: match.group(0) + settings, declarations, count=1)
    else:
        declarations = "[assignment]\n" + settings + "\n" + declarations
    (out / "assignment.toml").write_text(declarations, encoding="utf-8")
    (out / "README.md").write_text(student_readme.text(assignment), encoding="utf-8")
    key = answer_key.build(assignment, seeds)
    (out / "answer-key.json").write_text(json.dumps(key), encoding="utf-8")
