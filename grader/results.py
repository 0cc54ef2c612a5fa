"""Results as small dataclasses: one per check, one per submission. Every reporter reads these."""

from __future__ import annotations

from dataclasses import dataclass, field

PASS, FAIL, ERROR = "pass", "fail", "error"
NOT_IMPLEMENTED = "not implemented yet"  # the message of a check whose function is still the stub


@dataclass
class TestResult:
    """The outcome of one check of one function.

    ``status`` is ``pass``, ``fail`` (the result is wrong, or the function is not implemented yet)
    or ``error`` (the code raised, timed out, crashed or could not be loaded).
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
    location: str = ""  # where the function is defined, as the student reads it: "neuron.py:12", "hw.ipynb (cell 3, line 1)"
    hint: str = ""
    duration: float = 0.0

    @property
    def score(self) -> float:
        """All the check's points when it passes, none otherwise."""
        return self.max_score if self.status == PASS else 0.0

    @property
    def not_implemented(self) -> bool:
        """Whether the function is still the exercise's stub (it raised NotImplementedError)."""
        return self.status == FAIL and NOT_IMPLEMENTED in self.message

    def as_dict(self) -> dict:
        """The ``tests[]`` entry of ``check --format json``."""
        return {"name": self.name, "function": self.function, "status": self.status, "score": self.score,
                "max_score": self.max_score, "message": self.message, "mistake": self.mistake}


@dataclass
class SubmissionResult:
    """Every check of one submission, with the seed its random inputs came from."""

    submission: str
    seed: int
    tests: list[TestResult]
    warnings: list[str] = field(default_factory=list)
    internal_error: str | None = None

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

    def per_function(self) -> dict[str, tuple[float, float]]:
        """Function name to (points earned, points available), in contract order."""
        totals: dict[str, tuple[float, float]] = {}
        for test in self.tests:
            earned, available = totals.get(test.function, (0.0, 0.0))
            totals[test.function] = (earned + test.score, available + test.max_score)
        return totals

    def as_dict(self) -> dict:
        """The document ``check --format json`` prints."""
        document = {"score": self.score, "max_score": self.max_score, "tests": [test.as_dict() for test in self.tests]}
        if self.internal_error:
            document["internal_error"] = self.internal_error
        return document
