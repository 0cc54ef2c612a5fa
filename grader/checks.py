"""Judge one check of one function from the observations of the student, the reference and the wrong variants.

Every judge works on plain data in the grader's own process. A failing result is compared
with each declared wrong variant's result on the same inputs: an exact match names the mistake.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from grader import compare, diagnosis
from grader.assignment import CheckSpec, FunctionSpec
from grader.plan import probes_for_check
from grader.results import ERROR, FAIL, NOT_IMPLEMENTED, PASS, TestResult

FINITE_DIFFERENCE_THRESHOLD = 1e-4
_NO_REFERENCE = {"status": "ok", "calls": []}  # checks measured on the student's code alone
DIFFERENTIABLE_THRESHOLD = 1e-2


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


def judge(spec: FunctionSpec, check: CheckSpec, evidence: Evidence) -> TestResult:
    """Run one check: every call of every probe must agree with the reference."""
    result = TestResult(name=f"{spec.name}: {check.title}", function=spec.name, check=check.kind,
                        max_score=check.points, status=PASS)
    for probe in probes_for_check(spec, check):
        observed = evidence.student.get(probe["id"])
        result.duration += sum(call.get("seconds", 0.0) for call in (observed or {}).get("calls", []))
        expected = evidence.reference.get(probe["id"]) if check.kind != "differentiable" else _NO_REFERENCE
        if expected is None or expected.get("status") != "ok":
            raise GraderBug(f"the reference produced no observation for {probe['id']}")
        verdict = _judge_probe(spec, check, observed, expected)
        if verdict.status != PASS:
            if verdict.status == FAIL and verdict.mistake is None:
                verdict.mistake = _matching_variant(spec, check, probe["id"], observed, evidence)
            return _fill(result, verdict)
    return result


def _fill(result: TestResult, verdict: Verdict) -> TestResult:
    result.status, result.message, result.mistake = verdict.status, verdict.message, verdict.mistake
    result.details, result.output = verdict.details, verdict.output
    if verdict.mistake:
        result.details.append(f"diagnosis: {diagnosis.explain(verdict.mistake)}")
        result.hint = diagnosis.advice(verdict.mistake)
    return result


def _judge_probe(spec: FunctionSpec, check: CheckSpec, observed: dict | None, expected: dict) -> Verdict:
    if observed is None:
        return Verdict(ERROR, f"{spec.name} was not run (an earlier failure stopped it)")
    if observed.get("status") == "missing":
        return Verdict(ERROR, f"{spec.name} could not be loaded: {observed['error']['message']}")
    for got, wanted in zip(observed["calls"], expected["calls"] or [{}] * len(observed["calls"])):
        if "error" in wanted:
            raise GraderBug(f"the reference raised on {spec.name} ({wanted['error']['message']})")
        verdict = _raised(spec, check, got) or _judge_call(spec, check, got, wanted)
        if verdict.status != PASS:
            call = describe_call(spec, got)
            verdict.details.insert(0, f"call:     {call}")
            verdict.message = f"{call}: {verdict.message}" if verdict.message else call
            verdict.output = verdict.output or got.get("output", "")
            return verdict
    return Verdict()


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
    mistake = diagnosis.from_error(error["message"], training=check.kind in ("training", "leaf-parameters"))
    return Verdict(ERROR, f"raised {error['message']}", mistake, [error["traceback"]], got.get("output", ""))


def _judge_call(spec: FunctionSpec, check: CheckSpec, got: dict, wanted: dict) -> Verdict:
    kind = check.kind
    if kind == "inputs-unchanged" or (kind == "training" and got.get("data_unchanged") is False):
        return _unchanged(got, kind)
    if kind == "differentiable":
        return _differentiable(got["result"])
    if kind == "leaf-parameters":
        return _leaf_parameters(got)
    if kind == "finite-difference":
        return _finite_difference(spec, got, wanted)
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
        return compare.compare(got["inputs_after"]["args"][0], wanted["inputs_after"]["args"][0],
                               check.rtol, check.atol, ("grad",), "the input's")
    mismatch = compare.compare(got.get("result"), wanted.get("result"), check.rtol, check.atol, check.attributes)
    if mismatch is None and "new_object" in check.attributes and any(i is not None for i in got.get("identity", [])):
        return compare.Mismatch("", "returned the input tensor itself, not a new tensor", "the same object", "a new tensor")
    return mismatch


_DATASET_PARTS = {"len": "len(dataset)", "str": "str(dataset)", "items": "dataset[idx]"}  # items stacked over idx


def _unchanged(got: dict, kind: str) -> Verdict:
    if kind == "training":
        return Verdict(FAIL, "the training data in the loader changed", "input-mutated")
    names = [f"argument {i + 1}" for i in range(len(got["inputs"]["args"]))]
    for name, before, after in zip(names, got["inputs"]["args"], got["inputs_after"]["args"]):
        mismatch = compare.compare(after, before, 0.0, 0.0, ("requires_grad",), name)
        if mismatch:
            return Verdict(FAIL, f"changed its input: {mismatch.describe()}", "input-mutated",
                           [f"before:   {mismatch.expected}", f"after:    {mismatch.got}"])
    return Verdict()


def _differentiable(measured: dict) -> Verdict:
    if measured.get("graph") == "broken":
        return Verdict(FAIL, "its result does not require grad: the autograd graph is broken", "graph-broken")
    for index, (autograd, finite) in enumerate(zip(measured["autograd"], measured["finite_difference"])):
        error = compare.relative_error(compare.as_array(autograd), compare.as_array(finite))
        if not error <= DIFFERENTIABLE_THRESHOLD:
            return Verdict(FAIL, f"autograd's gradient for input {index + 1} differs from finite differences "
                                 f"(relative error {error:.2g} > {DIFFERENTIABLE_THRESHOLD:g})", "graph-broken",
                           [f"autograd:           {compare.show(autograd)}", f"finite differences: {compare.show(finite)}"])
    return Verdict()


def _leaf_parameters(got: dict) -> Verdict:
    result = got.get("result")
    items = result.get("items", []) if isinstance(result, dict) else []
    for index, name in enumerate(("W", "b")):
        item = items[index] if index < len(items) else None
        identity = got.get("identity", [])
        if not compare.is_tensor(item):
            return Verdict(FAIL, f"returned {compare.show(result)}, expected (W, b)", "no-return" if result is None else None)
        problems = [text for bad, text in ((not item["is_leaf"], "is not a leaf tensor"),
                                           (not item["requires_grad"], "does not require grad"),
                                           (index >= len(identity) or identity[index] != index,
                                            "is not the tensor that was passed in")) if bad]
        if problems:
            return Verdict(FAIL, f"the returned {name} " + " and ".join(problems), "non-leaf-update",
                           [f"returned {name}: {compare.show(item)}"])
    return Verdict()


def _finite_difference(spec: FunctionSpec, got: dict, wanted: dict) -> Verdict:
    expected = wanted.get("finite_difference")
    mine = got.get("result")
    expected_items = expected["items"] if expected.get("type") == "tuple" else [expected]
    mine_items = mine.get("items") if isinstance(mine, dict) and mine.get("type") in ("tuple", "list") else [mine]
    if mine is None:
        return Verdict(FAIL, "returned None", "no-return")
    if len(mine_items) != len(expected_items):
        return Verdict(FAIL, f"returned {len(mine_items)} values, expected {len(expected_items)}")
    for index, (item, finite) in enumerate(zip(mine_items, expected_items)):
        name = (spec.returns[index] if index < len(spec.returns)
                else "the result" if len(expected_items) == 1 else f"value {index + 1}")
        values = compare.numeric(item) if not compare.is_tensor(item) else compare.as_array(item)
        reference = compare.as_array(finite)
        if values is None or np.shape(values) != reference.shape:
            return Verdict(FAIL, f"{name} is {compare.show(item)}, expected a tensor of shape {reference.shape}")
        error = compare.relative_error(np.asarray(values, dtype=np.float64), reference)
        if not error <= FINITE_DIFFERENCE_THRESHOLD:
            return Verdict(FAIL, f"{name} differs from central finite differences (eps 1e-6, float64): "
                                 f"relative error {error:.3g} > {FINITE_DIFFERENCE_THRESHOLD:g}", None,
                           [f"got:      {compare.show(item)}", f"finite differences: {compare.show(finite)}"])
    return Verdict()


def _matching_variant(spec: FunctionSpec, check: CheckSpec, probe: str, observed: dict, evidence: Evidence) -> str | None:
    """The first declared mistake whose variant gives exactly what the student got on every call of the probe."""
    kind = "returns" if check.kind == "finite-difference" else check.kind
    for mistake, observations in evidence.variants.get(spec.name, []):
        if mistake not in check.mistakes or probe not in observations:
            continue
        wrong = observations[probe]
        if wrong.get("status") == "ok" and all(
                "error" not in theirs and difference(kind, mine, theirs, check) is None
                for mine, theirs in zip(observed["calls"], wrong["calls"])):
            return mistake
    return None


def describe_call(spec: FunctionSpec, record: dict) -> str:
    """``loss_fn(the lecture's y_pred and scaled y)``, or ``gradient(W=tensor([0.5, -1.2]), X=<tensor (15, 2) float32>, ...)``."""
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
