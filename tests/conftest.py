"""Shared fixtures: the shipped assignment, one grading session for many submissions, a submission builder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from examples.variants import build_submission
from grader import assignment
from grader.engine import Session

# Property tests draw the same examples on every run: CI stays deterministic, and no example database is written.
settings.register_profile("autograde", derandomize=True, database=None)
settings.load_profile("autograde")

ROOT = Path(__file__).resolve().parent.parent
SEED = 20231


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """The reference cache of ``check`` in a folder of the suite's own, never the user's; and no check server
    unless a test asks for one (in a runtime folder of its own: ``tests/test_check_server.py``)."""
    saved = {name: os.environ.get(name) for name in ("XDG_CACHE_HOME", "AUTOGRADE_NO_SERVER")}
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    os.environ["AUTOGRADE_NO_SERVER"] = "1"
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def course() -> assignment.Assignment:
    """The assignment shipped with the repository."""
    return assignment.load(ROOT / "assignment.toml")


@pytest.fixture(scope="session")
def session(course):
    """A grading session (workers started once) shared by the tests that grade submissions."""
    with Session(course, seed=SEED, sandbox="process") as grading:
        yield grading


@pytest.fixture
def make_submission(tmp_path, course):
    """Copy the reference solutions and swap in the given definitions: ``{"module": {"name": source}}``."""
    def build(changes: dict[str, dict[str, str]] | None = None) -> Path:
        return build_submission(course.solutions, tmp_path / f"submission{len(list(tmp_path.glob('submission*')))}", changes)
    return build


def by_function(result, function: str) -> list:
    """The results of one function's checks."""
    return [test for test in result.tests if test.function == function]


def live_uid(pid: str) -> int | None:
    """The owner of a live process (None for a zombie: killed, waiting to be reaped, holding nothing)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            fields = dict(line.split(":", 1) for line in handle if line.startswith(("State:", "Uid:")))
    except (OSError, ValueError):
        return None
    return None if fields.get("State", "").split()[:1] == ["Z"] else int(fields["Uid"].split()[0])
