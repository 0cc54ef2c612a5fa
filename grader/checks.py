"""Judge one check of one function from the observations of the student, the reference and the wrong variants.

Every judge works on plain data in the grader's own process. A failing result is compared
with each declared wrong variant's result on the same inputs: an exact match names the mistake.
Otherwise ``grader.measured`` measures the failure against the reference and says what it found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from grader import compare, diagnosis, graph_text, measured
from grader.assignment import CheckSpec, FunctionSpec
from grader.diagnosis import Catalogue
from grader.plan import probes_for_check
from grader.results import ERROR, FAIL, NOT_IMPLEMENTED, PASS, TestResult

FINITE_DIFFERENCE_THRESHOLD = 1e-4
_NO_REFERENCE = {"status": "ok", "calls": []}  # checks measured on the student's code alone
DIFFERENTIABLE_THRESHOLD = 1e-2
_GENERIC_MISTAKES = {"backward": "wrong-backward"}  # what a check names when no declared variant matches
GRAPH_CHECKS = ("differentiable", "backward", "leaf-parameters")  # a failure shows the autograd graph
GRAPH_MISTAKES = ("graph-broken", "non-leaf-update")  # so does a failure diagnosed as one of these


class GraderBug(RuntimeError):
    """The reference itself failed: a problem of the grader or the course, never the student's."""


@dataclass
class Evidence:
    """All observations of one submission's run."""

    student: dict[str, dict]
    reference: dict[str, dict]
    variants: dict[str, list[tuple[str, dict]]] = field(default_factory=dict)


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


def judge(spec: FunctionSpec, check: CheckSpec, evidence: Evidence, catalogue: Catalogue) -> TestResult:
    """Run one check: every call of every probe must agree with the reference."""
    result = TestResult(name=f"{spec.name}: {check.title}", function=spec.name, check=check.kind,
                        max_score=check.points, status=PASS)
    for probe in probes_for_check(spec, check):
        observed = evidence.student.get(probe.id)
        result.duration += _seconds(observed)
        # a differentiable check is measured on the student's code alone; the reference's run, when known, gives its graph
        expected = evidence.reference.get(probe.id, _NO_REFERENCE if check.kind == "differentiable" else None)
        if expected is None or expected.get("status") != "ok":
            raise GraderBug(f"the reference produced no observation for {probe.id}")
        verdict = _judge_probe(spec, check, observed, expected)
        if verdict.status != PASS:
            if verdict.status == FAIL and verdict.mistake in (None, _GENERIC_MISTAKES.get(check.kind)):
                # a declared wrong variant that gives exactly this names the mistake better than the generic one
                verdict.mistake = (_matching_variant(spec, check, probe.id, observed, evidence)
                                   or _measured(spec, check, probe.id, observed, expected, verdict, evidence, catalogue)
                                   or verdict.mistake)
            return _fill(result, verdict, catalogue, spec)
    return result


def _fill(result: TestResult, verdict: Verdict, catalogue: Catalogue, spec: FunctionSpec) -> TestResult:
    result.status, result.message, result.mistake = verdict.status, verdict.message, verdict.mistake
    result.details, result.output, result.graphs = verdict.details, verdict.output, verdict.graphs
    if verdict.mistake:
        result.details.append(f"diagnosis: {catalogue.explain(verdict.mistake)}")
        result.hint = catalogue.advice(verdict.mistake, spec.hints)
    return result


def _judge_probe(spec: FunctionSpec, check: CheckSpec, observed: dict | None, expected: dict) -> Verdict:
    if observed is None:
        return Verdict(ERROR, f"{spec.name} was not run (an earlier failure stopped it)")
    if isinstance(observed, dict) and observed.get("status") == "missing":
        error = observed.get("error") if isinstance(observed.get("error"), dict) else {}
        return Verdict(ERROR, f"{spec.name} could not be loaded: {error.get('message', 'no reason given')}")
    calls = observed.get("calls") if isinstance(observed, dict) else None
    wanted_calls = expected["calls"] or [{}] * len(calls or [None])
    if not (isinstance(calls, list) and all(_well_formed(call, check.probe_kind) for call in calls)
            and len(calls) == len(wanted_calls)):
        return Verdict(ERROR, f"{spec.name}'s process did not report every call it was asked to make "
                              "(code that tampers with the grader in its own process earns nothing from it)")
    for index, (got, wanted) in enumerate(zip(calls, wanted_calls)):
        if "error" in wanted:
            raise GraderBug(f"the reference raised on {spec.name} ({wanted['error']['message']})")
        verdict = _raised(spec, check, got) or _judge_call(spec, check, got, wanted)
        if verdict.status != PASS:
            call = describe_call(spec, got)
            verdict.details.insert(0, f"call:     {call}")
            verdict.message = f"{call}: {verdict.message}" if verdict.message else call
            verdict.output = verdict.output or got.get("output", "")
            verdict.call = index
            _show_graphs(spec, check, verdict, got, wanted)
            return verdict
    return Verdict()


def _show_graphs(spec: FunctionSpec, check: CheckSpec, verdict: Verdict, got: dict, wanted: dict) -> None:
    """Add the student's and the reference's autograd graphs to a failing autograd check, as text and as data."""
    mine, reference = graph_text.checked(got.get("graph")), graph_text.checked(wanted.get("graph"))
    if mine is None or not (check.kind in GRAPH_CHECKS or verdict.mistake in GRAPH_MISTAKES):
        return
    lines = graph_text.feedback(mine, reference, spec.parameter_names, list(spec.returns))
    drawn: dict[str, list[str]] = {}
    for line in lines:
        label, _, text = line.partition(":")
        drawn.setdefault(label, []).append(text.strip())
    if drawn.get("your graph") == drawn.get("reference graph") and "graph cut" not in drawn:
        return  # the graphs agree: the failure lies in the values, which the lines above show
    verdict.graphs = {"yours": mine, "reference": reference, "arguments": spec.parameter_names,
                      "outputs": list(spec.returns)}
    verdict.details += lines


_CALL_FIELDS = {"label": str, "output": str, "seconds": (int, float), "identity": list, "changed": list,
                "parameters_kept": list, "inputs": dict, "inputs_after": dict}


def _well_formed(call: Any, probe_kind: str) -> bool:
    """Whether a call's record has the shape the harness writes for this kind of probe (the student's
    process writes it, so it is checked before any judge reads it)."""
    if not isinstance(call, dict) or not all(isinstance(call[key], kind) for key, kind in _CALL_FIELDS.items() if key in call):
        return False
    if "error" in call:
        return _error_shaped(call["error"])
    if probe_kind == "dataset":
        parts = call.get("dataset")
        return isinstance(parts, dict) and all(
            isinstance(parts.get(part), dict) and ("result" in parts[part] or _error_shaped(parts[part].get("error")))
            for part in _DATASET_PARTS)
    arguments = [call.get(key) for key in ("inputs", "inputs_after") if key in call or probe_kind in ("call", "no-autograd")]
    return "result" in call and all(isinstance(a, dict) and isinstance(a.get("args"), list)
                                    and isinstance(a.get("kwargs"), dict) for a in arguments)


def _error_shaped(error: Any) -> bool:
    return isinstance(error, dict) and all(isinstance(error.get(key), str) for key in ("type", "message", "traceback"))


def _seconds(observed: Any) -> float:
    """The time the calls of an observation took, as the student's process reports it."""
    calls = observed.get("calls") if isinstance(observed, dict) else None
    return sum(call["seconds"] for call in calls or [] if isinstance(call, dict)
               and isinstance(call.get("seconds"), (int, float)) and not isinstance(call["seconds"], bool)) \
        if isinstance(calls, list) else 0.0


def _raised(spec: FunctionSpec, check: CheckSpec, got: dict) -> Verdict | None:
    error = got.get("error")
    if error is None:
        return None
    if error["type"] == "NotImplementedError":
        hint = error["message"].removeprefix("NotImplementedError").lstrip(": ")
        return Verdict(FAIL, NOT_IMPLEMENTED + (f" (hint: {hint})" if hint else ""))
    if check.kind == "no-autograd":
        return Verdict(FAIL, f"raised with autograd switched off: {error['message']}",
                       "autograd-in-manual-gradient", [error["traceback"]])
    mistake = diagnosis.from_error(error["message"], training=check.kind in ("training", "leaf-parameters"),
                                   autograd=check.kind in ("differentiable", "backward"))
    if check.kind == "backward" and mistake is None:
        mistake = "wrong-backward" if "backward" in error.get("traceback", "") else None
    return Verdict(ERROR, f"raised {error['message']}", mistake, [error["traceback"]], got.get("output", ""))


def _judge_call(spec: FunctionSpec, check: CheckSpec, got: dict, wanted: dict) -> Verdict:
    kind = check.kind
    if kind == "inputs-unchanged":
        return _unchanged(got)
    if kind == "training" and got.get("changed"):
        return Verdict(FAIL, f"{got['changed'][0]} changed", "input-mutated")
    if kind == "differentiable":
        return _differentiable(got["result"])
    if kind == "leaf-parameters":
        return _leaf_parameters(spec, check, got)
    if kind in ("finite-difference", "backward"):
        return _finite_difference(spec, check, got, wanted)
    if kind == "dataset":
        mismatch = difference(kind, got, wanted, check)
        return Verdict() if mismatch is None else _mismatch_verdict(mismatch)
    mismatch = difference(kind, got, wanted, check)
    if mismatch is None:
        return Verdict()
    if got.get("result") is None and wanted.get("result") is not None:
        return Verdict(FAIL, "returned None", "no-return", [f"expected: {compare.show(wanted['result'])}"])
    return _mismatch_verdict(_named(spec, mismatch))


def _named(spec: FunctionSpec, mismatch: compare.Mismatch) -> compare.Mismatch:
    """``[0]`` of a returned tuple as the contract names it (``W``), when the declaration names the items."""
    item = re.match(r"\[(\d+)\]", mismatch.where)
    if item and int(item[1]) < len(spec.returns):
        mismatch.where = spec.returns[int(item[1])] + mismatch.where[item.end():]
    return mismatch


def _mismatch_verdict(mismatch: compare.Mismatch) -> Verdict:
    return Verdict(FAIL, mismatch.describe(), None, [f"got:      {mismatch.got}", f"expected: {mismatch.expected}"])


def difference(kind: str, got: dict, wanted: dict, check: CheckSpec) -> compare.Mismatch | None:
    """The first difference between two observations of one call, as this kind of check sees it."""
    if "error" in got:
        return compare.Mismatch("", "raised", got["error"]["message"], "a result")
    if kind == "dataset":
        for part in ("len", "str", "items"):
            mine, theirs = got["dataset"][part], wanted["dataset"][part]
            if "error" in mine:
                return compare.Mismatch(part, f"raised {mine['error']['message']}", "", compare.show(theirs.get("result")))
            mismatch = compare.compare(mine["result"], theirs["result"], check.rtol, check.atol, where=_DATASET_PARTS[part])
            if mismatch:
                return mismatch
        return None
    if kind == "leaf-gradient":
        return compare.compare(_argument(got, check.argument), _argument(wanted, check.argument),
                               check.rtol, check.atol, ("grad",), _argument_name(check, check.argument))
    mismatch = compare.compare(got.get("result"), wanted.get("result"), check.rtol, check.atol, check.attributes)
    if mismatch is None and kind == "training":
        mismatch = _state_after(got, wanted, check)
    if mismatch is None and "new_object" in check.attributes and any(i is not None for i in got.get("identity", [])):
        return compare.Mismatch("", "returned the input tensor itself, not a new tensor", "the same object", "a new tensor")
    return mismatch


def _argument(record: dict, position: int) -> Any:
    arguments = record.get("inputs_after", {}).get("args", [])
    return arguments[position] if position < len(arguments) else None


def _argument_name(check: CheckSpec, position: int) -> str:
    return check.names[position] if position < len(check.names) else f"argument {position + 1}"


def _state_after(got: dict, wanted: dict, check: CheckSpec) -> compare.Mismatch | None:
    """What training changed in its arguments: every nn.Module's state, and the arguments declared in ``after``."""
    expected_arguments = wanted.get("inputs_after", {}).get("args", [])
    for position, expected in enumerate(expected_arguments):
        is_module = isinstance(expected, dict) and expected.get("type") == "module"
        if not is_module and position not in check.after:
            continue
        mismatch = compare.compare(_argument(got, position), expected, check.rtol, check.atol, (),
                                   f"{_argument_name(check, position)} after the call")
        if mismatch:
            return mismatch
    return None


_DATASET_PARTS = {"len": "len(dataset)", "str": "str(dataset)", "items": "dataset[idx]"}  # items stacked over idx


def _unchanged(got: dict) -> Verdict:
    for index, (before, after) in enumerate(zip(got["inputs"]["args"], got["inputs_after"]["args"])):
        mismatch = compare.compare(after, before, 0.0, 0.0, ("requires_grad",), f"argument {index + 1}")
        if mismatch:
            return Verdict(FAIL, f"changed its input: {mismatch.describe()}", "input-mutated",
                           [f"before:   {mismatch.expected}", f"after:    {mismatch.got}"])
    return Verdict()


def _differentiable(measured: Any) -> Verdict:
    if not isinstance(measured, dict):
        return Verdict(FAIL, "autograd could not be measured through it")
    if measured.get("graph") == "broken":
        return Verdict(FAIL, "its result does not require grad: the autograd graph is broken", "graph-broken")
    if measured.get("graph") == "not-a-tensor":
        return Verdict(FAIL, f"returned a {str(measured.get('returned'))[:40]}, not a tensor: no gradient can flow "
                             "back through it", "graph-broken")
    slopes = _slopes(measured)
    for index, item in enumerate(compare.items_of(measured.get("autograd"))):
        error, _ = _slope_error(item, *(values[index] if index < len(values) else None for values in slopes))
        if not error <= DIFFERENTIABLE_THRESHOLD:
            return Verdict(FAIL, f"autograd's gradient for input {index + 1} differs from finite differences "
                                 f"(relative error {error:.2g} > {DIFFERENTIABLE_THRESHOLD:g})", "graph-broken",
                           [f"autograd:           {compare.show(item)}",
                            f"finite differences: {compare.show(slopes[0][index] if index < len(slopes[0]) else None)}"])
    return Verdict()


def _slopes(observation: dict) -> list[list]:
    """The central, forward and backward differences of an observation, item by item."""
    return [compare.items_of(observation.get(name)) for name in ("central", "forward", "backward")]


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


def _leaf_parameters(spec: FunctionSpec, check: CheckSpec, got: dict) -> Verdict:
    result = got.get("result")
    returned = compare.items_of(result) if isinstance(result, dict) and result.get("type") in ("tuple", "list") else [result]
    identity = got.get("identity", [])
    kept = got.get("parameters_kept", [])
    for position in check.parameters:
        name = _argument_name(check, position)
        after = _argument(got, position)
        if isinstance(after, dict) and after.get("type") == "module":
            problems = [f"{name}.{parameter} is no longer a leaf that requires grad"
                        for parameter, state in after.get("parameters", {}).items()
                        if not (state.get("is_leaf") and state.get("requires_grad"))]
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


def _finite_difference(spec: FunctionSpec, check: CheckSpec, got: dict, wanted: dict) -> Verdict:
    """The student's gradients (returned, or from a custom backward) against the reference's finite differences."""
    expected = wanted.get("finite_difference")
    if not isinstance(expected, dict):
        raise GraderBug(f"the reference run measured no finite differences for {spec.name}")
    mine = got.get("result")
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


def _measured(spec: FunctionSpec, check: CheckSpec, probe: str, observed: dict, expected: dict, verdict: Verdict,
              evidence: Evidence, catalogue: Catalogue) -> str | None:
    """The mistake measured from the failure against the reference (what was measured goes into the details)."""
    finding = measured.diagnose(spec, check, probe, observed, expected, verdict.call,
                                evidence.variants.get(spec.name, []), catalogue)
    verdict.details += finding.lines
    return finding.mistake


def _matching_variant(spec: FunctionSpec, check: CheckSpec, probe: str, observed: dict, evidence: Evidence) -> str | None:
    """The first declared mistake whose variant gives exactly what the student got on every call of the probe."""
    kind = "returns" if check.kind in ("finite-difference", "backward") else check.kind
    for mistake, observations in evidence.variants.get(spec.name, []):
        if mistake not in check.mistakes or probe not in observations:
            continue
        wrong = observations[probe]
        if wrong.get("status") == "ok" and len(observed["calls"]) == len(wrong["calls"]) and all(
                "error" not in theirs and difference(kind, mine, theirs, check) is None
                for mine, theirs in zip(observed["calls"], wrong["calls"])):
            return mistake
    return None


def describe_call(spec: FunctionSpec, record: dict) -> str:
    """``f(the label of the call)``, or ``f(w=tensor([0.5, -1.2]), x=<tensor (15, 2) float32>, ...)``."""
    if record.get("label"):
        return f"{spec.name}({record['label']})"
    inputs = record.get("inputs", {"args": [], "kwargs": {}})
    names = [parameter.split("=")[0] for parameter in spec.parameters]
    shown = [f"{names[index]}={_short(arg)}" if index < len(names) else _short(arg)
             for index, arg in enumerate(inputs["args"])]
    shown += [f"{name}={_short(value)}" for name, value in inputs["kwargs"].items()]
    return f"{spec.name}({', '.join(shown)})"


def _short(value: Any) -> str:
    if compare.is_tensor(value):
        size = int(np.prod(value["shape"]))
        dtype = "" if value["dtype"] == "float32" else f", dtype={value['dtype']}"
        if size > 4 or value.get("data") is None:
            return f"<tensor {tuple(value['shape'])} {value['dtype']}>"
        return f"tensor({compare.readable(compare.as_array(value))}{dtype})"
    if isinstance(value, dict) and value.get("type") == "object":
        return f"<{value['class'].rsplit('.', 1)[-1]}>"
    return compare.show(value)
