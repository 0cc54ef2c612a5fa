"""Results as small dataclasses: one per check, one per submission. Every reporter reads these."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum


class Status(StrEnum):
    """The outcome of a check. ``internal`` is the grader's own failure, never the student's."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    INTERNAL = "internal"


PASS, FAIL, ERROR, INTERNAL = Status.PASS, Status.FAIL, Status.ERROR, Status.INTERNAL
INTERNAL_NOTE = "INTERNAL ERROR in the grader (not your fault; please report it)"
NOT_IMPLEMENTED = "not implemented yet"  # the message of a check whose function is still the stub
NOT_FOUND = " not found: define "  # in the message of a check whose function the submission does not define
CALLS_A_STUB = " calls "  # "model calls activate, which is not implemented yet": written, but its helper is not


@dataclass(frozen=True)
class Repair:
    """Where a single edit of the function makes every check of it pass (``grader.repair``): the student's file,
    the line, the same place as the student reads it, the edit, and what the course lets the student see
    (``mode``: ``"line"``, or ``"edit"`` to show the edit too)."""

    file: str
    line: int
    location: str
    edit: str
    mode: str = "line"

    @property
    def text(self) -> str:
        """The feedback line."""
        edit = f": {self.edit}" if self.mode == "edit" else ""
        return f"repair: a single edit at {self.location} makes every check of this function pass{edit}"

    def as_dict(self) -> dict:
        """The ``repair`` entry of a test in the JSON documents (``edit`` only where the course shows it)."""
        entry = {"file": self.file, "line": self.line, "location": self.location}
        return {**entry, "edit": self.edit} if self.mode == "edit" else entry


@dataclass
class TestResult:
    """The outcome of one check of one function.

    ``status`` is ``pass``, ``fail`` (the result is wrong, or the function is not implemented yet),
    ``error`` (the code raised, timed out, crashed or could not be loaded) or ``internal`` (the
    grader failed while judging this check: a bug, reported as such; it earns nothing, and the run's
    exit status and the class summary say so).
    """

    name: str
    function: str
    check: str
    max_score: float
    status: str
    message: str = ""
    mistake: str | None = None
    details: list[str] = field(default_factory=list)
    output: str = ""
    file: str | None = None
    line: int | None = None
    location: str = ""  # where the function is defined, as the student reads it: "layers.py:12", "hw.ipynb (cell 3, line 1)"
    hint: str = ""
    duration: float = 0.0
    graphs: dict | None = None  # a failing autograd check's graphs (grader/worker/graph.py): yours, reference, names
    repair: Repair | None = None  # where one edit makes the function pass, when a search found it

    @property
    def score(self) -> float:
        """All the check's points when it passes, none otherwise."""
        return self.max_score if self.status == PASS else 0.0

    @property
    def explanation(self) -> list[str]:
        """The message, its details and the hint, a line each: what every reporter shows of a failure."""
        return ([self.message, *self.details] + ([f"hint: {self.hint}"] if self.hint else [])
                + ([self.repair.text] if self.repair else []))

    @property
    def not_found(self) -> bool:
        """Whether the submission does not define the function at all."""
        return self.status == ERROR and self.message.startswith(self.function + NOT_FOUND)

    @property
    def not_implemented(self) -> bool:
        """Whether the function is still the exercise's stub (it raised NotImplementedError)."""
        return (self.status == FAIL and NOT_IMPLEMENTED in self.message
                and not self.message.startswith(self.function + CALLS_A_STUB))

    def as_dict(self) -> dict:
        """The ``tests[]`` entry of ``check --format json`` (with ``graphs`` when a failing autograd check has them)."""
        entry = {"name": self.name, "function": self.function, "status": self.status, "score": self.score,
                 "max_score": self.max_score, "message": self.message, "mistake": self.mistake}
        if self.repair:
            entry["repair"] = self.repair.as_dict()
        return {**entry, "graphs": self.graphs} if self.graphs else entry


@dataclass(frozen=True)
class Flag:
    """A construct in the student's code that reaches into the grading machinery (``grader/tamper.py``).

    ``file`` is relative to the submission, ``line`` a line of its Python text, ``location`` the
    same place as the student reads it ("layers.py:12", "hw.ipynb (cell 3, line 1)").
    """

    file: str
    line: int
    category: str
    text: str
    location: str = ""

    @property
    def where(self) -> str:
        """``location``, else ``file:line``."""
        return self.location or f"{self.file}:{self.line}"

    def as_dict(self) -> dict:
        """The entry of ``flags`` in the JSON documents."""
        return {"file": self.file, "line": self.line, "category": self.category, "text": self.text,
                "location": self.where}

    @classmethod
    def from_dict(cls, entry: dict) -> Flag:
        """Read an entry back (missing or odd fields become empty text, line 0)."""
        line = entry.get("line")
        return cls(str(entry.get("file", "")), line if isinstance(line, int) and not isinstance(line, bool) else 0,
                   str(entry.get("category", "")), str(entry.get("text", "")), str(entry.get("location", "")))


@dataclass
class SubmissionResult:
    """Every check of one submission, with the seed its random inputs came from."""

    submission: str
    seed: int
    tests: list[TestResult]
    warnings: list[str] = field(default_factory=list)
    internal_error: str | None = None
    fingerprints: dict[str, str] = field(default_factory=dict)  # function -> digest of everything it returned
    trajectories: dict[str, dict] = field(default_factory=dict)  # training function -> labels, got, expected
    course: str = ""  # the name of the course it was graded against
    flags: list[Flag] = field(default_factory=list)  # the tamper scan's findings in the code (grader/tamper.py)
    load_problems: list[str] = field(default_factory=list)  # files that could not be read or loaded, with where

    @property
    def score(self) -> float:
        """Points earned."""
        return sum(test.score for test in self.tests)

    @property
    def max_score(self) -> float:
        """Points available."""
        return sum(test.max_score for test in self.tests)

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return self.internal_error is None and all(test.status == PASS for test in self.tests)

    @property
    def internal_errors(self) -> list[str]:
        """Every grader failure of this submission: the whole run's, then each check's."""
        errors = [self.internal_error] if self.internal_error else []
        return errors + [f"{test.name}: {test.message}" for test in self.tests if test.status == INTERNAL]

    def per_function(self) -> dict[str, tuple[float, float]]:
        """Function name to (points earned, points available), in contract order."""
        totals: dict[str, tuple[float, float]] = {}
        for test in self.tests:
            earned, available = totals.get(test.function, (0.0, 0.0))
            totals[test.function] = (earned + test.score, available + test.max_score)
        return totals

    def as_dict(self) -> dict:
        """The document ``check --format json`` prints."""
        document = {"score": self.score, "max_score": self.max_score, "seed": self.seed,
                    "tests": [test.as_dict() for test in self.tests]}
        if self.internal_error:  # the submission could not be graded at all
            document["internal_error"] = self.internal_error
        if self.flags:  # code that reaches into the grading machinery
            document["flags"] = [flag.as_dict() for flag in self.flags]
        return document


class MalformedResult(ValueError):
    """A result record that is not what ``to_record`` writes."""


def to_record(result: SubmissionResult) -> dict:
    """Everything of a submission's result, as plain JSON data (``from_record`` reads it back whole)."""
    return asdict(result)


def from_record(record: object) -> SubmissionResult:
    """The result a ``to_record`` document holds, every field checked for its type; raises MalformedResult."""
    entry = _fields(record, SubmissionResult)
    tests = [_test(test) for test in _typed(entry["tests"], list)]
    flags = [Flag(**_checked(_fields(flag, Flag), {"file": str, "line": int, "category": str, "text": str,
                                                   "location": str})) for flag in _typed(entry["flags"], list)]
    for name, kind in {"submission": str, "seed": int, "warnings": list, "internal_error": (str, type(None)),
                       "fingerprints": dict, "trajectories": dict, "course": str, "load_problems": list}.items():
        _typed(entry[name], kind)
    if not all(isinstance(line, str) for line in entry["warnings"] + entry["load_problems"]):
        raise MalformedResult("warnings are text")
    return SubmissionResult(**{**entry, "tests": tests, "flags": flags})


def _test(record: object) -> TestResult:
    entry = _checked(_fields(record, TestResult), {
        "name": str, "function": str, "check": str, "max_score": (int, float), "status": str, "message": str,
        "mistake": (str, type(None)), "details": list, "output": str, "file": (str, type(None)),
        "line": (int, type(None)), "location": str, "hint": str, "duration": (int, float),
        "graphs": (dict, type(None)), "repair": (dict, type(None))})
    if entry["status"] not in set(Status) or not all(isinstance(line, str) for line in entry["details"]):
        raise MalformedResult(f"not a check's result: {entry['name']!r}")
    if entry["repair"] is not None:
        entry["repair"] = Repair(**_checked(_fields(entry["repair"], Repair), {
            "file": str, "line": int, "location": str, "edit": str, "mode": str}))
    return TestResult(**{**entry, "status": Status(entry["status"])})


def _fields(record: object, kind: type) -> dict:
    """The record as the keyword arguments of ``kind``: exactly its fields."""
    names = {item.name for item in fields(kind)}
    if not isinstance(record, dict) or set(record) != names:
        raise MalformedResult(f"not a {kind.__name__} record")
    return dict(record)


def _checked(entry: dict, types: dict[str, type | tuple[type, ...]]) -> dict:
    for name, kind in types.items():
        _typed(entry[name], kind)
    return entry


def _typed(value: object, kind: type | tuple[type, ...]):
    if not isinstance(value, kind) or isinstance(value, bool) or isinstance(value, float) and not math.isfinite(value):
        raise MalformedResult(f"{value!r:.60} is not {kind}")
    return value
