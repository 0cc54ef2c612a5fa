"""A pytest plugin: `pytest` runs autograde's checks as tests, one test per check.

Active only when asked: ``pytest --autograde exercises`` or, in a course repository's pytest.ini,
``autograde_submission = exercises``. The checks are listed from the declarations (so IDE test
explorers can collect them without running anything); the first test grades the submission once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import answer_key, assignment
from grader.engine import Session
from grader.reporters import workflow_commands
from grader.results import PASS, SubmissionResult
from grader.textsafe import visible


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autograde")
    group.addoption("--autograde", metavar="PATH", default=None, help="grade this submission with autograde's checks")
    group.addoption("--autograde-seed", type=int, default=None, help="seed of autograde's random inputs")
    parser.addini("autograde_submission", "submission that autograde's checks grade (enables the plugin)")


class AutogradeFailure(Exception):
    """A check that did not pass, with the report's explanation."""


class Grading:
    """One grading run per pytest session, started by the first check that runs."""

    def __init__(self, config: pytest.Config, submission: Path):
        self.config, self.submission = config, submission
        self.course = assignment.load(assignment.find(config.rootpath))
        self.result: SubmissionResult | None = None

    def get(self) -> SubmissionResult:
        """The submission's results (grading it on first use)."""
        if self.result is None:
            key = None if self.course.has_solutions else answer_key.load(self.course.answer_key)
            with Session(self.course, seed=self.config.getoption("--autograde-seed"), sandbox="auto", key=key) as session:
                self.result = session.grade(self.submission)
        return self.result


class CheckItem(pytest.Item):
    """One declared check of one function."""

    def __init__(self, *, grading: Grading, function: str, check_index: int, **kwargs):
        super().__init__(**kwargs)
        self.grading, self.function, self.check_index = grading, function, check_index
        self.add_marker(pytest.mark.autograde)

    def runtest(self) -> None:
        result = self.grading.get()
        if result.internal_error:
            raise AutogradeFailure(f"internal grader error: {result.internal_error}")
        test = [t for t in result.tests if t.function == self.function][self.check_index]
        if test.status != PASS:
            first, *rest = test.explanation
            raise AutogradeFailure("\n".join([f"{test.status.upper()}: {first}", *rest]))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, AutogradeFailure):  # the student's text, shown inert on the terminal and in CI
            return workflow_commands.neutralise(visible(str(excinfo.value)))
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.grading.submission, None, f"{self.function}: {self.name}"


class AssignmentFile(pytest.File):
    """``assignment.toml``, collected as the file holding one test per declared check."""

    def collect(self):
        grading = self.config.stash[GRADING]
        for spec in grading.course.functions:
            for index, check in enumerate(spec.checks):
                yield CheckItem.from_parent(self, name=f"{spec.name}::{check.kind}", grading=grading,
                                            function=spec.name, check_index=index)


GRADING = pytest.StashKey[Grading]()


def pytest_configure(config: pytest.Config) -> None:
    submission = config.getoption("--autograde") or config.getini("autograde_submission")
    if submission:
        config.addinivalue_line("markers", "autograde: a check of autograde")
        config.stash[GRADING] = Grading(config, (config.rootpath / submission).resolve())


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    grading = parent.config.stash.get(GRADING, None)
    if grading is not None and file_path.resolve() == (grading.course.root / "assignment.toml").resolve():
        return AssignmentFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    """When the paths pytest walked did not include assignment.toml, add its checks anyway."""
    grading = config.stash.get(GRADING, None)
    if grading is None or any(isinstance(item, CheckItem) for item in items):
        return
    items.extend(AssignmentFile.from_parent(session, path=grading.course.root / "assignment.toml").collect())
