"""The instructor's pre-flight: is the assignment consistent before it goes out?

Checks that the stubs are what ``release`` generates, that the solutions score 100%, that the
stubs score 0 with "not implemented yet", and that every declared mistake is caught, with its
id, on a submission built from its built-in wrong variant.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from pathlib import Path

from grader import plan
from grader.assignment import Assignment
from grader.engine import Session
from grader.release import stub_source


def exercises_drift(assignment: Assignment) -> list[str]:
    """Files of ``exercises/`` that differ from what ``release`` generates (or are missing)."""
    problems = []
    for path in sorted(assignment.solutions.glob("*.py")):
        stub = assignment.exercises / path.name
        if not stub.exists():
            problems.append(f"exercises/{path.name} is missing")
        elif stub.read_text(encoding="utf-8") != stub_source(path.read_text(encoding="utf-8"), str(path)):
            problems.append(f"exercises/{path.name} differs from its solution's stub: run `autograde release`")
    return problems


def variant_submission(assignment: Assignment, variant: plan.Variant, folder: Path) -> Path:
    """The solutions with one function rebound to a wrong variant (imported at the end of its module)."""
    shutil.copytree(assignment.solutions, folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(assignment.mistakes / f"{variant.module}.py", folder)
    module = folder / f"{assignment.function(variant.function).module}.py"
    module.write_text(module.read_text() + f"\nfrom {variant.module} import {variant.attribute} as {variant.function}\n")
    return folder


def undeclared_variants(assignment: Assignment) -> list[str]:
    """Declared mistakes that no built-in wrong variant exercises."""
    found = {(variant.function, variant.mistake) for variant in plan.variants(assignment)}
    return [f"{spec.name}: mistake {mistake} is declared but mistakes/wrong_{spec.module}.py has no "
            f"{spec.name}__{mistake.replace('-', '_')}" for spec in assignment.functions
            for mistake in dict.fromkeys(m for check in spec.checks for m in check.mistakes)
            if (spec.name, mistake) not in found]


def validate(assignment: Assignment, sandbox: str = "process", seeds: list[int] | None = None) -> list[tuple[bool, str]]:
    """``(ok, what)`` for every pre-flight check; the graded ones on each of ``seeds`` (default: one at random)."""
    report = [(False, problem) for problem in exercises_drift(assignment)] or [(True, "exercises/ is in sync with solutions/")]
    report += [(False, problem) for problem in undeclared_variants(assignment)] or [(True, "every declared mistake has a variant")]
    for seed in seeds or [random.randrange(2**31)]:
        report += _graded(assignment, sandbox, seed)
    return report


def _graded(assignment: Assignment, sandbox: str, seed: int) -> list[tuple[bool, str]]:
    """Solutions 100%, stubs 0, every variant caught, on one seed's inputs."""
    prefix = f"seed {seed}: "
    report = []
    with Session(assignment, seed=seed, sandbox=sandbox) as session, tempfile.TemporaryDirectory() as scratch:
        solved = session.grade(assignment.solutions)
        report.append((solved.passed, f"{prefix}solutions score {solved.score:g}/{solved.max_score:g}"
                       + ("" if solved.passed else ": " + "; ".join(t.message for t in solved.tests if t.status != "pass")[:500])))
        stubs = session.grade(assignment.exercises)
        unfinished = [t for t in stubs.tests if not t.not_implemented]
        report.append((stubs.score == 0 and not unfinished,
                       f"{prefix}stubs score {stubs.score:g} with 'not implemented yet' on {len(stubs.tests) - len(unfinished)}"
                       f"/{len(stubs.tests)} checks" + (f"; not so: {unfinished[0].name}: {unfinished[0].message}" if unfinished else "")))
        for index, variant in enumerate(plan.variants(assignment)):
            folder = variant_submission(assignment, variant, Path(scratch) / str(index))
            result = session.grade(folder)
            caught = [t for t in result.tests if t.function == variant.function and t.mistake == variant.mistake]
            report.append((bool(caught), f"{prefix}{variant.function}: {variant.mistake} ({variant.attribute}) "
                           + ("caught by " + caught[0].check if caught else "NOT caught")))
    return report
