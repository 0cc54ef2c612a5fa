"""Import a submission's modules statement by statement, so one broken line costs only what it defines.

Runs inside the process that executes the code (student or reference). Each top-level statement
is compiled and executed on its own: an exception in one is recorded with its file and line,
and the statements after it still run. Modules of the submission import each other by name
(``from helpers import norm``) through a meta-path finder that knows only their files.
"""

from __future__ import annotations

import ast
import builtins
import importlib.abc
import importlib.util
import sys
import traceback
from dataclasses import dataclass, field
from types import ModuleType


@dataclass
class LoadError:
    """A top-level statement of a module that failed."""

    module: str
    file: str
    line: int
    error: str
    traceback: str

    def as_dict(self) -> dict:
        """Plain data for the grader."""
        return self.__dict__.copy()


@dataclass
class SubmissionFinder(importlib.abc.MetaPathFinder):
    """Finds the submission's modules by name; ``skipped`` ones raise ImportError (they hung before)."""

    files: dict[str, str]
    skipped: set[str] = field(default_factory=set)
    errors: list[LoadError] = field(default_factory=list)
    on_load: object = None
    on_loaded: object = None

    def find_spec(self, fullname, path=None, target=None):
        """A spec for a submission module, or None for everything else."""
        if fullname not in self.files:
            return None
        if fullname in self.skipped:
            raise ImportError(f"{fullname} was not imported: it did not finish loading within the time limit")
        return importlib.util.spec_from_file_location(fullname, self.files[fullname], loader=TolerantLoader(self))

    def install(self) -> None:
        """Put the finder first on ``sys.meta_path``."""
        sys.meta_path.insert(0, self)

    def owns(self, filename: str) -> bool:
        """Whether a traceback frame belongs to the submission."""
        return filename in self.files.values()


class TolerantLoader(importlib.abc.Loader):
    """Executes a module one top-level statement at a time."""

    def __init__(self, finder: SubmissionFinder):
        self.finder = finder

    def create_module(self, spec):
        return None

    def exec_module(self, module: ModuleType) -> None:
        name, filename = module.__name__, module.__file__
        if callable(self.finder.on_load):
            self.finder.on_load(name)
        try:
            with open(filename, encoding="utf-8") as handle:
                tree = ast.parse(handle.read(), filename)
        except (SyntaxError, UnicodeDecodeError, ValueError) as error:
            line = getattr(error, "lineno", None) or 0
            self.finder.errors.append(LoadError(name, filename, line, describe(error), ""))
            tree = ast.Module([], type_ignores=[])
        for statement in tree.body:
            code = compile(ast.Module([statement], type_ignores=[]), filename, "exec")
            try:
                exec(code, module.__dict__)  # noqa: S102 - executing the submission is the point
            except BaseException as error:  # noqa: BLE001 - SystemExit and friends are the student's too
                line = statement_line(error, filename, statement.lineno)
                self.finder.errors.append(
                    LoadError(name, filename, line, describe(error), student_traceback(error, self.finder)))
        if callable(self.finder.on_loaded):
            self.finder.on_loaded(name)


def signal_imports(on_load, on_loaded) -> None:
    """Report each outermost import of a module not loaded yet (a library imported inside a function's body:
    ``import matplotlib.pyplot`` can take a second): like the submission's own files, the time it takes counts
    against the course's ceiling only, not against a function's limit derived from the reference's time."""
    original = builtins.__import__
    depth = 0

    def importing(name, globals=None, locals=None, fromlist=(), level=0):
        nonlocal depth
        fresh = depth == 0 and level == 0 and isinstance(name, str) and name not in sys.modules
        if fresh:
            on_load(name)
        depth += 1
        try:
            return original(name, globals, locals, fromlist, level)
        finally:
            depth -= 1
            if fresh:
                on_loaded(name)

    builtins.__import__ = importing


def describe(error: BaseException) -> str:
    """``Type: message``, kept to one short paragraph."""
    text = f"{type(error).__name__}: {error}".strip()
    return text if len(text) <= 500 else text[:500] + " ..."


def statement_line(error: BaseException, filename: str, default: int) -> int:
    """The deepest line of ``filename`` in the error's traceback."""
    line = default
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename == filename:
            line = frame.lineno or line
    return line


def student_traceback(error: BaseException, finder: SubmissionFinder, limit: int = 8) -> str:
    """The traceback trimmed to the submission's own frames."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if finder.owns(frame.filename)]
    lines = [f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}\n    {frame.line or ""}'
             for frame in frames[-limit:]]
    return "\n".join(lines + [describe(error)])
