"""What a worker observed, read once at the boundary into typed records.

The process that runs a student's code also writes what it observed, so every observation is untrusted
input. ``Observation.from_json`` reads one into an ``Observation`` of ``CallRecord``s, whose parts are
typed records too (``ErrorRecord``, ``Arguments``, ``DatasetParts`` of ``Outcome``s, ``Differentiation``,
``Slopes``): every field the harness writes is checked, of its type, with its sizes within bounds and
consistent. What does not read as such raises ``Malformed``; the engine then fails that function for the
student ("the grader could not read what your code returned"), never passes it and never reports a
grader bug. The judges (``grader.kinds``, ``grader.checks``, ``grader.measured``, ``grader.footprint``)
read only these records, by attribute, without guarding each field.

Encoded values (what a call returned, its arguments' items, gradients, finite differences) stay the JSON
trees ``grader.worker.encoding`` writes, which ``grader.compare`` measures: ``value`` checks each one
(tensors, tuples, lists, dicts, modules, objects and the attributes read of them, numbers, text; a tensor's
values are as many as its shape says) before a record holds it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from grader import graph_text
from grader.protocol import Malformed, Probe, ProbeKind

TENSOR_DTYPES = frozenset({"float16", "bfloat16", "float32", "float64", "complex32", "complex64", "complex128",
                           "uint8", "int8", "int16", "int32", "int64", "uint16", "uint32", "uint64", "bool",
                           "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "quint8", "qint8",
                           "qint32", "quint4x2"})
MAX_DEPTH = 16  # the encoder nests 6 containers; tensors, modules and their grads add a few levels
MAX_TEXT = 1_000_000  # the harness cuts what it writes far below this; a record past it was not the harness's
MAX_ITEMS = 1_000  # the encoder's: a longer tuple or list sends its first items and its length
MAX_ELEMENTS = 100_000  # the encoder's: a tensor with more sends a summary instead of its values
MAX_NODES = 2_000_000  # values and containers in one observation
MAX_SECONDS = 86_400.0  # no call of a probe runs for a day: its function's time limit stops it long before
_ERROR_FIELDS = ("type", "message", "traceback")
_SCHEMES = ("central", "forward", "backward")  # the finite differences measured
_DATASET_PARTS = ("len", "str", "items")  # what a dataset record holds
_TENSOR_FIELDS = {"type", "class", "dtype", "shape", "device", "data", "requires_grad", "is_leaf", "grad_fn", "grad",
                  "summary"}


@dataclass
class _Budget:
    """How many more values one observation may hold."""

    left: int = MAX_NODES

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise Malformed("more values than an observation can hold")


@dataclass(frozen=True)
class ErrorRecord:
    """What a call raised: the exception's type, its message and the student's part of the traceback."""

    type: str
    message: str
    traceback: str

    @classmethod
    def from_json(cls, data: Any) -> ErrorRecord:
        """An error record: ``type``, ``message`` and ``traceback``, all text."""
        _require(isinstance(data, dict) and set(data) == set(_ERROR_FIELDS), "an error record has other fields")
        return cls(*(_text(data[key]) for key in _ERROR_FIELDS))


@dataclass(frozen=True)
class Arguments:
    """A call's arguments, each an encoded value."""

    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, budget: _Budget) -> Arguments:
        """``{"args": [...], "kwargs": {...}}`` of encoded values."""
        _require(isinstance(data, dict), "a call's arguments are not an object")
        _only(data, {"args", "kwargs"}, required=True)
        _require(isinstance(data["args"], list) and isinstance(data["kwargs"], dict), "a call's arguments")
        args = tuple(value(item, budget, 1) for item in data["args"])
        return cls(args, {_text(key): value(item, budget, 1) for key, item in data["kwargs"].items()})


@dataclass(frozen=True)
class Outcome:
    """One part of a dataset record: what reading it returned (an encoded value) or, when it raised, its error."""

    result: Any = None
    error: ErrorRecord | None = None

    @classmethod
    def from_json(cls, data: Any, budget: _Budget) -> Outcome:
        """``{"result": value}`` or ``{"error": error record}``."""
        _require(isinstance(data, dict) and len(data) == 1 and ("result" in data or "error" in data), "a dataset part")
        if "error" in data:
            return cls(error=ErrorRecord.from_json(data["error"]))
        return cls(value(data["result"], budget))


@dataclass(frozen=True)
class DatasetParts:
    """What a dataset gave: its length, its text and its items (stacked over the index)."""

    len: Outcome
    str: Outcome
    items: Outcome

    @classmethod
    def from_json(cls, data: Any, budget: _Budget) -> DatasetParts:
        """``{"len": part, "str": part, "items": part}``."""
        _require(isinstance(data, dict) and set(data) == set(_DATASET_PARTS), "a dataset record's parts")
        return cls(**{part: Outcome.from_json(described, budget) for part, described in data.items()})

    def by_name(self) -> dict[str, Outcome]:
        """The parts by their names, in the order the harness writes them."""
        return {"len": self.len, "str": self.str, "items": self.items}


@dataclass(frozen=True)
class Slopes:
    """Finite differences of a function, one encoded value (a tuple of gradients) per scheme."""

    central: Any
    forward: Any
    backward: Any

    @classmethod
    def from_json(cls, data: Any, budget: _Budget) -> Slopes:
        """``{"central": value, "forward": value, "backward": value}``."""
        _require(isinstance(data, dict), "finite differences are not an object")
        _only(data, set(_SCHEMES), required=True)
        return cls(*(value(data[scheme], budget) for scheme in _SCHEMES))


@dataclass(frozen=True)
class Differentiation:
    """What a differentiable probe measured: a graph that is ``broken`` (the result does not require grad), a
    result that is ``not-a-tensor`` (``returned`` names its type), or (``ok``) autograd's gradient beside
    finite differences of the same function."""

    graph: str
    returned: str | None = None
    autograd: Any = None
    slopes: Slopes | None = None

    @classmethod
    def from_json(cls, data: Any, budget: _Budget) -> Differentiation:
        """The measurement as the harness writes it for each of the three graphs."""
        _require(isinstance(data, dict), "a differentiable measurement is not an object")
        graph = data.get("graph")
        if graph == "broken":
            _only(data, {"graph"})
            return cls(graph)
        if graph == "not-a-tensor":
            _only(data, {"graph", "returned"}, required=True)
            return cls(graph, returned=_text(data["returned"]))
        _require(graph == "ok", "a differentiable measurement's graph")
        _only(data, {"graph", "autograd", *_SCHEMES}, required=True)
        autograd = value(data["autograd"], budget)
        return cls(graph, autograd=autograd, slopes=Slopes(*(value(data[scheme], budget) for scheme in _SCHEMES)))


@dataclass(frozen=True)
class CallRecord:
    """One call of a probe, as the harness writes it.

    A call either raised (``error``) or returned: ``result``, an encoded value (for a differentiable probe, a
    ``Differentiation``), or for a dataset probe its ``dataset`` parts. A call or no-autograd probe's record
    always has ``inputs_after``, ``parameters_kept`` and ``changed``, and ``identity`` when it returned;
    ``inputs`` is left out only by a dataset probe and by an answer key. ``graph`` is the autograd graph of
    the result, as ``grader.graph_text.checked`` keeps it; ``finite_difference`` is measured by the trusted
    run only.
    """

    label: str = ""
    ran: bool = False  # the call ran the course's own code on objects it built (``Call.run``): the label says it all
    seconds: float | None = None  # what the call took; None when the record does not say (an answer key may not)
    output: str = ""
    error: ErrorRecord | None = None
    result: Any = None
    inputs: Arguments | None = None
    inputs_after: Arguments | None = None
    parameters_kept: tuple[bool, ...] = ()
    changed: tuple[str, ...] = ()
    identity: tuple[int | None, ...] = ()  # per returned item: the index of the argument it is, or None
    graph: dict | None = None
    dataset: DatasetParts | None = None
    finite_difference: Slopes | None = None

    @classmethod
    def from_json(cls, data: Any, kind: ProbeKind, trusted: bool = False, budget: _Budget | None = None,
                  slim: bool = False) -> CallRecord:
        """One call's record, as the harness writes it for a probe of ``kind`` (``slim``: as an answer key keeps
        it); ``Malformed`` otherwise."""
        budget = budget or _Budget()
        _require(isinstance(data, dict), "a call record is not an object")
        allowed = {"label", "ran", "seconds", "output", "error", "result", "inputs", "graph"}
        if kind in (ProbeKind.CALL, ProbeKind.NO_AUTOGRAD):
            allowed |= {"inputs_after", "parameters_kept", "changed", "identity"}
        if kind == ProbeKind.DATASET:
            allowed = {"label", "seconds", "output", "error", "dataset"}
        if trusted:
            allowed |= {"finite_difference"}
        _only(data, allowed)
        read: dict[str, Any] = {"label": _text(data.get("label", "")), "output": _text(data.get("output", ""))}
        if "ran" in data:
            _require(data["ran"] is True, "a call's ran flag is not true")
            read["ran"] = True
        if "seconds" in data:
            seconds = data["seconds"]
            _require(type(seconds) is float and 0.0 <= seconds <= MAX_SECONDS, "a call's time is not a time")
            read["seconds"] = seconds
        if "error" in data:
            _require("result" not in data and "dataset" not in data, "a call both raised and returned")
            read["error"] = ErrorRecord.from_json(data["error"])
        elif kind == ProbeKind.DATASET:
            read["dataset"] = DatasetParts.from_json(data.get("dataset"), budget)
        else:
            _require("result" in data, "a call neither raised nor returned")
            if kind == ProbeKind.DIFFERENTIABLE:
                read["result"] = Differentiation.from_json(data["result"], budget)
            else:
                read["result"] = value(data["result"], budget)
        if "inputs" in data or (kind != ProbeKind.DATASET and not slim):
            read["inputs"] = Arguments.from_json(data.get("inputs"), budget)
        if "inputs_after" in data:
            read["inputs_after"] = Arguments.from_json(data["inputs_after"], budget)
        if kind in (ProbeKind.CALL, ProbeKind.NO_AUTOGRAD):
            _require("inputs_after" in data and "parameters_kept" in data and "changed" in data,
                     "a call record lacks what the harness always writes")
            read["parameters_kept"] = _list_of(data["parameters_kept"], lambda item: isinstance(item, bool))
            read["changed"] = _list_of(data["changed"], lambda item: isinstance(item, str) and len(item) <= 200)
            if "result" in data:
                _require("identity" in data, "a call record lacks the identity of what it returned")
                read["identity"] = _list_of(data["identity"], lambda item: item is None or _is_index(item))
        if "finite_difference" in data:
            read["finite_difference"] = Slopes.from_json(data["finite_difference"], budget)
        if "graph" in data:
            _require(isinstance(data["graph"], dict), "a graph is not an object")
            read["graph"] = graph_text.checked(data["graph"])  # None when it is not the worker's description
        return cls(**read)


@dataclass(frozen=True)
class Observation:
    """What one probe observed: ``ok`` with its calls (and, for a transformed probe, its ``transform``),
    ``missing`` (the function could not be had: ``error``), ``not-applicable`` (a transform that does not
    apply to the calls; trusted runs only) or ``malformed`` (it did not read: ``reason``)."""

    status: str
    calls: tuple[CallRecord, ...] = ()
    error: ErrorRecord | None = None
    transform: str | None = None
    reason: str = ""

    @classmethod
    def from_json(cls, data: Any, kind: ProbeKind | str, trusted: bool = False, slim: bool = False) -> Observation:
        """A probe's observation, checked field by field for a probe of ``kind``; ``Malformed`` otherwise.

        ``trusted`` (the reference's own process) also allows what only the reference measures: finite
        differences, and the ``not-applicable`` answer of a transformed call. ``slim``: an answer key's record,
        which leaves out what judging does not need (labels, printed output, the arguments).
        """
        budget = _Budget()
        _require(isinstance(data, dict), "an observation is not an object")
        status = data.get("status")
        if status == "missing":
            _only(data, {"status", "error"})
            return cls(status, error=ErrorRecord.from_json(data.get("error")))
        if status == "not-applicable" and trusted:
            _only(data, {"status", "transform"})
            return cls(status, transform=_text(data.get("transform")))
        _require(status == "ok", f"an observation's status is {str(status)[:40]!r}")
        _only(data, {"status", "calls", "transform"} if trusted else {"status", "calls"})
        transform = _text(data["transform"]) if "transform" in data else None
        calls = data.get("calls")
        _require(isinstance(calls, list), "an observation has no list of calls")
        read = tuple(CallRecord.from_json(record, ProbeKind(kind), trusted, budget, slim) for record in calls)
        return cls(status, read, transform=transform)


def value(data: Any, budget: _Budget | None = None, depth: int = 0) -> Any:
    """An encoded value (what ``grader.worker.encoding.encode`` writes)."""
    budget = budget or _Budget()
    budget.spend()
    _require(depth <= MAX_DEPTH, "a value nested deeper than the encoder nests")
    if data is None or isinstance(data, bool) or _is_number(data):
        return data
    if isinstance(data, str):
        return _text(data)
    _require(isinstance(data, dict), f"a value of type {type(data).__name__}")
    kind = data.get("type")
    if kind == "tensor":
        return tensor(data, budget, depth)
    if kind in ("tuple", "list"):
        _only(data, {"type", "items", "length"}, required=True)
        items = data["items"]
        _require(isinstance(items, list) and _is_index(data["length"]) and len(items) == min(data["length"], MAX_ITEMS),
                 "a sequence's items and length disagree")  # the encoder sends every item, up to MAX_ITEMS
        for item in items:
            value(item, budget, depth + 1)
        return data
    if kind == "dict":
        _only(data, {"type", "items"}, required=True)
        _require(isinstance(data["items"], dict), "a dict's items are not an object")
        for key, item in data["items"].items():
            _text(key)
            value(item, budget, depth + 1)
        return data
    if kind == "object":
        _only(data, {"type", "class", "repr"} | ({"attributes"} if "attributes" in data else set()), required=True)
        _text(data["class"])
        _text(data["repr"])
        if "attributes" in data:  # what the course declared to read of an object of its own class
            _require(isinstance(data["attributes"], dict), "an object's attributes are not an object")
            for name, item in data["attributes"].items():
                _text(name)
                value(item, budget, depth + 1)
        return data
    if kind == "module":
        return _module(data, budget, depth)
    raise Malformed(f"a value of unknown type {str(kind)[:40]!r}")


def tensor(data: Any, budget: _Budget | None = None, depth: int = 0) -> dict:
    """An encoded tensor: a known dtype, a shape, and as many values as the shape holds (twice as many for a
    complex dtype: real and imaginary parts), or, past ``MAX_ELEMENTS``, a summary of four numbers."""
    budget = budget or _Budget()
    _require(isinstance(data, dict) and data.get("type") == "tensor", "not a tensor")
    _only(data, _TENSOR_FIELDS - {"summary"} | ({"summary"} if "summary" in data else set()), required=True)
    _text(data["class"])
    _require(isinstance(data["dtype"], str) and data["dtype"] in TENSOR_DTYPES, "a tensor of unknown dtype")
    shape = data["shape"]
    _require(isinstance(shape, list) and len(shape) <= 32 and all(_is_index(size) for size in shape), "a tensor's shape")
    count = math.prod(shape) * (2 if data["dtype"].startswith("complex") else 1)
    _require(isinstance(data["device"], str) and len(data["device"]) <= 40, "a tensor's device")
    for flag in ("requires_grad", "is_leaf"):
        _require(isinstance(data[flag], bool), f"a tensor's {flag} is not true or false")
    _require(data["grad_fn"] is None or (isinstance(data["grad_fn"], str) and len(data["grad_fn"]) <= 200),
             "a tensor's grad_fn")
    values = data["data"]
    if values is None:
        _require(count > MAX_ELEMENTS, "a tensor without its values")
        _require(isinstance(data.get("summary"), list) and len(data["summary"]) == 4
                 and all(type(number) is float for number in data["summary"]), "a large tensor without its summary")
    else:
        _require("summary" not in data and isinstance(values, list) and len(values) == count,
                 "a tensor whose values do not fill its shape")
        budget.left -= len(values)
        _require(budget.left >= 0 and all(type(number) is float for number in values), "a tensor's values are not numbers")
    if data["grad"] is not None:
        _require(depth < MAX_DEPTH, "a gradient nested too deep")
        tensor(data["grad"], budget, depth + 1)
    return data


def _module(data: dict, budget: _Budget, depth: int) -> dict:
    _only(data, {"type", "class", "training", "state", "parameters"}, required=True)
    _text(data["class"])
    _require(isinstance(data["training"], bool), "a module's training flag")
    state = data["state"]
    _require(isinstance(state, dict) and state.get("type") == "dict", "a module's state is not a dict")
    value(state, budget, depth + 1)
    _require(all(isinstance(item, dict) and item.get("type") == "tensor" for item in state["items"].values()),
             "a module's state holds something other than tensors")
    _require(isinstance(data["parameters"], dict), "a module's parameters")
    for name, flags in data["parameters"].items():
        _text(name)
        _require(isinstance(flags, dict) and set(flags) == {"is_leaf", "requires_grad"}
                 and all(isinstance(flag, bool) for flag in flags.values()), "a module parameter's flags")
    return data


def _only(data: dict, allowed: set[str], required: bool = False) -> None:
    """``data`` has no field outside ``allowed`` (and, with ``required``, every one of them)."""
    extra = set(data) - allowed
    _require(not extra, f"unexpected field {sorted(map(str, extra))[0][:40]!r}" if extra else "")
    if required:
        missing = allowed - set(data)
        _require(not missing, f"missing field {sorted(missing)[0]!r}" if missing else "")


def _list_of(data: Any, accepts) -> tuple:
    _require(isinstance(data, list) and len(data) <= 10_000 and all(accepts(item) for item in data), "a list of flags")
    return tuple(data)


def _text(data: Any) -> str:
    _require(isinstance(data, str) and len(data) <= MAX_TEXT, "text that is not text, or too long")
    return data


def _is_number(data: Any) -> bool:
    return type(data) in (int, float)


def _is_index(data: Any) -> bool:
    return type(data) is int and 0 <= data < 2**62


def _require(condition: bool, problem: str) -> None:
    if not condition:
        raise Malformed(problem)


def read_observations(observations: dict, probes: list[Probe]) -> dict[str, Observation]:
    """The student's observations of the probes asked for, each read once into an ``Observation``: one that does
    not read becomes ``Observation("malformed", reason=...)``, which fails its function; anything not asked
    for is dropped."""
    read = {}
    for probe in probes:
        if probe.id not in observations:
            continue
        try:
            read[probe.id] = Observation.from_json(observations[probe.id], probe.kind)
        except (Malformed, RecursionError) as problem:
            read[probe.id] = Observation("malformed", reason=str(problem)[:200])
    return read
