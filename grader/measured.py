"""Diagnoses measured from a failure itself: the student's result against the reference's on the same call.

Runs in the grader's own process, on the records ``grader.records`` read, with numpy only. Used when no declared
wrong variant gives what the student got. What it can find, each stated as measured:
- the result is k times the reference's (named when the course gave k a meaning for the function,
  ``sign-flipped`` for k = -1); per returned item, which are right and which are wrong, and for a
  tensor which elements (a row, a column, the diagonal, one index);
- the result is the reference's transposed, or its (N,) vector as an (N, 1) column, or an (N, N)
  matrix whose diagonal is the expected vector;
- the result equals the reference's on a transformed call (``grader.worker.transforms``);
- a training trajectory: the first call where it leaves the reference's, and how its step differs.
Where nothing fits, nothing is named; a check's declared ``failure_means`` names any other failure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from grader import compare
from grader.assignment import CheckSpec, FunctionSpec
from grader.diagnosis import Catalogue
from grader.records import CallRecord, Observation

FACTOR_RTOL = 1e-3
CLEAR_STEPS = 1000.0  # a training step this many units of the parameters' float resolution measures cleanly
_EPSILON = {"float16": 2.0**-10, "bfloat16": 2.0**-7, "float32": 2.0**-23, "float64": 2.0**-52}
_VALUE_KINDS = ("returns", "no-autograd", "finite-difference", "backward")


@dataclass
class Finding:
    """What was measured (lines for the report) and the mistake it names, if any."""

    lines: list[str] = field(default_factory=list)
    mistake: str | None = None
    clarity: float = math.inf  # how far the measurement stands above float resolution (a training step, in units)


def clearest(findings: list[Finding]) -> Finding:
    """One finding from the measurements of several failing calls: the clearest one that names a mistake, named
    only when no other clear measurement names another one (precision before recall)."""
    naming = sorted((f for f in findings if f.mistake), key=lambda f: f.clarity, reverse=True)
    if not naming:
        return max(findings, key=lambda f: f.clarity, default=Finding())
    best = naming[0]
    rivals = {f.mistake for f in naming if f.clarity >= min(best.clarity, CLEAR_STEPS)} - {best.mistake}
    if rivals:
        return Finding(best.lines + [f"measured: other failing calls measure otherwise ({', '.join(sorted(rivals))}), "
                                     "so no mistake is named"], None, best.clarity)
    return best


@dataclass(frozen=True)
class Context:
    """What a measurement needs to know about the function and the call."""

    spec: FunctionSpec
    check: CheckSpec
    catalogue: Catalogue
    samples: int | None  # N, the number of samples of the call, when the function declares it


def diagnose(spec: FunctionSpec, check: CheckSpec, probe: str, observed: Observation, expected: Observation, call: int,
             alternatives: list[tuple[str, dict[str, Observation]]], catalogue: Catalogue) -> Finding:
    """Measure a failing call (index ``call`` of the probe) against the reference; never raises on any encoding."""
    mine, theirs = _call(observed, call), _call(expected, call)
    if mine is None or mine.error:
        return Finding()
    context = Context(spec, check, catalogue, _samples(spec, mine))
    if check.kind == "training":
        finding = _trajectory(context, observed, expected)
    elif check.kind in _VALUE_KINDS and theirs is not None:
        finding = (_transformed(context, probe, observed, alternatives) if check.kind == "returns" else None) \
            or _values(context, *_compared(check, mine, theirs))
    else:
        finding = Finding()
    if finding.mistake is None and check.failure_means:
        finding.lines.append(f"measured: this check failed, and the course declares that any failure of it is "
                             f"{check.failure_means}")
        finding.mistake = check.failure_means
    return finding


def _call(observation: Observation, index: int) -> CallRecord | None:
    return observation.calls[index] if 0 <= index < len(observation.calls) else None


def _samples(spec: FunctionSpec, call: CallRecord) -> int | None:
    """The first dimension of the function's declared ``samples`` argument in this call."""
    args = call.inputs.args if call.inputs else ()
    if spec.samples is None or spec.samples >= len(args) or not compare.is_tensor(args[spec.samples]):
        return None
    shape = args[spec.samples]["shape"]
    return int(shape[0]) if shape else None


def _compared(check: CheckSpec, mine: CallRecord, theirs: CallRecord) -> tuple[Any, Any]:
    """The student's value and the one it should equal: the reference's result, or its finite differences."""
    if check.kind not in ("finite-difference", "backward"):
        return mine.result, theirs.result
    central = theirs.finite_difference.central if theirs.finite_difference else None
    items = compare.items_of(central)
    got = mine.result
    if len(items) > 1 or check.kind == "backward":
        return got, {"type": "tuple", "items": items, "length": len(items)}
    return got, central


# --- automatic variants: the reference on transformed calls ---

def _transformed(context: Context, probe: str, observed: Observation,
                 alternatives: list[tuple[str, dict[str, Observation]]]) -> Finding | None:
    """The transform whose reference result the student's equals on every call of the probe."""
    for mistake, observations in alternatives:
        theirs = observations.get(probe)
        if not (theirs and theirs.status == "ok" and theirs.transform):
            continue
        if observed.calls and len(observed.calls) == len(theirs.calls) and all(
                mine.error is None and other.error is None and compare.compare(
                    mine.result, other.result, context.check.rtol, context.check.atol, context.check.attributes) is None
                for mine, other in zip(observed.calls, theirs.calls)):
            return Finding([f"measured: the result equals the reference's with {_transform_text(context, theirs.transform)}"],
                           mistake)
    return None


def _transform_text(context: Context, transform: str) -> str:
    names = context.spec.parameter_names
    name, *positions = str(transform).split("-")
    named = [names[int(p)] if p.isdigit() and int(p) < len(names) else f"argument {p}" for p in positions]
    if name == "column" and named:
        return f"{named[0]} turned from an (N,) vector into an (N, 1) column"
    if name == "swap" and len(named) == 2:
        return f"{named[0]} and {named[1]} swapped"
    return "its float64 inputs cast to float32" if name == "float32" else f"the call transformed ({transform})"


# --- values: factors, items, elements, shapes ---

@dataclass
class _Item:
    """One returned item measured: right, or what is wrong with it (and the mistake that alone would name)."""

    right: bool
    text: str = ""
    factor: float | None = None
    mistake: str | None = None


def _values(context: Context, got: Any, wanted: Any) -> Finding:
    """Per returned item: right or wrong, and how; a mistake when every wrong item says the same one."""
    paired = _paired(got, wanted)
    if paired is None:
        return Finding()
    names = _item_names(context, len(paired))
    measured = [_item(context, mine, theirs) for mine, theirs in paired]
    if any(item is None for item in measured):
        return Finding()
    wrong = [item for item in measured if not item.right]
    if not wrong:
        return Finding()
    if len(measured) == 1:
        line = measured[0].text
    elif _common_factor(measured) is not None:
        line = _factor_text(context, _common_factor(measured), 2)
    elif any(item.right or item.text for item in measured):
        line = "; ".join(f"{name} is right" if item.right else f"{name}: {item.text or 'differs'}"
                         for name, item in zip(names, measured))
    else:
        line = ""
    factor = _common_factor(wrong)
    if factor is not None and factor < 0 and len(wrong) < len(measured):
        return Finding([f"measured: {line}"] if line else [])  # one item's sign is not the whole result's direction
    mistakes = {_factor_mistake(context, factor)} if factor is not None else {item.mistake for item in wrong}
    return Finding([f"measured: {line}"] if line else [], mistakes.pop() if len(mistakes) == 1 else None)


def _common_factor(items: list[_Item]) -> float | None:
    """The factor every one of the items is off by, if they share one."""
    factors = [item.factor for item in items]
    if None in factors or not all(_same(factor, factors[0]) for factor in factors):
        return None
    return factors[0]


def _paired(got: Any, wanted: Any) -> list[tuple[Any, Any]] | None:
    """Item by item when both are sequences of one length, else the two values as one pair."""
    if isinstance(wanted, dict) and wanted.get("type") in ("tuple", "list"):
        if not (isinstance(got, dict) and got.get("type") in ("tuple", "list")):
            return None
        mine, theirs = compare.items_of(got), compare.items_of(wanted)
        return list(zip(mine, theirs)) if len(mine) == len(theirs) else None
    return [(got, wanted)]


def _item_names(context: Context, count: int) -> list[str]:
    returns = list(context.spec.returns)
    if len(returns) >= count:
        return returns[:count]
    return [f"item {index + 1}" for index in range(count)]


def _array(value: Any) -> np.ndarray | None:
    if compare.is_tensor(value):
        try:
            return compare.as_array(value)
        except (TypeError, ValueError):
            return None
    return compare.numeric(value)


def _item(context: Context, got: Any, wanted: Any) -> _Item | None:
    """One item measured; None when its values cannot be compared at all."""
    mine, theirs = _array(got), _array(wanted)
    if mine is None or theirs is None or mine.size == 0 or theirs.size == 0:
        return None
    rtol, atol = context.check.rtol, context.check.atol
    with np.errstate(all="ignore"):
        if mine.shape != theirs.shape:
            return _shape_item(mine, theirs, rtol, atol)
        if np.allclose(mine, theirs, rtol=rtol, atol=atol):
            return _Item(True)
        factor = compare.constant_factor(mine, theirs)
        if factor is not None and (mine.size > 1 or compare.is_whole_factor(factor) or _factor_mistake(context, factor)):
            return _Item(False, _factor_text(context, factor, mine.size), factor)
        if mine.ndim == 2 and mine.shape[0] == mine.shape[1] and np.allclose(mine, theirs.T, rtol=rtol, atol=atol):
            return _Item(False, "the expected matrix transposed", mistake="transposed-result")
        return _partial_factor(context, mine, theirs) or _Item(False, _where(mine, theirs, rtol, atol))


def _partial_factor(context: Context, mine: np.ndarray, theirs: np.ndarray) -> _Item | None:
    """Some elements k times the expected ones and the others right: which, and k (named like a whole factor
    when the course declares it, or when it is whole)."""
    rtol, atol = context.check.rtol, context.check.atol
    wrong = ~np.isclose(mine, theirs, rtol=rtol, atol=atol)
    count = int(wrong.sum())
    if mine.size < 2 or not 0 < count < mine.size:
        return None
    factor = compare.constant_factor(mine[wrong], theirs[wrong])
    if factor is None or not (compare.is_whole_factor(factor) or _factor_mistake(context, factor)):
        return None
    pattern = _where(mine, theirs, rtol, atol)
    return _Item(False, f"{count} of {mine.size} values are {factor:.4g} times the expected ones, the others are right"
                        + (f" ({pattern})" if pattern else ""), factor)


def _shape_item(mine: np.ndarray, theirs: np.ndarray, rtol: float, atol: float) -> _Item:
    """A result of another shape that holds the expected values: transposed, as a column, or as (N, N)."""
    shape, expected = tuple(mine.shape), tuple(theirs.shape)
    if mine.ndim == 2 and shape == expected[::-1] and np.allclose(mine, theirs.T, rtol=rtol, atol=atol):
        return _Item(False, f"the expected {expected} matrix transposed", mistake="transposed-result")
    if theirs.ndim == 1 and shape in ((theirs.size, 1), (1, theirs.size)) and np.allclose(mine.reshape(-1), theirs, rtol=rtol, atol=atol):
        return _Item(False, f"the expected values, as shape {shape} instead of {expected}", mistake="broadcast-shape")
    if theirs.ndim == 1 and theirs.size > 1 and shape == (theirs.size, theirs.size) \
            and np.allclose(np.diagonal(mine), theirs, rtol=rtol, atol=atol):
        return _Item(False, f"a {shape} matrix whose diagonal is the expected {expected} vector", mistake="broadcast-shape")
    return _Item(False, f"shape {shape} instead of {expected}")


def _where(mine: np.ndarray, theirs: np.ndarray, rtol: float, atol: float) -> str:
    """Which elements differ, when that is a pattern: one index, one row, one column, the diagonal."""
    wrong = ~np.isclose(mine, theirs, rtol=rtol, atol=atol)
    count = int(wrong.sum())
    if mine.size < 2 or count == 0 or count == mine.size:
        return ""
    if count == 1:
        index = ", ".join(str(int(i)) for i in np.unravel_index(int(np.argmax(wrong)), wrong.shape))
        return f"only [{index}] differs"
    if mine.ndim != 2:
        return ""
    rows, columns = np.flatnonzero(wrong.any(axis=1)), np.flatnonzero(wrong.any(axis=0))
    if wrong.shape[0] == wrong.shape[1] and np.array_equal(wrong, np.eye(wrong.shape[0], dtype=bool)):
        return "only the diagonal differs"
    if len(rows) == 1:
        return f"only row {int(rows[0])} differs"
    if len(columns) == 1:
        return f"only column {int(columns[0])} differs"
    return ""


def _factor_text(context: Context, factor: float, size: int) -> str:
    meaning = f" (N = {context.samples}, the number of samples)" if context.samples and _same(factor, context.samples) else ""
    if size > 1:
        return f"every value is {factor:.4g} times the expected one{meaning}"
    return f"{factor:.4g} times the expected value{meaning}"


def _same(factor: float, value: float) -> bool:
    return abs(factor - value) <= FACTOR_RTOL * max(abs(value), 1e-12)


def _factor_mistake(context: Context, factor: float, training: bool = False) -> str | None:
    """The function's mistake whose declared factor is this one; ``sign-flipped`` for -1 (values only)."""
    for mistake in _function_mistakes(context):
        declared = context.catalogue.get(mistake)
        for value in declared.factors if declared else ():
            number = context.samples if value == "N" else value
            if number is not None and _same(factor, float(number)):
                return mistake
    return None if training or not _same(factor, -1.0) else "sign-flipped"


def _function_mistakes(context: Context) -> list[str]:
    """The mistakes the course declares for this function (in any of its checks), in order."""
    return list(dict.fromkeys(m for check in context.spec.checks for m in (*check.mistakes, check.failure_means) if m))


# --- training: where the trajectory leaves the reference's, and how ---

def _trajectory(context: Context, observed: Observation, expected: Observation) -> Finding:
    """Compare the parameters after each call (calls train for more and more epochs) and the steps between them."""
    mine, theirs = observed.calls, expected.calls
    if not mine or len(mine) != len(theirs) or any(call.error for call in mine):
        return Finding()
    start = _parameters(theirs[0], mine[0], before=True)
    path = [_parameters(call, mine[0], reference=theirs[0]) for call in mine]
    reference = [_parameters(call, mine[0], reference=theirs[0]) for call in theirs]
    if start is None or any(p is None or p.shape != start.shape for p in path + reference):
        return Finding()
    rtol, atol = context.check.rtol, context.check.atol
    with np.errstate(all="ignore"):
        left = next((c for c in range(len(path)) if not np.allclose(path[c], reference[c], rtol=rtol, atol=atol)), None)
        if left is None or not np.all(np.isfinite(path[left])):
            return Finding()
        previous = path[left - 1] if left else start
        step, right_step = path[left] - previous, reference[left] - (reference[left - 1] if left else start)
        where = f"the trajectory leaves the reference's at {_label(mine[left], left)}"
        unit = _EPSILON.get(_dtype(mine[0]), _EPSILON["float32"]) * max(float(np.max(np.abs(reference[left]))), 1e-30)
        return _step(context, where, step, right_step, path[left - 1] - (path[left - 2] if left > 1 else start) if left else None, unit)


def _dtype(call: CallRecord) -> str:
    """The dtype of the call's first tensor argument (what its parameters are made of)."""
    return next((str(a["dtype"]) for a in call.inputs.args if compare.is_tensor(a)), "float32") if call.inputs else "float32"


def _step(context: Context, where: str, step: np.ndarray, right_step: np.ndarray, previous_step: np.ndarray | None,
          unit: float) -> Finding:
    """How one step differs from the reference's: none, k times it, or it plus the previous step. ``unit``: the
    parameters' float resolution, which makes the measurement's clarity (how many units the steps span)."""
    scale = float(np.max(np.abs(right_step))) if right_step.size else 0.0
    moved = float(np.max(np.abs(step))) if step.size else 0.0
    if scale == 0.0:
        return Finding([f"measured: {where}"])
    if moved <= 1e-6 * scale:
        return Finding([f"measured: {where}: the parameters did not move"], _factor_mistake(context, 0.0, True) or "no-update",
                       scale / unit)
    clarity = min(moved, scale) / unit
    if previous_step is not None and np.allclose(step, right_step + previous_step, rtol=FACTOR_RTOL, atol=1e-6 * scale):
        declared = next((m for m in _function_mistakes(context) if getattr(context.catalogue.get(m), "accumulated_steps", False)), None)
        return Finding([f"measured: {where}: its step is the reference's step plus the previous step"],
                       declared or "accumulated-steps", clarity)
    factor = compare.constant_factor(step, right_step)
    if factor is not None and (step.size > 1 or compare.is_whole_factor(factor) or _factor_mistake(context, factor, True)):
        way = ": the opposite direction" if factor < 0 else ""
        return Finding([f"measured: {where}: its step is {factor:.4g} times the reference's step{way}"],
                       _factor_mistake(context, factor, True) or "scaled-step", clarity)
    return Finding([f"measured: {where}"], None, clarity)


def _label(call: CallRecord, index: int) -> str:
    return f"the call {call.label}" if call.label else f"call {index + 1}"


def _parameters(call: CallRecord, first: CallRecord, before: bool = False,
                reference: CallRecord | None = None) -> np.ndarray | None:
    """The trained values of one call, flattened: each returned tensor that stands for a tensor argument (same
    shape, in order), then each nn.Module argument's state. ``before``: the arguments' values before the call.
    Which items count is decided on the reference's first call (``reference``) or the call itself."""
    arguments = first.inputs.args  # the student's call: a call probe's record always has its arguments
    shapes = [tuple(a["shape"]) if compare.is_tensor(a) else None for a in arguments]
    template = compare.items_of((reference or call).result)
    values, used = [], set()
    for position, item in enumerate(compare.items_of(call.result)):
        wanted = template[position] if position < len(template) else None
        slot = next((i for i, shape in enumerate(shapes) if i not in used and compare.is_tensor(wanted)
                     and shape == tuple(wanted.get("shape", ()))), None)
        if slot is None:
            continue
        used.add(slot)
        values.append(_array(arguments[slot] if before else item))
    after = call.inputs_after.args
    for position, argument in enumerate(arguments):
        if isinstance(argument, dict) and argument.get("type") == "module":
            state = argument if before else (after[position] if position < len(after) else None)
            values += [_array(v) for v in _items_of_state(state)]
    if not values or any(v is None for v in values):
        return None
    return np.concatenate([np.ravel(v) for v in values])


def _items_of_state(module: Any) -> list:
    state = module.get("state", {}) if isinstance(module, dict) else {}
    items = state.get("items", {}) if isinstance(state, dict) else {}
    return list(items.values()) if isinstance(items, dict) else []
