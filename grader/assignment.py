"""The assignment's declarations (``assignment.toml``): functions, their checks, inputs and points."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

CHECK_KINDS = {
    # kind: (the probe it needs, what it tells the student it verifies)
    "dataset": ("dataset", "length, text and every item match the lecture's data"),
    "returns": ("call", "returns what the reference returns"),
    "inputs-unchanged": ("call", "leaves its inputs unchanged"),
    "differentiable": ("differentiable", "autograd's gradient through it matches finite differences"),
    "finite-difference": ("call", "matches central finite differences in float64"),
    "no-autograd": ("no-autograd", "works, and gives the same result, with autograd switched off"),
    "training": ("call", "training follows the reference's parameter trajectory"),
    "leaf-parameters": ("call", "W and b stay the same leaf tensors with requires_grad"),
    "leaf-gradient": ("call", "leaves the right gradient in the input's .grad"),
}


@dataclass(frozen=True)
class CheckSpec:
    """One declared check of a function."""

    kind: str
    points: float
    cases: tuple[str, ...] = ()
    mistakes: tuple[str, ...] = ()
    rtol: float = 1e-4
    atol: float = 1e-6
    attributes: tuple[str, ...] = ()
    target: str | None = None

    @property
    def probe_kind(self) -> str:
        """The kind of probe whose observations this check judges."""
        return CHECK_KINDS[self.kind][0]

    @property
    def title(self) -> str:
        """What the check verifies, in words."""
        return CHECK_KINDS[self.kind][1]


@dataclass(frozen=True)
class FunctionSpec:
    """A contract function (or class) and its checks."""

    name: str
    module: str
    parameters: tuple[str, ...]
    checks: tuple[CheckSpec, ...]
    kind: str = "function"
    returns: tuple[str, ...] = ()  # names of the items of a returned tuple, for messages ("W", "b")

    @property
    def signature(self) -> str:
        """The contract's signature, as a student would write it."""
        return f"{self.name}({', '.join(self.parameters)})"

    @property
    def required_parameters(self) -> list[str]:
        """Parameters without a default value."""
        return [p for p in self.parameters if "=" not in p]

    @property
    def optional_parameters(self) -> list[str]:
        """Names of the parameters with a default value (passed by keyword)."""
        return [p.split("=")[0] for p in self.parameters if "=" in p]

    @property
    def max_score(self) -> float:
        """Sum of the points of its checks."""
        return sum(check.points for check in self.checks)


@dataclass(frozen=True)
class Assignment:
    """The whole assignment: where its parts live and what is graded."""

    name: str
    root: Path
    solutions: Path
    exercises: Path
    mistakes: Path
    functions: tuple[FunctionSpec, ...]
    timeout: float = 10.0
    memory_mb: int = 3072
    answer_key: Path | None = None

    @property
    def has_solutions(self) -> bool:
        """Whether the reference solutions are here (an instructor's course, not a student release)."""
        return self.solutions.is_dir() and any(self.solutions.glob("*.py"))

    def function(self, name: str) -> FunctionSpec:
        """The declaration of one function; KeyError if there is none."""
        for spec in self.functions:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def max_score(self) -> float:
        """Total points of the assignment."""
        return sum(spec.max_score for spec in self.functions)


class AssignmentError(ValueError):
    """The declarations file is missing or wrong."""


def load(path: Path) -> Assignment:
    """Read and validate ``assignment.toml``."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise AssignmentError(f"cannot read {path}: {error}") from error
    settings = data.get("assignment", {})
    root = path.parent.resolve()
    functions = tuple(_function(entry, path) for entry in data.get("function", []))
    if not functions:
        raise AssignmentError(f"{path} declares no [[function]]")
    return Assignment(
        name=settings.get("name", root.name),
        root=root,
        solutions=root / settings.get("solutions", "solutions"),
        exercises=root / settings.get("exercises", "exercises"),
        mistakes=root / settings.get("mistakes", "mistakes"),
        functions=functions,
        timeout=float(settings.get("timeout", 10)),
        memory_mb=int(settings.get("memory_mb", 3072)),
        answer_key=root / settings["answer_key"] if "answer_key" in settings else None,
    )


def _function(entry: dict, path: Path) -> FunctionSpec:
    try:
        checks = tuple(_check(check) for check in entry["checks"])
        return FunctionSpec(name=entry["name"], module=entry["module"], parameters=tuple(entry.get("parameters", ())),
                            checks=checks, kind=entry.get("kind", "function"), returns=tuple(entry.get("returns", ())))
    except (KeyError, TypeError) as error:
        raise AssignmentError(f"{path}: function {entry.get('name', '?')}: missing or wrong field {error}") from error


def _check(entry: dict) -> CheckSpec:
    if entry["kind"] not in CHECK_KINDS:
        raise AssignmentError(f"unknown check kind {entry['kind']!r}; known: {', '.join(CHECK_KINDS)}")
    return CheckSpec(
        kind=entry["kind"], points=float(entry["points"]), cases=tuple(entry.get("cases", ())),
        mistakes=tuple(entry.get("mistakes", ())), rtol=float(entry.get("rtol", 1e-4)),
        atol=float(entry.get("atol", 1e-6)), attributes=tuple(entry.get("attributes", ())), target=entry.get("target"),
    )


def find(start: Path | None = None) -> Path:
    """The ``assignment.toml`` of the course: in ``start`` (default: the working folder) or one above it,
    else the one beside this package's source tree."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "assignment.toml"
        if candidate.is_file():
            return candidate
    bundled = Path(__file__).resolve().parent.parent / "assignment.toml"
    if bundled.is_file():
        return bundled
    raise AssignmentError("no assignment.toml here or above; pass --assignment PATH")
