"""What a student's run returned, reduced for the class view: one digest per function, and the
trajectories of the training functions (runs in the grader's process, on the records ``grader.records`` read).

Every student of one grading run gets the same inputs, so two students whose functions return
the same values get the same digest: the class summary groups them without comparing code.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import fields, is_dataclass
from typing import Any

from grader.assignment import FunctionSpec
from grader.compare import numeric
from grader.plan import probes_for_check
from grader.records import CallRecord, Observation


def numbers(value: Any) -> list[float]:
    """Every number of an encoded value, flattened in order (tensors, tuples, lists, dicts, numbers)."""
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, (int, float)):
        return [float(numeric(value))]
    if not isinstance(value, dict):
        return []
    if value.get("type") == "tensor":
        return [float(v) for v in value.get("data") or []]
    if value.get("type") in ("tuple", "list"):
        return [n for item in value.get("items", []) for n in numbers(item)]
    if value.get("type") in ("dict", "module"):
        items = value.get("items") or value.get("state", {}).get("items", {})
        return [n for key in sorted(items) for n in numbers(items[key])]
    return []


def number_names(value: Any, name: str = "", item_names: tuple[str, ...] = ()) -> list[str]:
    """A name for each number ``numbers`` gives, in the same order: ``W[0]``, ``b[0]``, ``[2]``
    (``item_names``: the contract's names for the items of a returned tuple)."""
    if isinstance(value, bool) or value is None or not isinstance(value, (int, float, dict)):
        return []
    if isinstance(value, (int, float)):
        return [name or "value"]
    if value.get("type") == "tensor":
        count = len(value.get("data") or [])
        return [name or "value"] * count if value.get("shape") == [] else [f"{name}[{i}]" for i in range(count)]
    if value.get("type") in ("tuple", "list"):
        items = value.get("items", [])
        labels = item_names if len(item_names) == len(items) else [f"{name}[{index}]" for index in range(len(items))]
        return [n for label, item in zip(labels, items) for n in number_names(item, label)]
    if value.get("type") in ("dict", "module"):
        items = value.get("items") or value.get("state", {}).get("items", {})
        return [n for key in sorted(items) for n in number_names(items[key], f"{name}[{key!r}]" if name else str(key))]
    return []


def _returned(call: CallRecord) -> dict:
    """What a call's digest covers: what it returned, its arguments after it, and the type of what it raised."""
    return {"result": _stable(call.result), "inputs_after": _stable(call.inputs_after),
            "error_type": call.error.type if call.error else None}


def _stable(value: Any) -> Any:
    """An encoded value, or a record of them, as plain data without the reprs of plain objects (a loader's repr
    holds its memory address)."""
    if is_dataclass(value):
        return {part.name: _stable(getattr(value, part.name)) for part in fields(value)}
    if isinstance(value, (list, tuple)):
        return [_stable(item) for item in value]
    if isinstance(value, dict):
        if value.get("type") == "object":  # the class, and what the course declared to read of it (never its repr)
            return {"type": "object", "class": value.get("class"), "attributes": _stable(value.get("attributes"))}
        return {key: _stable(item) for key, item in value.items()}
    return value


def fingerprints(specs: list[FunctionSpec], observations: dict[str, Observation]) -> dict[str, str]:
    """Function name to a digest of what it returned on every probe (functions that never ran have none)."""
    digests = {}
    for spec in specs:
        seen = {probe.id: observations[probe.id] for check in spec.checks
                for probe in probes_for_check(spec, check) if probe.id in observations}
        if not seen:
            continue
        returned = {probe: [_returned(call) for call in observation.calls]
                    for probe, observation in sorted(seen.items())}
        text = json.dumps(returned, sort_keys=True, default=str)
        digests[spec.name] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return digests


def trajectories(specs: list[FunctionSpec], observations: dict[str, Observation],
                 reference: dict[str, Observation]) -> dict[str, dict]:
    """For each training check's first input case: the call labels, and what the student's and the
    reference's calls returned, as flat lists of numbers (non-finite values become None)."""
    found = {}
    for spec in specs:
        check = next((c for c in spec.checks if c.kind == "training"), None)
        if check is None:
            continue
        probe = probes_for_check(spec, check)[0].id
        mine, theirs = observations.get(probe), reference.get(probe)
        if mine is None or theirs is None or mine.status != "ok":
            continue
        first = theirs.calls[0].result if theirs.calls else None
        found[spec.name] = {"labels": [call.label for call in theirs.calls][:PLOTTED_CALLS],
                            "parameters": number_names(first, item_names=spec.returns)[:PLOTTED_NUMBERS],
                            "got": [_finite(numbers(call.result)) for call in mine.calls[:PLOTTED_CALLS]],
                            "expected": [_finite(numbers(call.result)) for call in theirs.calls[:PLOTTED_CALLS]]}
    return found


PLOTTED_LIMIT = 1e100  # a parameter beyond this is drawn as off the chart, like an infinity
PLOTTED_NUMBERS, PLOTTED_CALLS = 64, 16  # what a trajectory keeps: the report draws no more, and records stay small


def _finite(values: list[float]) -> list[float | None]:
    return [v if math.isfinite(v) and abs(v) <= PLOTTED_LIMIT else None for v in values[:PLOTTED_NUMBERS]]
