"""The assignment's declarations (``assignment.toml``): functions, their checks, inputs and points."""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from grader import diagnosis, pyparse
from grader.kinds import CHECK_KINDS
from grader.timelimits import Policy

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
    target: str | None = None  # finite-difference: the course's scalar function (in targets.py)
    wrt: tuple[int, ...] = ()  # finite-difference: positions of the arguments it differentiates
    parameters: tuple[int, ...] = ()  # leaf-parameters: positions of the arguments that must stay leaves
    argument: int = 0  # leaf-gradient: position of the argument whose .grad is compared
    after: tuple[int, ...] = ()  # training: positions of arguments whose state after the call is compared
    names: tuple[str, ...] = ()  # the function's parameter names, for titles and messages
    title_text: str = ""
    failure_means: str | None = None  # the mistake any failure of this check is, when nothing more precise is found

    @property
    def probe_kind(self) -> str:
        """The kind of probe whose observations this check judges."""
        return CHECK_KINDS[self.kind].probe

    @property
    def title(self) -> str:
        """What the check verifies, in words (the course's own wording when it gives one)."""
        if self.title_text:
            return self.title_text
        listed = [self.names[i] for i in self.parameters if i < len(self.names)]
        parameters = " and ".join([", ".join(listed[:-1]), listed[-1]] if len(listed) > 2 else listed) or "the parameters"
        argument = self.names[self.argument] if self.argument < len(self.names) else "the input"
        return CHECK_KINDS[self.kind].title.format(parameters=parameters, argument=argument)


@dataclass(frozen=True)
class FunctionSpec:
    """A contract function (or class) and its checks."""

    name: str
    module: str
    parameters: tuple[str, ...]
    checks: tuple[CheckSpec, ...]
    kind: str = "function"
    returns: tuple[str, ...] = ()  # names of the items of a returned tuple, for messages ("W", "b")
    hints: dict[str, str] = field(default_factory=dict)  # mistake id -> advice worded for this function
    samples: int | None = None  # position of the argument whose first dimension is the call's number of samples N
    attributes: tuple[str, ...] = ()  # how results that are objects of a course's class are read: these attributes
    reader: str | None = None  # ... or this function of inputs.py, which returns {name: value}
    graph: tuple[str, ...] = ()  # a student's own engine: the attributes of a node's operands and of its operation

    @property
    def signature(self) -> str:
        """The contract's signature, as a student would write it."""
        return f"{self.name}({', '.join(self.parameters)})"

    @property
    def parameter_names(self) -> list[str]:
        """The parameters' names, without default values."""
        return [p.split("=")[0].strip() for p in self.parameters]

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
    """The whole assignment: where its parts live, what is graded, and the course's own mistakes."""

    name: str
    root: Path
    solutions: Path
    exercises: Path
    mistakes: Path
    functions: tuple[FunctionSpec, ...]
    timeout: float = 10.0  # the ceiling of every function's time limit
    memory_mb: int = 3072
    repair_hints: str = "line"  # what a located repair tells the student: "line", "edit" (the line and the edit), "off"
    time_policy: Policy = field(default_factory=Policy)  # each function's limit below the ceiling
    answer_key: Path | None = None
    inputs: Path | None = None
    targets: Path | None = None
    catalogue: diagnosis.Catalogue = field(default_factory=diagnosis.Catalogue)
    declarations: Path | None = None  # the declarations file read (``assignment.toml``, or another name)

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
    """Read ``assignment.toml`` and check every declaration against the course's files.

    An input case, a finite-difference target, a mistake without a meaning or a parameter name
    that does not exist is an ``AssignmentError`` naming the file and the entry.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise AssignmentError(f"cannot read {path}: {error}") from error
    settings = data.get("assignment", {})
    root = path.parent.resolve()
    try:
        catalogue = diagnosis.Catalogue.with_course(data.get("mistake", {}))
    except (TypeError, KeyError, AttributeError, ValueError) as error:
        raise AssignmentError(f"{path}: [mistake.<id>] tables need meaning = \"...\" and hint = \"...\", and take "
                              f"factor = <number, \"N\" or a list> and steps = \"accumulated\" ({error})") from error
    functions = tuple(_function(entry, path) for entry in data.get("function", []))
    if not functions:
        raise AssignmentError(f"{path} declares no [[function]]")
    inputs = root / settings.get("inputs", "inputs.py")
    targets = root / settings.get("targets", "targets.py")
    course = Assignment(
        name=settings.get("name", root.name),
        root=root,
        solutions=root / settings.get("solutions", "solutions"),
        exercises=root / settings.get("exercises", "exercises"),
        mistakes=root / settings.get("mistakes", "mistakes"),
        functions=functions,
        timeout=float(settings.get("timeout", 10)),
        memory_mb=int(settings.get("memory_mb", 3072)),
        repair_hints=_repair_hints(settings.get("repair_hints", "line"), path),
        time_policy=_time_policy(settings, path),
        answer_key=root / settings["answer_key"] if "answer_key" in settings else None,
        inputs=inputs if inputs.is_file() else None,
        targets=targets if targets.is_file() else None,
        catalogue=catalogue,
        declarations=path.resolve(),
    )
    problems = declaration_problems(course)
    if problems:
        raise AssignmentError(f"{path}:\n" + "\n".join(f"  {problem}" for problem in problems))
    return course


REPAIR_HINTS = ("line", "edit", "off")  # what a located repair tells the student (grader.repair)


def _repair_hints(value: object, path: Path) -> str:
    """The ``repair_hints`` setting, checked."""
    if value not in REPAIR_HINTS:
        raise AssignmentError(f"{path}: repair_hints must be \"line\", \"edit\" or \"off\", not {value!r}")
    return str(value)


def _time_policy(settings: dict, path: Path) -> Policy:
    """The course's rule for time limits: ``adaptive_timeout`` (true or false), ``timeout_floor`` and
    ``timeout_factor`` (positive numbers) in ``[assignment]``."""
    default = Policy()
    adaptive = settings.get("adaptive_timeout", default.adaptive)
    floor, factor = settings.get("timeout_floor", default.floor), settings.get("timeout_factor", default.factor)
    numbers = all(type(value) in (int, float) and value > 0 for value in (floor, factor))
    if not isinstance(adaptive, bool) or not numbers:
        raise AssignmentError(f"{path}: [assignment] adaptive_timeout is true or false, timeout_floor and "
                              "timeout_factor are positive numbers of seconds and times")
    return Policy(adaptive, float(floor), float(factor))


def declaration_problems(course: Assignment) -> list[str]:
    """Every declaration that names something the course does not have."""
    cases = _top_level_functions(course.inputs)
    targets = _top_level_functions(course.targets)
    problems = []
    seen = set()
    for spec in course.functions:
        if spec.name in seen:
            problems.append(f"function {spec.name} is declared twice")
        seen.add(spec.name)
        for check in spec.checks:
            entry = f"function {spec.name}, check {check.kind}"
            if CHECK_KINDS[check.kind].needs_cases and not check.cases:
                problems.append(f"{entry}: no cases = [...] (input cases from inputs.py)")
            for case in check.cases:
                if case not in cases:
                    where = course.inputs.name if course.inputs else "inputs.py (missing)"
                    problems.append(f"{entry}: unknown input case {case!r}: no such function in {where}")
            for mistake in check.mistakes + ((check.failure_means,) if check.failure_means else ()):
                if mistake not in course.catalogue:
                    problems.append(f"{entry}: mistake {mistake!r} has no meaning: add [mistake.{mistake}] "
                                    "with meaning and hint")
            if check.kind == "finite-difference" and course.answer_key is None and check.target not in targets:
                where = course.targets.name if course.targets else "targets.py (missing)"
                problems.append(f"{entry}: target {check.target!r} is not a function of {where}")
        differentiated: dict[str, tuple] = {}  # case -> the target and arguments of the calls' finite differences
        for check in spec.checks:
            for case in check.cases if check.kind == "finite-difference" else ():
                if differentiated.setdefault(case, (check.target, check.wrt)) != (check.target, check.wrt):
                    problems.append(f"function {spec.name}: two finite-difference checks on case {case!r} with "
                                    "different targets or wrt: give each its own input case")
        if spec.reader and spec.reader not in cases:
            problems.append(f"function {spec.name}: reader {spec.reader!r} is not a function of "
                            f"{course.inputs.name if course.inputs else 'inputs.py (missing)'}")
        if spec.reader and spec.attributes:
            problems.append(f"function {spec.name}: declare attributes = [...] or reader = \"...\", not both")
        for mistake in spec.hints:
            if mistake not in course.catalogue:
                problems.append(f"function {spec.name}: hint for unknown mistake {mistake!r}")
    return problems + _unlisted_variants(course)


def _unlisted_variants(course: Assignment) -> list[str]:
    """A wrong variant (``<function>__<mistake>[__suffix]`` in ``mistakes/``) whose mistake no check of its function
    lists: it would never run, and ``validate`` could not say so."""
    problems = []
    functions = {spec.name: spec for spec in course.functions}
    for path in sorted(course.mistakes.glob("wrong_*.py")) if course.mistakes.is_dir() else ():
        tree = pyparse.parse(path.read_text(encoding="utf-8"), str(path))
        for node in tree.body:
            name = getattr(node, "name", "") if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else ""
            function, separator, rest = name.partition("__")
            if not separator or function not in functions:
                continue
            listed = {m for check in functions[function].checks for m in check.mistakes}
            stems = {m.replace("-", "_") for m in listed}
            if not any(rest == stem or rest.startswith(stem + "__") for stem in stems):
                problems.append(f"{path.name} defines {name}, a wrong variant of {function} whose mistake no check of "
                                f"{function} lists: add the mistake to a check's mistakes = [...], or remove the variant")
    return problems


def _top_level_functions(path: Path | None) -> set[str]:
    if path is None:
        return set()
    try:
        tree = pyparse.parse(path.read_text(encoding="utf-8"), str(path))
    except (OSError, SyntaxError, ValueError) as error:
        raise AssignmentError(f"cannot read {path}: {error}") from error
    return {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _function(entry: dict, path: Path) -> FunctionSpec:
    name = entry.get("name", "?")
    try:
        parameters = tuple(entry.get("parameters", ()))
        names = tuple(p.split("=")[0].strip() for p in parameters)
        checks = tuple(_check(check, names, f"{path}: function {name}") for check in entry["checks"])
        if "samples" in entry and entry["samples"] not in names:
            raise AssignmentError(f"{path}: function {name}: samples = {entry['samples']!r} is not a parameter "
                                  f"({', '.join(names) or 'none'})")
        return FunctionSpec(name=entry["name"], module=entry["module"], parameters=parameters, checks=checks,
                            kind=entry.get("kind", "function"), returns=tuple(entry.get("returns", ())),
                            hints=dict(entry.get("hints", {})),
                            samples=names.index(entry["samples"]) if "samples" in entry else None,
                            attributes=_identifiers(entry.get("attributes", ()), f"{path}: function {name}"),
                            reader=entry.get("reader"), graph=_graph(entry.get("graph"), f"{path}: function {name}"))
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, AssignmentError):
            raise
        raise AssignmentError(f"{path}: function {name}: missing or wrong field {error}") from error


def _identifiers(names: list[str], where: str, key: str = "attributes = [...]") -> tuple[str, ...]:
    """Attribute names the engine reads of a course's objects."""
    if not all(isinstance(name, str) and name.isidentifier() for name in names):
        raise AssignmentError(f"{where}: {key} takes attribute names, as \"data\" or \"_prev\"")
    return tuple(names)


def _graph(entry: dict | None, where: str) -> tuple[str, ...]:
    """``graph = { children = "_prev", operation = "_op" }``: how the graph of a student's own engine is walked."""
    if entry is None:
        return ()
    if not (isinstance(entry, dict) and set(entry) == {"children", "operation"}):
        raise AssignmentError(f"{where}: graph = {{ children = \"...\", operation = \"...\" }} takes those two names")
    return _identifiers([entry["children"], entry["operation"]], where, "graph = { ... }")


def _check(entry: dict, names: tuple[str, ...], where: str) -> CheckSpec:
    kind = entry["kind"]
    if kind not in CHECK_KINDS:
        raise AssignmentError(f"{where}: unknown check kind {kind!r}; known: {', '.join(CHECK_KINDS)}")

    def positions(key: str, default: tuple[str, ...] = ()) -> tuple[int, ...]:
        listed = entry.get(key, default)
        unknown = [name for name in listed if name not in names]
        if unknown:
            raise AssignmentError(f"{where}, check {kind}: {key} names {', '.join(map(repr, unknown))}, "
                                  f"which are not parameters ({', '.join(names) or 'none'})")
        return tuple(names.index(name) for name in listed)

    needed = {"finite-difference": ("target", "wrt"), "leaf-parameters": ("parameters",)}.get(kind, ())
    missing = [key for key in needed if key not in entry]
    if missing:
        raise AssignmentError(f"{where}, check {kind}: declare {' and '.join(missing)} "
                              "(see the README's authoring section)")
    return CheckSpec(
        kind=kind, points=float(entry["points"]), cases=tuple(entry.get("cases", ())),
        mistakes=tuple(entry.get("mistakes", ())), rtol=float(entry.get("rtol", 1e-4)),
        atol=float(entry.get("atol", 1e-6)), attributes=tuple(entry.get("attributes", ())), target=entry.get("target"),
        wrt=positions("wrt"), parameters=positions("parameters"), argument=_argument(entry, names, where),
        after=positions("after"), names=names, title_text=entry.get("title", ""),
        failure_means=entry.get("failure_means"),
    )


def _argument(entry: dict, names: tuple[str, ...], where: str) -> int:
    name = entry.get("argument", names[0] if names else "")
    if names and name not in names:
        raise AssignmentError(f"{where}: argument {name!r} is not a parameter ({', '.join(names)})")
    return names.index(name) if names else 0


def find(start: Path | None = None) -> Path:
    """The ``assignment.toml`` of the course: in ``start`` (default: the working folder) or one above it."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "assignment.toml"
        if candidate.is_file():
            return candidate
    raise AssignmentError(f"no course here: no assignment.toml in {here} or above it. Run autograde inside the "
                          "course's folder (or the student release), or pass --assignment COURSE")
