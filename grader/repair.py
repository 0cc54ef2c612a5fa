"""Located repair hints: the one line of a failing function where a single edit makes every check of it pass.

For each function that fails on its own (not because a helper fails, not a stub, not a timeout), the grading
process lists single edits of the student's own definition (``grader.mutations``), writes each edited copy
beside the staged code, and asks the submission's worker to run the copies: the student's sandbox, uid and
limits, one time box per function for all its copies. Every copy first runs the function's screen: the one
probe of its first failing check where the student's code failed, up to the call that failed (a copy that fails
it cannot pass every check); the few copies that pass it then run every probe. Each copy's observations are read
as untrusted records and judged by the same checks as the student's (their verdicts only: no mistake is named);
the first copy that passes them all locates the repair. The course chooses what the student is told
(``repair_hints``): the line, the line and the edit, or nothing. A hint never changes a grade.
"""

from __future__ import annotations

import ast
import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

from grader import checks, mutations, plan, pyparse
from grader.assignment import Assignment, CheckSpec, FunctionSpec
from grader.records import read_observations
from grader.protocol import Probe, Request, Response
from grader.results import CALLS_A_STUB, PASS, Repair, TestResult
from grader.submission import Definition, Submission

MAX_FUNCTIONS = 4  # failing functions searched per submission
MAX_EDITS = 80  # edited copies run per function
SEPARATOR = "|"
SHORTEST_LIMIT = 0.25  # seconds per function: a phase that would get less is not run


@dataclass(frozen=True)
class Candidate:
    """One edited copy of a function: the module it is loaded as, the name it defines, and the edit."""

    function: str
    module: str
    attribute: str
    edit: mutations.Edit
    control: bool = False  # the definition unedited: it must fail as the student's did, or no copy is believed


def searched(tests: list[TestResult], code: Submission, events: set[str]) -> list[str]:
    """The functions worth a search: they fail a check on their own (judged, not a stub, not a helper's fault),
    and their definition is a top-level function or class of a file that loaded."""
    names = []
    for test in tests:
        definition = code.definitions.get(test.function)
        if (test.status == PASS or test.function in names or test.function in events or definition is None
                or not isinstance(definition.node, (ast.FunctionDef, ast.ClassDef)) or test.not_found
                or test.not_implemented or test.message.startswith(test.function + CALLS_A_STUB)
                or test.mistake == "timeout"
                or any(line.startswith("note: ") and " uses your " in line for line in test.details)):
            continue
        names.append(test.function)
    return names[:MAX_FUNCTIONS]


def candidates(code: Submission, functions: list[str], folder: Path) -> list[Candidate]:
    """The edited copies of each function, written into ``folder``: each a module that takes every name of the
    function's own module (loaded once in the child, as the student wrote it) and defines the edited function.
    Each function's first copy is its control: the definition unedited. A function whose name is bound again
    after its last definition (``Value = Other``, an import) gets none: no copy would be what runs."""
    token = secrets.token_hex(4)  # no student module can be named like a copy
    found = []
    for function in functions:
        definition = code.definitions[function]
        node = _running(definition)
        source = pyparse.unparse(node) if node is not None else None
        if source is None:
            continue
        control = mutations.Edit(node.lineno, "", source)
        for edit in [control, *mutations.single_edits(node, MAX_EDITS)]:
            module = f"_repair_{token}_{len(found)}"
            (folder / f"{module}.py").write_text(_copy(definition.source.module, edit.source), encoding="utf-8")
            found.append(Candidate(function, module, _attribute(definition), edit, control=edit is control))
    return found


def reproduced(kept: list[Candidate]) -> list[Candidate]:
    """The copies that passed, less every copy of a function whose control passed too (its copies do not
    behave as the student's code does), and less the controls."""
    unreproduced = {candidate.function for candidate in kept if candidate.control}
    return [candidate for candidate in kept if candidate.function not in unreproduced and not candidate.control]


@dataclass(frozen=True)
class Screen:
    """What every copy of a function runs first: the probe of its first failing check where the student's code
    first failed, up to the call that showed it (``calls``; None: the whole probe)."""

    check: CheckSpec
    probe: str
    calls: int | None


def screens(tests: list[TestResult], assignment: Assignment, evidence: checks.Evidence,
            functions: list[str]) -> dict[str, Screen]:
    """Each searched function's screen, from its first failing check that the student's observations show failing:
    every copy runs it first, and only the copies that pass it run every probe (most copies fail it, for a
    fraction of the cost). A function none of whose failures the observations show gets none."""
    found: dict[str, Screen] = {}
    for test in tests:
        if test.function in functions and test.status != PASS and test.function not in found:
            spec = assignment.function(test.function)
            check = next(check for check in spec.checks if test.name == f"{spec.name}: {check.title}")
            failure = checks.first_failure(spec, check, evidence)
            if failure is not None:
                found[test.function] = Screen(check, *failure)
    return found


def request(base: Request, assignment: Assignment, found: list[Candidate], folder: Path,
            screen: dict[str, Screen] | None = None) -> Request:
    """The worker's request for the copies, grouped by function (one time box per function): per copy, its
    function's ``screen``, or every probe of the function."""
    run = _probes(assignment, found, screen)
    probes = [replace(probe, id=_probe_id(candidate, probe), use=(candidate.module, candidate.attribute))
              for candidate in found for probe in run[candidate.function]]
    files = {**base.files, **{c.module: str(folder / f"{c.module}.py") for c in found}}
    return replace(base, id=f"{base.id} (repairs)", files=files, probes=tuple(probes))


def passing(response: Response, assignment: Assignment, found: list[Candidate], evidence: checks.Evidence,
            screen: dict[str, Screen] | None = None) -> list[Candidate]:
    """The copies whose observations pass their function's ``screen``, or every check of it (judged without
    naming a mistake: only the verdict counts here)."""
    run = _probes(assignment, found, screen)
    kept = []
    for candidate in found:
        spec, probes = assignment.function(candidate.function), run[candidate.function]
        sent = {probe.id: response.observations[_probe_id(candidate, probe)] for probe in probes
                if _probe_id(candidate, probe) in response.observations}
        observed = checks.Evidence(read_observations(sent, probes), evidence.reference)
        if len(observed.student) == len(probes) and _passes(spec, observed, screen):
            kept.append(candidate)
    return kept


def _passes(spec: FunctionSpec, observed: checks.Evidence, screen: dict[str, Screen] | None) -> bool:
    """Whether a copy's observations pass its function's screen, or every check of the function."""
    if screen:
        first = screen[spec.name]
        return checks.passes(spec, first.check, observed, first.probe, first.calls)
    return all(checks.passes(spec, check, observed) for check in spec.checks)


def located(verified: list[Candidate], code: Submission, mode: str) -> dict[str, Repair]:
    """Per function, the repair its first verified copy makes."""
    repairs: dict[str, Repair] = {}
    for candidate in verified:
        if candidate.function not in repairs:
            source = code.definitions[candidate.function].source
            repairs[candidate.function] = Repair(source.path.name, candidate.edit.line,
                                                 source.locate(candidate.edit.line), candidate.edit.text, mode)
    return repairs


def _probes(assignment: Assignment, found: list[Candidate], screen: dict[str, Screen] | None) -> dict[str, list[Probe]]:
    """Per function of the copies: its probes as the student's run has them, or only its screen's."""
    run = {}
    for function in dict.fromkeys(candidate.function for candidate in found):
        every = plan.student_probes(assignment, [function])
        chosen = screen[function] if screen else None
        run[function] = every if chosen is None else [replace(probe, calls=chosen.calls) for probe in every
                                                      if probe.id == chosen.probe]
    return run


def _probe_id(candidate: Candidate, probe: Probe) -> str:
    return f"repair:{candidate.module}{SEPARATOR}{probe.id}"


def _copy(module: str, source: str) -> str:
    """An edited copy's module: every name of ``module`` but its dunders, then the edited definition."""
    return ("import importlib as _autograde_import\n"
            f"globals().update({{name: value for name, value in vars(_autograde_import.import_module({module!r})).items()\n"
            "                  if not (name.startswith('__') and name.endswith('__'))})\n"
            f"del _autograde_import\n{source}\n")


def _running(definition: Definition) -> ast.stmt | None:
    """The definition Python runs: the last top-level one of that name in its file (a notebook keeps old
    attempts above the new one); None when a later top-level statement binds the name to something else."""
    tree, name = definition.source.tree, _attribute(definition)
    if tree is None:
        return definition.node
    positions = [index for index, node in enumerate(tree.body) if getattr(node, "name", None) == name]
    if not positions:
        return definition.node
    later = tree.body[positions[-1] + 1:]
    rebound = any(isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, (ast.Store, ast.Del))
                  or isinstance(node, ast.alias) and (node.asname or node.name.split(".")[0]) == name
                  for statement in later for node in ast.walk(statement))
    return None if rebound else tree.body[positions[-1]]


def _attribute(definition: Definition) -> str:
    return getattr(definition.node, "name", definition.name)


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

