"""``autograde new``: a course folder with one working exercise, ready to grade, release and validate."""

from __future__ import annotations

from pathlib import Path

from grader.generated import MANIFEST
from grader.release import release_exercises

ASSIGNMENT = '''# The grading declarations of this course (see autograde's README, "Writing a course").
[assignment]
name = "{name}"
timeout = 5      # seconds per function at most (each gets 1 s + 50x the reference's time, within this)
memory_mb = 3072 # address-space limit of the process running student code

[mistake.relu-derivative-inverted]
meaning = "the derivative is 1 where x < 0 and 0 where x > 0"
hint = "relu'(x) is 1 where x > 0 and 0 where x < 0"

[[function]]
name = "relu"
module = "activations"
parameters = ["x"]
checks = [
  {{ kind = "returns", points = 1, cases = ["random_vector"] }},
  {{ kind = "inputs-unchanged", points = 0.5, cases = ["random_vector"] }},
  {{ kind = "differentiable", points = 1, cases = ["random_vector"] }},
]

[[function]]
name = "relu_derivative"
module = "activations"
parameters = ["x"]
checks = [
  {{ kind = "returns", points = 1, cases = ["random_vector"], mistakes = ["relu-derivative-inverted"] }},
  {{ kind = "finite-difference", points = 1, cases = ["random_vector64"], target = "sum_of_relu", wrt = ["x"] }},
]
'''

SOLUTION = '''"""Activation functions. Each docstring is the contract the checks hold you to."""

import torch


def relu(x):
    """max(x, 0) elementwise, as a new tensor. x: a float tensor of any shape."""
    ### BEGIN SOLUTION
    ### HINT: torch.clamp(x, min=0)
    return torch.clamp(x, min=0)
    ### END SOLUTION


def relu_derivative(x):
    """The derivative of relu at x, elementwise: 1 where x > 0, else 0 (a float tensor like x)."""
    ### BEGIN SOLUTION
    ### HINT: (x > 0), as a float tensor of x's dtype
    return (x > 0).to(x.dtype)
    ### END SOLUTION
'''

INPUTS = '''"""The input cases of this course: each function takes a seeded generator and returns the calls."""

import torch

from grader.authoring import Call, size


def random_vector(gen):
    return [Call([torch.randn(size(gen, 5, 30), generator=gen) * 3])]


def random_vector64(gen):
    return [Call([torch.randn(size(gen, 5, 30), generator=gen, dtype=torch.float64) * 3])]
'''

TARGETS = '''"""Finite-difference targets: scalar functions of a call's arguments (kept from students)."""

import torch


def sum_of_relu(x):
    return torch.clamp(x, min=0).sum()
'''

MISTAKES = '''"""Wrong variants: <function>__<mistake id with underscores>, measured against students' results."""

import torch


def relu_derivative__relu_derivative_inverted(x):
    return (x < 0).to(x.dtype)
'''


class CourseExists(FileExistsError):
    """The target folder already holds a course or other files."""


def new_course(folder: Path) -> list[Path]:
    """Write a course with one working exercise into ``folder`` (empty or new), its stubs generated as
    ``autograde release`` does (with their record); return the files written."""
    if folder.exists() and any(folder.iterdir()):
        raise CourseExists(f"{folder} is not empty")
    files = {
        folder / "assignment.toml": ASSIGNMENT.format(name=folder.resolve().name),
        folder / "solutions" / "activations.py": SOLUTION,
        folder / "inputs.py": INPUTS,
        folder / "targets.py": TARGETS,
        folder / "mistakes" / "wrong_activations.py": MISTAKES,
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files) + release_exercises(folder / "solutions", folder / "exercises") + [folder / "exercises" / MANIFEST]
