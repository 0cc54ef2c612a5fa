"""A course's input cases and finite-difference targets, loaded from its own files (runs where torch
is imported).

A case is a top-level function of the course's ``inputs.py`` (see ``grader.authoring``). It gets
a generator seeded from the run's seed and the case name, so the reference and the student's
process build identical inputs, and every student of one run gets the same ones. A case with a second
parameter also gets the class (or function) under test, to build its arguments with.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from grader.authoring import Call


def generator_for(seed: int, case_name: str) -> torch.Generator:
    """A generator seeded from the run's seed and the case's name."""
    return torch.Generator().manual_seed((seed * 1_000_003 + zlib.crc32(case_name.encode())) % 2**63)


def load_course_module(path: str, name: str) -> ModuleType:
    """Import one of the course's own files (``inputs.py``, ``targets.py``) under a private name."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class CourseFiles:
    """The course's input builders and finite-difference targets, imported on first use."""

    def __init__(self, inputs: str | None, targets: str | None = None):
        self.inputs_path, self.targets_path = inputs, targets

    def build(self, case_name: str, seed: int, tested: Any = None) -> list[Call]:
        """The calls of the named case for this run's seed (built with ``tested`` when the case takes it)."""
        factory = self._function(self.inputs_path, "autograde_course_inputs", case_name, "input case")
        generator = generator_for(seed, case_name)
        calls = factory(generator, tested) if self.takes_tested(case_name) else factory(generator)
        if not isinstance(calls, list) or not all(isinstance(call, Call) for call in calls):
            raise TypeError(f"input case {case_name} must return a list of grader.authoring.Call")
        return calls

    def takes_tested(self, case_name: str) -> bool:
        """Whether the named case builds its calls with the class (or function) under test: a second parameter."""
        factory = self._function(self.inputs_path, "autograde_course_inputs", case_name, "input case")
        positional = [p for p in inspect.signature(factory).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        return len(positional) >= 2

    def reader(self, name: str) -> Callable:
        """The named reader of the course's objects (a function of ``inputs.py``)."""
        return self._function(self.inputs_path, "autograde_course_inputs", name, "reader")

    def target(self, name: str) -> Callable:
        """The named finite-difference target."""
        return self._function(self.targets_path, "autograde_course_targets", name, "finite-difference target")

    @staticmethod
    def _function(path: str | None, module_name: str, name: str, what: str) -> Callable:
        if not path:
            raise LookupError(f"the course has no file for its {what}s")
        module = load_course_module(path, module_name)
        function = getattr(module, name, None)
        if not callable(function):
            raise LookupError(f"unknown {what} {name!r} in {Path(path).name}")
        return function
