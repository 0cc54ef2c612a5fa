"""Located repair hints: the one line of a failing function where a single edit makes every check of it pass.

For each function that fails on its own (not because a helper fails, not a stub, not a timeout), the grading
process lists single edits of the student's own definition (``grader.mutations``), writes each edited copy of
the file beside the staged code, and asks the submission's worker to run every copy on the function's probes:
the student's sandbox, uid and limits, one time box per function for all its copies. Each copy's observations
are read as untrusted records and judged by the same checks as the student's; the first copy that passes them
all locates the repair. The course chooses what the student is told (``repair_hints``): the line, the line and
the edit, or nothing. A hint never changes a grade.
"""

from __future__ import annotations

import ast
import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

from grader import checks, mutations, plan
from grader.assignment import Assignment, FunctionSpec
from grader.records import read_observations
from grader.protocol import Probe, Request, Response
from grader.results import PASS, Repair, TestResult
from grader.submission import Definition, Submission

MODES = ("line", "edit", "off")
MAX_FUNCTIONS = 4  # failing functions searched per submission
MAX_EDITS = 80  # edited copies run per function
SEPARATOR = "|"


@dataclass(frozen=True)
class Candidate:
    """One edited copy of a function's file: the module it is loaded as, and the edit."""

    function: str
    module: str
    attribute: str
    edit: mutations.Edit


def searched(tests: list[TestResult], code: Submission, events: set[str]) -> list[str]:
    """The functions worth a search: they fail a check on their own (judged, not a stub, not a helper's fault),
    and their definition is a top-level function or class of a file that loaded."""
    names = []
    for test in tests:
        definition = code.definitions.get(test.function)
        if (test.status == PASS or test.function in names or test.function in events or definition is None
                or not isinstance(definition.node, (ast.FunctionDef, ast.ClassDef)) or test.not_found
                or test.not_implemented or test.mistake == "timeout"
                or any(line.startswith("note: ") and " uses your " in line for line in test.details)):
            continue
        names.append(test.function)
    return names[:MAX_FUNCTIONS]


def candidates(code: Submission, functions: list[str], folder: Path) -> list[Candidate]:
    """The edited copies of each function's file, written into ``folder`` (readable by the worker's uid)."""
    token = secrets.token_hex(4)  # no student module can be named like a copy
    found = []
    for function in functions:
        definition = code.definitions[function]
        text = _staged_text(definition)
        if text is None:
            continue
        for index, edit in enumerate(mutations.single_edits(definition.node, MAX_EDITS)):
            module = f"_repair_{token}_{len(found)}"
            path = folder / f"{module}.py"
            path.write_text(with_definition(text, definition.node, edit.source), encoding="utf-8")
            found.append(Candidate(function, module, _attribute(definition), edit))
    return found


def request(base: Request, assignment: Assignment, found: list[Candidate], folder: Path) -> Request:
    """The worker's request for the copies: every probe of each function, per copy, grouped by function (one
    time box per function)."""
    probes: list[Probe] = []
    for candidate in found:
        spec = assignment.function(candidate.function)
        probes += [replace(probe, id=_probe_id(candidate, probe), use=(candidate.module, candidate.attribute))
                   for probe in plan.student_probes(assignment, [spec.name])]
    files = {**base.files, **{c.module: str(folder / f"{c.module}.py") for c in found}}
    return replace(base, id=f"{base.id} (repairs)", files=files, probes=tuple(probes))


def located(response: Response, assignment: Assignment, found: list[Candidate], evidence: checks.Evidence,
            mode: str, code: Submission) -> dict[str, Repair]:
    """Per function, the first copy whose observations pass every check of the function."""
    repairs: dict[str, Repair] = {}
    for candidate in found:
        if candidate.function in repairs:
            continue
        spec = assignment.function(candidate.function)
        probes = plan.student_probes(assignment, [spec.name])
        mine = {probe.id: response.observations.get(_probe_id(candidate, probe)) for probe in probes}
        observed = read_observations({k: v for k, v in mine.items() if v is not None}, probes)
        if len(observed) == len(probes) and _passes(spec, checks.Evidence(observed, evidence.reference), assignment):
            source = code.definitions[candidate.function].source
            repairs[candidate.function] = Repair(source.path.name, candidate.edit.line,
                                                 source.locate(candidate.edit.line), candidate.edit.text, mode)
    return repairs


def _passes(spec: FunctionSpec, evidence: checks.Evidence, assignment: Assignment) -> bool:
    return all(checks.judge(spec, check, evidence, assignment.catalogue).status == PASS for check in spec.checks)


def _probe_id(candidate: Candidate, probe: Probe) -> str:
    return f"repair:{candidate.module}{SEPARATOR}{probe.id}"


def _attribute(definition: Definition) -> str:
    return getattr(definition.node, "name", definition.name)


def _staged_text(definition: Definition) -> str | None:
    try:
        return Path(definition.source.staged).read_text(encoding="utf-8") if definition.source.staged else None
    except (OSError, UnicodeDecodeError):
        return None


def with_definition(text: str, node: ast.stmt, source: str) -> str:
    """The file's text with the top-level definition ``node`` replaced by ``source`` (other lines unchanged, so
    every other line keeps its number)."""
    lines = text.splitlines(keepends=True)
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))]) - 1
    return "".join(lines[:start]) + source + "\n" + "".join(lines[node.end_lineno:])


def give(folder: Path, found: list[Candidate], uid: int | None) -> None:
    """Make the folder and its copies readable by the worker's uid only (``uid``, as root), like the staged code."""
    for path in (folder, *(folder / f"{candidate.module}.py" for candidate in found)):
        if uid is not None:
            os.chown(path, uid, uid)
        path.chmod(0o700 if path == folder else 0o600)


def attach(tests: list[TestResult], repairs: dict[str, Repair]) -> None:
    """Give each failing check of a located function its repair."""
    for test in tests:
        if test.status != PASS and test.function in repairs:
            test.repair = repairs[test.function]

