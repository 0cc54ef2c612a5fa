"""The check kinds: for each, the probe it needs, what it tells the student it verifies, and how it judges
one call of the student's against the reference's (runs in the grading process, on the records
``grader.records`` read).

A course names kinds in ``assignment.toml``; ``CHECK_KINDS`` is the one place that knows each of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from grader import compare
from grader.records import CallRecord, Differentiation, Slopes
from grader.results import FAIL, PASS

if TYPE_CHECKING:
    from grader.assignment import CheckSpec, FunctionSpec

FINITE_DIFFERENCE_THRESHOLD = 1e-4
DIFFERENTIABLE_THRESHOLD = 1e-2


class GraderBug(RuntimeError):
    """The reference itself failed: a problem of the grader or the course, never the student's."""



@dataclass
class Verdict:
    """What one call showed: nothing wrong (None fields), or a status with its explanation."""

    status: str = PASS
    message: str = ""
    mistake: str | None = None
    details: list[str] = field(default_factory=list)
    output: str = ""
    call: int = 0  # which call of the probe showed it
    graphs: dict | None = None  # the autograd graphs of a failing autograd check: the student's and the reference's




def _judge_returns(spec: FunctionSpec, check: CheckSpec, got: CallRecord, wanted: CallRecord) -> Verdict:
    """What the kind compares (the result; an argument's .grad; what a training changed) equals the reference's."""
    mismatch = difference(check.kind, got, wanted, check)
    if mismatch is None:
        return Verdict()
    if got.result is None and wanted.result is not None:
        return Verdict(FAIL, "returned None", "no-return", [f"expected: {compare.show(wanted.result)}"])
    return _mismatch_verdict(_named(spec, mismatch))


def _judge_training(spec: FunctionSpec, check: CheckSpec, got: CallRecord, wanted: CallRecord) -> Verdict:
    """The training data stays as given, and the trajectory is the reference's."""
    if got.changed:
        return Verdict(FAIL, f"{got.changed[0]} changed", "input-mutated")
    return _judge_returns(spec, check, got, wanted)


def _judge_dataset(spec: FunctionSpec, check: CheckSpec, got: CallRecord, wanted: CallRecord) -> Verdict:
    """The dataset's length, text and items equal the reference's."""
    mismatch = difference(check.kind, got, wanted, check)
    return Verdict() if mismatch is None else _mismatch_verdict(mismatch)


def _judge_unchanged(spec: FunctionSpec, check: CheckSpec, got: CallRecord, wanted: CallRecord) -> Verdict:
    """The arguments are what they were before the call."""
    return _unchanged(got)


def _judge_differentiable(spec: FunctionSpec, check: CheckSpec, got: CallRecord, wanted: CallRecord) -> Verdict:
    """Autograd's gradient through the student's function matches finite differences of it."""
    return _differentiable(got.result)


def _named(spec: FunctionSpec, mismatch: compare.Mismatch) -> compare.Mismatch:
    """``[0]`` of a returned tuple as the contract names it (``W``), when the declaration names the items."""
    item = re.match(r"\[(\d+)\]", mismatch.where)
    if item and int(item[1]) < len(spec.returns):
        mismatch.where = spec.returns[int(item[1])] + mismatch.where[item.end():]
    return mismatch


def _mismatch_verdict(mismatch: compare.Mismatch) -> Verdict:
    return Verdict(FAIL, mismatch.describe(), None, [f"got:      {mismatch.got}", f"expected: {mismatch.expected}"])


def difference(kind: str, got: CallRecord, wanted: CallRecord, check: CheckSpec,
               nan_equal: bool = False) -> compare.Mismatch | None:
    """The first difference between two observations of one call, as this kind of check sees it (``nan_equal``:
    a nan agrees with a nan in the same place)."""
    if got.error:
        return compare.Mismatch("", "raised", got.error.message, "a result")
    if kind == "dataset":
        expected = wanted.dataset.by_name()
        for part, mine in got.dataset.by_name().items():
            theirs = expected[part]
            if mine.error:
                return compare.Mismatch(part, f"raised {mine.error.message}", "", compare.show(theirs.result))
            if theirs.error:
                raise GraderBug(f"the expected {DATASET_PARTS[part]} raised {theirs.error.message}")
            mismatch = compare.compare(mine.result, theirs.result, check.rtol, check.atol, where=DATASET_PARTS[part],
                                       nan_equal=nan_equal)
            if mismatch:
                return mismatch
        return None
    if kind == "leaf-gradient":
        return compare.compare(_argument(got, check.argument), _argument(wanted, check.argument),
                               check.rtol, check.atol, ("grad",), _argument_name(check, check.argument), nan_equal)
    mismatch = compare.compare(got.result, wanted.result, check.rtol, check.atol, check.attributes, nan_equal=nan_equal)
    if mismatch is None and kind == "training":
        mismatch = _state_after(got, wanted, check, nan_equal)
    if mismatch is None and "new_object" in check.attributes and any(i is not None for i in got.identity):
        return compare.Mismatch("", "returned the input tensor itself, not a new tensor", "the same object", "a new tensor")
    return mismatch


def _argument(record: CallRecord, position: int) -> Any:
    """An argument after the call (a call probe's record always has them), or None past the last one."""
    arguments = record.inputs_after.args
    return arguments[position] if position < len(arguments) else None


def _argument_name(check: CheckSpec, position: int) -> str:
    return check.names[position] if position < len(check.names) else f"argument {position + 1}"


def _state_after(got: CallRecord, wanted: CallRecord, check: CheckSpec,
                 nan_equal: bool = False) -> compare.Mismatch | None:
    """What training changed in its arguments: every nn.Module's state, and the arguments declared in ``after``."""
    for position, expected in enumerate(wanted.inputs_after.args):
        is_module = isinstance(expected, dict) and expected.get("type") == "module"
        if not is_module and position not in check.after:
            continue
        mismatch = compare.compare(_argument(got, position), expected, check.rtol, check.atol, (),
                                   f"{_argument_name(check, position)} after the call", nan_equal)
        if mismatch:
            return mismatch
    return None


DATASET_PARTS = {"len": "len(dataset)", "str": "str(dataset)", "items": "dataset[idx]"}  # items stacked over idx


def _unchanged(got: CallRecord) -> Verdict:
    for index, (before, after) in enumerate(zip(got.inputs.args, got.inputs_after.args)):
        mismatch = compare.compare(after, before, 0.0, 0.0, ("requires_grad",), f"argument {index + 1}")
        if mismatch:
            return Verdict(FAIL, f"changed its input: {mismatch.describe()}", "input-mutated",
                           [f"before:   {mismatch.expected}", f"after:    {mismatch.got}"])
    return Verdict()


def _differentiable(measured: Differentiation) -> Verdict:
    if measured.graph == "broken":
        return Verdict(FAIL, "its result does not require grad: the autograd graph is broken", "graph-broken")
    if measured.graph == "not-a-tensor":
        return Verdict(FAIL, f"returned a {measured.returned[:40]}, not a tensor: no gradient can flow "
                             "back through it", "graph-broken")
    slopes = _slopes(measured.slopes)
    for index, item in enumerate(compare.items_of(measured.autograd)):
        error, _ = _slope_error(item, *(values[index] if index < len(values) else None for values in slopes))
        if not error <= DIFFERENTIABLE_THRESHOLD:
            return Verdict(FAIL, f"autograd's gradient for input {index + 1} differs from finite differences "
                                 f"(relative error {error:.2g} > {DIFFERENTIABLE_THRESHOLD:g})", "graph-broken",
                           [f"autograd:           {compare.show(item)}",
                            f"finite differences: {compare.show(slopes[0][index] if index < len(slopes[0]) else None)}"])
    return Verdict()


def _slopes(slopes: Slopes) -> list[list]:
    """The central, forward and backward differences, item by item."""
    return [compare.items_of(scheme) for scheme in (slopes.central, slopes.forward, slopes.backward)]


def _slope_error(item: Any, central: Any, forward: Any, backward: Any) -> tuple[float, np.ndarray | None]:
    """The relative error of ``item`` against the finite differences (a kink accepts either slope), and the
    nearest reference values; inf when ``item`` is not numbers of the right shape."""
    reference = compare.as_array(central) if compare.is_tensor(central) else None
    values = compare.as_array(item) if compare.is_tensor(item) else compare.numeric(item)
    if reference is None or values is None or np.shape(values) != reference.shape:
        return float("inf"), None
    one_sided = [compare.as_array(side) if compare.is_tensor(side) else None for side in (forward, backward)]
    one_sided = [side if side is not None and side.shape == reference.shape else reference for side in one_sided]
    nearest = compare.nearest_slope(values, reference, *one_sided)
    return compare.relative_error(values, nearest), nearest


def _leaf_parameters(spec: FunctionSpec, check: CheckSpec, got: CallRecord) -> Verdict:
    result = got.result
    returned = compare.items_of(result) if isinstance(result, dict) and result.get("type") in ("tuple", "list") else [result]
    identity, kept = got.identity, got.parameters_kept
    for position in check.parameters:
        name = _argument_name(check, position)
        after = _argument(got, position)
        if isinstance(after, dict) and after.get("type") == "module":
            problems = [f"{name}.{parameter} is no longer a leaf that requires grad"
                        for parameter, state in after["parameters"].items()
                        if not (state["is_leaf"] and state["requires_grad"])]
            if position < len(kept) and not kept[position]:
                problems.insert(0, f"{name}'s parameters were replaced by new tensors")
            if problems:
                return Verdict(FAIL, problems[0], "non-leaf-update")
            continue
        slot = spec.returns.index(name) if name in spec.returns else None
        item = returned[slot] if slot is not None and slot < len(returned) else after
        if not compare.is_tensor(item):
            return Verdict(FAIL, f"returned {compare.show(result)}, expected {', '.join(spec.returns) or 'tensors'}",
                           "no-return" if result is None else None)
        problems = [text for bad, text in ((not item["is_leaf"], "is not a leaf tensor"),
                                           (not item["requires_grad"], "does not require grad"),
                                           (slot is not None and (slot >= len(identity) or identity[slot] != position),
                                            "is not the tensor that was passed in")) if bad]
        if problems:
            return Verdict(FAIL, f"the returned {name} " + " and ".join(problems), "non-leaf-update",
                           [f"returned {name}: {compare.show(item)}"])
    return Verdict()


def _finite_difference(spec: FunctionSpec, check: CheckSpec, got: CallRecord, wanted: CallRecord) -> Verdict:
    """The student's gradients (returned, or from a custom backward) against the reference's finite differences."""
    expected = wanted.finite_difference
    if expected is None:
        raise GraderBug(f"the reference run measured no finite differences for {spec.name}")
    mine = got.result
    if mine is None:
        return Verdict(FAIL, "returned None", "no-return")
    slopes = _slopes(expected)
    mine_items = compare.items_of(mine) if len(slopes[0]) > 1 or check.kind == "backward" else [mine]
    if len(mine_items) != len(slopes[0]):
        return Verdict(FAIL, f"returned {len(mine_items)} values, expected {len(slopes[0])}")
    names = _gradient_names(spec, check, len(slopes[0]))
    for index, item in enumerate(mine_items):
        central = slopes[0][index]
        error, nearest = _slope_error(item, *(values[index] for values in slopes))
        if nearest is None:
            shape = tuple(central.get("shape", ())) if isinstance(central, dict) else ()
            return Verdict(FAIL, f"{names[index]} is {compare.show(item)}, expected a tensor of shape {shape}")
        if not error <= FINITE_DIFFERENCE_THRESHOLD:
            values = compare.as_array(item) if compare.is_tensor(item) else compare.numeric(item)
            where = compare.difference_note(np.asarray(values, dtype=np.float64), nearest, 1e-4, 1e-6)
            subject = "the gradient your backward gives for " + names[index] if check.kind == "backward" else names[index]
            return Verdict(FAIL, f"{subject} differs from central finite differences (eps 1e-6, float64): "
                                 f"relative error {error:.3g} > {FINITE_DIFFERENCE_THRESHOLD:g}"
                                 + (f" ({where})" if where else ""),
                           "wrong-backward" if check.kind == "backward" else None,
                           [f"got:      {compare.show(item)}", f"finite differences: {compare.show(central)}"])
    return Verdict()


def _gradient_names(spec: FunctionSpec, check: CheckSpec, count: int) -> list[str]:
    """How messages name each gradient: the declared returned names, else the inputs' names."""
    if check.kind == "backward":
        return [f"input {name}" for name in (spec.parameter_names + [f"{i + 1}" for i in range(count)])[:count]]
    if len(spec.returns) >= count:
        return list(spec.returns[:count])
    if count == 1:
        return ["the result"]
    return [f"the gradient for {_argument_name(check, position)}" for position in check.wrt]


@dataclass(frozen=True)
class Kind:
    """A check kind: the probe whose observations it judges, what it tells the student it verifies, and
    its judge of one call (``judge(spec, check, got, wanted)``)."""

    probe: str
    title: str
    judge: Callable[[FunctionSpec, CheckSpec, CallRecord, CallRecord], Verdict]
    needs_cases: bool = True


CHECK_KINDS = {
    "dataset": Kind("dataset", "length, text and every item match the reference's", _judge_dataset, needs_cases=False),
    "returns": Kind("call", "returns what the reference returns", _judge_returns),
    "inputs-unchanged": Kind("call", "leaves its inputs unchanged", _judge_unchanged),
    "differentiable": Kind("differentiable", "autograd's gradient through it matches finite differences",
                           _judge_differentiable),
    "finite-difference": Kind("call", "matches central finite differences in float64", _finite_difference),
    "no-autograd": Kind("no-autograd", "works, and gives the same result, with autograd switched off", _judge_returns),
    "training": Kind("call", "training follows the reference's trajectory", _judge_training),
    "leaf-parameters": Kind("call", "{parameters} stay the same leaf tensors with requires_grad",
                            lambda spec, check, got, wanted: _leaf_parameters(spec, check, got)),
    "leaf-gradient": Kind("call", "leaves the right gradient in {argument}.grad", _judge_returns),
    "backward": Kind("backward", "its backward matches finite differences of the forward in float64",
                     _finite_difference),
}
