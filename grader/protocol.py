"""The messages between the grading process and a worker: typed data, and their JSON lines.

The grading process writes one ``Request`` per line on the worker's stdin: which code, which probes,
which limits. While serving it, the worker announces each function it starts (``{"running": name}``,
so a worker killed by the code still tells which function did it), then writes one ``Response``.
Observations stay plain JSON trees: they hold encoded values, which ``grader.worker.encoding`` makes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum


class ProbeKind(StrEnum):
    """How a probe runs its function."""

    CALL = "call"
    DATASET = "dataset"
    DIFFERENTIABLE = "differentiable"
    NO_AUTOGRAD = "no-autograd"
    BACKWARD = "backward"


@dataclass(frozen=True)
class Probe:
    """One function run on one input case in one way; its observation is filed under ``id``.

    ``use`` runs a wrong variant (``module``, ``attribute``) instead of the contract's function,
    ``transform`` runs on transformed calls, ``fd_target`` adds finite differences of the course's
    target with respect to the arguments ``wrt`` (trusted runs only). A returned object of a course's
    own class is read through its ``attributes``, or by the course's ``reader``; ``graph`` names the
    attributes of its operands and its operation, to describe the graph of a student's own engine. ``calls``
    runs only the case's first calls (a repair's screen: up to the call where the student's code failed).
    """

    id: str
    function: str
    kind: ProbeKind
    case: str
    fd_target: str | None = None
    wrt: tuple[int, ...] = ()
    use: tuple[str, str] | None = None
    transform: str | None = None
    attributes: tuple[str, ...] = ()
    reader: str | None = None
    graph: tuple[str, ...] = ()  # (children, operation)
    calls: int | None = None

    def to_json(self) -> dict:
        """The probe as a JSON object (fields left at their defaults are omitted)."""
        return {key: value for key, value in _fields(self).items() if value not in (None, ())}

    @classmethod
    def from_json(cls, data: dict) -> Probe:
        """The probe a JSON object describes."""
        return cls(id=data["id"], function=data["function"], kind=ProbeKind(data["kind"]), case=data["case"],
                   fd_target=data.get("fd_target"), wrt=tuple(data.get("wrt", ())),
                   use=tuple(data["use"]) if data.get("use") else None, transform=data.get("transform"),
                   attributes=tuple(data.get("attributes", ())), reader=data.get("reader"),
                   graph=tuple(data.get("graph", ())), calls=data.get("calls"))


@dataclass(frozen=True)
class Request:
    """What a worker runs: the code's modules, the contract functions in them, the probes and the limits."""

    id: str
    files: dict[str, str]  # module name -> file
    functions: dict[str, tuple[str, str]]  # contract name -> (module, attribute)
    probes: tuple[Probe, ...]
    seed: int
    timeout: float  # seconds per function: the ceiling, and the limit while the code's own files load
    memory_mb: int
    trusted: bool = False  # the reference and its variants: no limits, finite-difference targets
    uid: int | None = None  # run the code as this user, where the worker may switch
    inputs: str | None = None  # the course's inputs.py
    targets: str | None = None  # the course's targets.py (trusted runs only)
    private_tmp: bool = False  # /tmp is the child's own (bwrap)
    gpu: bool = False  # the code may use the GPU (--device cuda): its device files stay usable
    limits: dict[str, float] = field(default_factory=dict)  # contract name -> its own time limit, within timeout

    def limit(self, function: str) -> float:
        """The seconds ``function`` may run (its files' loading aside): its own limit, never past ``timeout``."""
        return min(self.limits.get(function, self.timeout), self.timeout)

    def to_json(self) -> str:
        """The request as one JSON line."""
        return json.dumps({**_fields(self), "probes": [probe.to_json() for probe in self.probes]})

    @classmethod
    def from_json(cls, line: str) -> Request:
        """The request one JSON line holds."""
        data = json.loads(line)
        data["probes"] = tuple(Probe.from_json(probe) for probe in data["probes"])
        data["functions"] = {name: tuple(where) for name, where in data["functions"].items()}
        data["limits"] = {str(name): float(seconds) for name, seconds in data.get("limits", {}).items()}
        return cls(**data)


UNREADABLE_RESULT = "UnreadableResult"  # the error type of a call whose returned value the harness cannot encode


class Malformed(ValueError):
    """A message or record that does not have the shape the protocol gives it (a process running student
    code wrote it, or tampered with what was written)."""


class EventKind(StrEnum):
    """What stopped a function before its probes were all observed."""

    TIMEOUT = "timeout"
    CRASH = "crash"
    TOO_LARGE = "too-large"


@dataclass(frozen=True)
class Event:
    """A function that timed out or whose process died; ``module`` when it was still being imported."""

    function: str
    kind: EventKind
    detail: str
    module: str | None = None


@dataclass
class Response:
    """What a worker observed: each probe's observation, statements that failed to load, events, or its
    own failure (``internal_error``: a grader bug)."""

    id: str
    observations: dict[str, dict] = field(default_factory=dict)
    load_errors: list[dict] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    internal_error: str | None = None
    retiring: bool = False  # the worker leaves after this answer: what a child left could not be removed

    def to_json(self) -> str:
        """The response as one JSON line."""
        return json.dumps({**_fields(self), "events": [asdict(event) for event in self.events]})

    @classmethod
    def from_json(cls, data: object) -> Response:
        """The response a decoded JSON line holds; ``Malformed`` when it is not one. Observations stay plain
        JSON here: ``grader.records`` reads each of them."""
        try:
            assert isinstance(data, dict) and isinstance(data["id"], str)
            observations, load_errors = data.get("observations", {}), data.get("load_errors", [])
            assert isinstance(observations, dict) and isinstance(load_errors, list)
            assert all(isinstance(key, str) for key in observations)
            events = [Event(str(event["function"]), EventKind(event["kind"]), str(event["detail"])[:500],
                            event["module"] if isinstance(event.get("module"), str) else None)
                      for event in data.get("events", [])]
            internal, retiring = data.get("internal_error"), data.get("retiring", False)
            assert (internal is None or isinstance(internal, str)) and isinstance(retiring, bool)
        except (AssertionError, AttributeError, KeyError, TypeError, ValueError) as error:
            raise Malformed(f"not a response: {type(error).__name__}") from None
        return cls(data["id"], observations, load_errors, events, internal, retiring)


def _fields(message: object) -> dict:
    """A dataclass's fields by name, as they are: ``asdict`` would deep-copy every observation and probe, only for
    ``json.dumps`` to read them once."""
    return {field.name: getattr(message, field.name) for field in fields(message)}
