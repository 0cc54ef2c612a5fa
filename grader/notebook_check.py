"""``grader.check()`` inside Jupyter, JupyterLab or Colab: grade the functions as the live kernel has them.

The kernel's code (``grader.kernel_source``) is written into a temporary folder and graded by the same
engine and sandboxed workers as ``autograde check``, against the course the working folder belongs to (its
solutions, or a release's answer key). The ``Session`` stays alive between calls, so a second check takes a
fraction of a second; it is closed when the interpreter exits. Nothing of the student's code runs in the
kernel beyond what the student ran, and torch is never imported here.
"""

from __future__ import annotations

import atexit
import dataclasses
import re
import tempfile
from pathlib import Path

from grader import answer_key, assignment, kernel_source
from grader import sandbox as sandboxes
from grader.engine import Session
from grader.reporters import notebook_html, terminal
from grader.results import SubmissionResult, TestResult

SUBMISSION = "this notebook"
_SESSIONS: dict[tuple, tuple[Session, list[str]]] = {}


class NotebookResult:
    """The checks of the asked functions: rich HTML in a notebook, the terminal report as text elsewhere."""

    def __init__(self, result: SubmissionResult):
        self.result = result
        self._pictures: dict[int, str] | None = None

    @property
    def tests(self) -> list[TestResult]:
        """One result per check."""
        return self.result.tests

    @property
    def score(self) -> float:
        """Points earned."""
        return self.result.score

    @property
    def max_score(self) -> float:
        """Points available."""
        return self.result.max_score

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return self.result.passed

    @property
    def seed(self) -> int:
        """The seed of the random inputs (``grader.check(..., seed=...)`` repeats them)."""
        return self.result.seed

    def __str__(self) -> str:
        text = terminal.render(self.result)
        return re.sub(r"\(rerun with --seed (\d+) to get the same inputs\)",
                      r"(grader.check(..., seed=\1) repeats these inputs)", text)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        if self._pictures is None:
            self._pictures = notebook_html.draw_graphs(self.result)
        return notebook_html.render(self.result, self._pictures)


def check(name: str | list[str] | tuple[str, ...] | None = None, *, course: str | Path | None = None,
          sandbox: str = "auto", seed: int | None = None, device: str = "cpu") -> NotebookResult:
    """Grade ``name`` (a function of the course, a list of them, or None for all) as this kernel defines it.

    ``course`` is the course folder (or its ``assignment.toml``); by default the one the working folder
    belongs to. ``sandbox`` is ``auto``, ``bwrap`` or ``process`` as in ``autograde check --sandbox``.
    """
    course_found = _course(course)
    known = [spec.name for spec in course_found.functions]
    names = [name] if isinstance(name, str) else list(name or known)
    unknown = [asked for asked in names if asked not in known]
    if unknown:
        raise ValueError(f"no function {', '.join(map(str, unknown))} in {course_found.name}; known: {', '.join(known)}")
    session, notes = _session(course_found, sandbox, seed, device)
    kernel = kernel_source.current()
    with tempfile.TemporaryDirectory(prefix="autograde-notebook-") as folder:
        written = kernel_source.write_submission(kernel, set(names), Path(folder))  # and what they use: only they run
        result = session.grade(written.folder)
    tests = [_shown(test, written) for test in result.tests if test.function in names]
    warnings = notes + [written.shown(warning) for warning in result.warnings]
    internal = written.shown(result.internal_error) if result.internal_error else None
    flags = [dataclasses.replace(flag, location=written.shown(flag.where)) for flag in result.flags]
    return NotebookResult(dataclasses.replace(result, submission=SUBMISSION, tests=tests, warnings=warnings,
                                              internal_error=internal, flags=flags))


def _shown(test: TestResult, written: kernel_source.Written) -> TestResult:
    """The check with the kernel's cells named as the student knows them (``In [5], line 2``)."""
    return dataclasses.replace(test, message=written.shown(test.message), details=[written.shown(line) for line in test.details],
                               output=written.shown(test.output), location=written.shown(test.location), file=None)


def _course(course: str | Path | None) -> assignment.Assignment:
    """The course named, else the one the working folder belongs to (as ``autograde check`` finds it)."""
    path = Path(course) if course is not None else None
    if path is not None and path.is_dir():
        path = path / "assignment.toml"
    try:
        return assignment.load(path or assignment.find())
    except assignment.AssignmentError as error:
        hint = str(error).replace("pass --assignment COURSE", 'pass grader.check(..., course="PATH")')
        raise assignment.AssignmentError(hint) from None


def _session(course: assignment.Assignment, requested: str, seed: int | None, device: str) -> tuple[Session, list[str]]:
    """The kernel's session for this course and these settings: made once and kept, one per course (other
    settings, or a changed ``assignment.toml`` or answer key, replace it: its processes are stopped)."""
    mode = sandboxes.resolve(requested)
    declarations = (course.declarations, course.answer_key)
    stamps = tuple(path.stat().st_mtime_ns for path in declarations if path and path.is_file())
    key = (str(course.root), stamps, mode, device, seed)
    if key not in _SESSIONS:
        for stale in [k for k in _SESSIONS if k[0] == key[0]]:
            _SESSIONS.pop(stale)[0].close()
        reference = None
        if not course.has_solutions:
            if course.answer_key is None:
                raise assignment.AssignmentError(f"{course.root} has neither solutions/ nor an answer key: "
                                                 "nothing to grade against")
            reference = answer_key.load(course.answer_key)
        notes = []
        if requested == "auto" and mode == "process":
            notes.append(f"no sandbox ({sandboxes.INSTALL_HINT}): your code runs in plain processes with resource limits only")
        _SESSIONS[key] = (Session(course, seed=seed, sandbox=mode, key=reference, device=device), notes)
    return _SESSIONS[key]


def close_sessions() -> None:
    """Stop every session's processes (registered to run at interpreter exit)."""
    while _SESSIONS:
        _SESSIONS.popitem()[1][0].close()


atexit.register(close_sessions)
