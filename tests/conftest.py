"""Shared fixtures: the shipped assignment, one grading session for many submissions, a submission builder."""

from __future__ import annotations

import ast
import shutil
import textwrap
from pathlib import Path

import pytest

from grader import assignment
from grader.engine import Session

ROOT = Path(__file__).resolve().parent.parent
SEED = 20231


@pytest.fixture(scope="session")
def course() -> assignment.Assignment:
    """The assignment shipped with the repository."""
    return assignment.load(ROOT / "assignment.toml")


@pytest.fixture(scope="session")
def session(course):
    """A grading session (workers started once) shared by the tests that grade submissions."""
    with Session(course, seed=SEED, sandbox="process") as grading:
        yield grading


def replace_function(source: str, name: str, replacement: str) -> str:
    """``source`` with the top-level definition ``name`` replaced by ``replacement``."""
    tree = ast.parse(source)
    node = next(n for n in tree.body if getattr(n, "name", None) == name)
    lines = source.splitlines(keepends=True)
    start = node.lineno - 1 - len(node.decorator_list)
    return "".join(lines[:start]) + textwrap.dedent(replacement).strip() + "\n" + "".join(lines[node.end_lineno:])


@pytest.fixture
def make_submission(tmp_path, course):
    """Copy the reference solutions and swap in the given definitions: ``{"module": {"name": source}}``."""
    def build(changes: dict[str, dict[str, str]] | None = None, extra: dict[str, str] | None = None) -> Path:
        folder = tmp_path / f"submission{len(list(tmp_path.glob('submission*')))}"
        shutil.copytree(course.solutions, folder, ignore=shutil.ignore_patterns("__pycache__"))
        for module, definitions in (changes or {}).items():
            path = folder / f"{module}.py"
            source = path.read_text()
            for name, replacement in definitions.items():
                source = replace_function(source, name, replacement)
            path.write_text(source)
        for name, text in (extra or {}).items():
            (folder / name).write_text(textwrap.dedent(text))
        return folder
    return build


def by_function(result, function: str) -> list:
    """The results of one function's checks."""
    return [test for test in result.tests if test.function == function]
