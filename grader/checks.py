"""Judge one check of one function from the observations of the student, the reference and the wrong variants.

Every judge works in the grader's own process, on the records ``grader.records`` read from the observations
(of the shape the harness writes): the check's kind (``grader.kinds``) judges each call. A failing result is
compared with each declared wrong variant's result on the same inputs: an exact match names the mistake.
Otherwise ``grader.measured`` measures the failure against the reference and says what it found.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from grader import compare, diagnosis, graph_text, measured
from grader.assignment import CheckSpec, FunctionSpec
from grader.diagnosis import Catalogue
from grader.kinds import CHECK_KINDS, GraderBug, Verdict, difference
from grader.plan import probes_for_check
from grader.records import Arguments, CallRecord, Observation
from grader.protocol import UNREADABLE_RESULT
from grader.results import ERROR, FAIL, NOT_IMPLEMENTED, PASS, TestResult

_NO_REFERENCE = Observation("ok")  # checks measured on the student's code alone
_GENERIC_MISTAKES = {"backward": "wrong-backward"}  # what a check names when no declared variant matches
GRAPH_CHECKS = ("differentiable", "backward", "leaf-parameters")  # a failure shows the autograd graph
GRAPH_MISTAKES = ("graph-broken", "non-leaf-update")  # so does a failure diagnosed as one of these
MEASURED_CALLS = 20  # the failing calls of one probe measured to name a mistake


@dataclass
class Evidence:
    """All observations of one submission's run, by probe: the student's, the reference's, and each function's
    wrong variants' (mistake, observations)."""

    student: dict[str, Observation]
    reference: dict[str, Observation]
    variants: dict[str, list[tuple[str, dict[str, Observation]]]] = field(default_factory=dict)


def judge(spec: FunctionSpec, check: CheckSpec, evidence: Evidence, catalogue: Catalogue) -> TestResult:
    """Run one check: every call of every probe must agree with the reference. The first failing call is
    reported; a mistake is named from it, or measured over every failing call of the check."""
    result = TestResult(name=f"{spec.name}: {check.title}", function=spec.name, check=check.kind,
                        max_score=check.points, status=PASS)
    failures: list[_Failure] = []
    for probe in probes_for_check(spec, check):
        observed = evidence.student.get(probe.id)
        result.duration += _seconds(observed)
        expected = _expected(check, probe.id, evidence)
        verdict = _judge_probe(spec, check, observed, expected)
        if verdict.status != PASS:
            failures.append(_Failure(probe.id, observed, expected, verdict))
    if not failures:
        return result
    first = failures[0]
    verdict = first.verdict
    diagnosable = first.observed is not None and first.observed.status == "ok" and len(first.observed.calls) > verdict.call
    if verdict.status == FAIL and diagnosable and verdict.mistake in (None, _GENERIC_MISTAKES.get(check.kind)):
        # a declared wrong variant that gives exactly this names the mistake better than the generic one
        verdict.mistake = (_matching_variant(spec, check, first, evidence)
                           or _measured(spec, check, failures, evidence, catalogue)
                           or verdict.mistake)
    return _fill(result, verdict, catalogue, spec)


def first_failure(spec: FunctionSpec, check: CheckSpec, evidence: Evidence) -> tuple[str, int | None] | None:
    """Where the student's observations first fail the check: the probe, and how many of its calls show it (up to
    the first failing one; None when the probe fails as a whole: not run, not loaded, not read). None: it passes."""
    for probe in probes_for_check(spec, check):
        observed = evidence.student.get(probe.id)
        verdict = _judge_probe(spec, check, observed, _expected(check, probe.id, evidence))
        if verdict.status != PASS:
            return probe.id, verdict.call + 1 if observed is not None and observed.status == "ok" else None
    return None


def passes(spec: FunctionSpec, check: CheckSpec, evidence: Evidence, probe: str | None = None,
           calls: int | None = None) -> bool:
    """Whether the student's observations pass the check, as ``judge`` says (without naming a mistake); with
    ``probe``, only that probe of it, on its first ``calls`` calls when given."""
    judged = [each.id for each in probes_for_check(spec, check) if probe is None or each.id == probe]
    return bool(judged) and all(_probe_passes(spec, check, evidence, each, calls) for each in judged)


def _probe_passes(spec: FunctionSpec, check: CheckSpec, evidence: Evidence, probe: str, calls: int | None) -> bool:
    expected = _expected(check, probe, evidence)
    expected = replace(expected, calls=expected.calls[:calls]) if calls is not None else expected
    return _judge_probe(spec, check, evidence.student.get(probe), expected).status == PASS


def _expected(check: CheckSpec, probe: str, evidence: Evidence) -> Observation:
    """What the check expects of a probe: the reference's observation (or the student's own, ``_own_result``)."""
    # a differentiable check is measured on the student's code alone; the reference's run, when known, gives its graph
    expected = evidence.reference.get(probe, _NO_REFERENCE if check.kind == "differentiable" else None)
    if expected is None or expected.status != "ok":
        raise GraderBug(f"the reference produced no observation for {probe}")
    return _own_result(probe, expected, evidence) or expected


@dataclass(frozen=True)
class _Failure:
    """One failing probe of a check: its observations and the verdict on its first failing call."""

    probe: str
    observed: Observation | None
    expected: Observation
    verdict: Verdict


def _own_result(probe: str, expected: Observation, evidence: Evidence) -> Observation | None:
    """For a ``no-autograd`` probe: the student's own calls of the same case with autograd on, when they all
    returned (the check asks whether switching autograd off changes the result, not whether it is right: the
    ``returns`` check says that)."""
    function, kind, case = probe.split(":", 2)
    if kind != "no-autograd":
        return None
    own = evidence.student.get(f"{function}:call:{case}")
    if not (own and own.status == "ok" and len(own.calls) == len(expected.calls)
            and all(call.error is None for call in own.calls)):
        return None
    return own


def _fill(result: TestResult, verdict: Verdict, catalogue: Catalogue, spec: FunctionSpec) -> TestResult:
    result.status, result.message, result.mistake = verdict.status, verdict.message, verdict.mistake
    result.details, result.output, result.graphs = verdict.details, verdict.output, verdict.graphs
    if verdict.mistake:
        result.details.append(f"diagnosis: {catalogue.explain(verdict.mistake)}")
        result.hint = catalogue.advice(verdict.mistake, spec.hints)
    return result


def _judge_probe(spec: FunctionSpec, check: CheckSpec, observed: Observation | None, expected: Observation) -> Verdict:
    if observed is None:
        return Verdict(ERROR, f"{spec.name} was not run (an earlier failure stopped it)")
    if observed.status == "missing":
        return Verdict(ERROR, f"{spec.name} could not be loaded: {observed.error.message}")
    if observed.status == "malformed":
        return Verdict(FAIL, f"the grader could not read what your code returned ({observed.reason}): code that "
                             "tampers with the grader in its own process earns nothing from it")
    calls = observed.calls
    wanted_calls = expected.calls or (CallRecord(),) * len(calls)  # no reference: an empty record beside each call
    if len(calls) != len(wanted_calls):
        return Verdict(FAIL, f"the grader could not read what your code returned: {spec.name}'s process reported "
                             f"{len(calls)} calls of the {len(wanted_calls)} it was asked to make (code that tampers "
                             "with the grader in its own process earns nothing from it)")
    for index, (got, wanted) in enumerate(zip(calls, wanted_calls)):
        if wanted.error:
            raise GraderBug(f"the reference raised on {spec.name} ({wanted.error.message})")
        verdict = _raised(spec, check, got) or CHECK_KINDS[check.kind].judge(spec, check, got, wanted)
        if verdict.status != PASS:
            call = describe_call(spec, got)
            verdict.details.insert(0, f"call:     {call}")
            verdict.message = f"{call}: {verdict.message}" if verdict.message else call
            verdict.output = verdict.output or got.output
            verdict.call = index
            _show_graphs(spec, check, verdict, got, wanted)
            return verdict
    return Verdict()


def _show_graphs(spec: FunctionSpec, check: CheckSpec, verdict: Verdict, got: CallRecord, wanted: CallRecord) -> None:
    """Add the student's and the reference's autograd graphs to a failing autograd check (or any failing check of
    a function whose graph the course declares: a student's own engine), as text and as data."""
    mine, reference = got.graph, wanted.graph
    if mine is None or not (check.kind in GRAPH_CHECKS or verdict.mistake in GRAPH_MISTAKES or spec.graph):
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


def _seconds(observed: Observation | None) -> float:
    """The time the calls of an observation took, as the student's process reports it."""
    return sum(call.seconds or 0.0 for call in observed.calls) if observed else 0.0


def _raised(spec: FunctionSpec, check: CheckSpec, got: CallRecord) -> Verdict | None:
    error = got.error
    if error is None:
        return None
    if error.type == UNREADABLE_RESULT:  # what it returned, not what it raised
        return Verdict(FAIL, error.message)
    if error.type == "NotImplementedError":
        hint = error.message.removeprefix("NotImplementedError").lstrip(": ")
        return Verdict(FAIL, NOT_IMPLEMENTED + (f" (hint: {hint})" if hint else ""))
    if check.kind == "no-autograd":
        return Verdict(FAIL, f"raised with autograd switched off: {error.message}",
                       "autograd-in-manual-gradient", [error.traceback])
    mistake = diagnosis.from_error(error.message, training=check.kind in ("training", "leaf-parameters"),
                                   autograd=check.kind in ("differentiable", "backward"))
    if check.kind == "backward" and mistake is None:
        mistake = "wrong-backward" if "backward" in error.traceback else None
    return Verdict(ERROR, f"raised {error.message}", mistake, [error.traceback], got.output)


def _measured(spec: FunctionSpec, check: CheckSpec, failures: list[_Failure], evidence: Evidence,
              catalogue: Catalogue) -> str | None:
    """The mistake measured against the reference over every failing call of the check, judged on the clearest
    measurement (what was measured goes into the first failure's details)."""
    alternatives = evidence.variants.get(spec.name, [])
    findings = []
    for failure in failures:
        if failure.observed is None or failure.observed.status != "ok" or failure.verdict.status != FAIL:
            continue
        for call in _failing_calls(spec, check, failure):
            finding = measured.diagnose(spec, check, failure.probe, failure.observed, failure.expected, call,
                                        alternatives, catalogue)
            if check.kind != "training" and (failure is not failures[0] or call != failure.verdict.call):
                finding.lines = [f"{line} (on {describe_call(spec, failure.observed.calls[call])})" for line in finding.lines]
            findings.append(finding)
    finding = measured.clearest(findings)
    failures[0].verdict.details += finding.lines
    return finding.mistake


def _failing_calls(spec: FunctionSpec, check: CheckSpec, failure: _Failure) -> list[int]:
    """The calls of a failing probe to measure: a training trajectory is measured once, on the whole probe; other
    kinds on each call that fails without raising (at most ``MEASURED_CALLS``)."""
    first = failure.verdict.call
    if check.kind == "training":
        return [first]
    calls = failure.observed.calls
    wanted = failure.expected.calls or (CallRecord(),) * len(calls)
    failing = [index for index in range(first, min(len(calls), len(wanted)))
               if index == first or (calls[index].error is None and CHECK_KINDS[check.kind].judge(
                   spec, check, calls[index], wanted[index]).status == FAIL)]
    return failing[:MEASURED_CALLS]


def _matching_variant(spec: FunctionSpec, check: CheckSpec, failure: _Failure, evidence: Evidence) -> str | None:
    """The first declared mistake whose variant gives exactly what the student got on every call of the probe;
    for a training check, else the first whose variant gives exactly what the student got on the call where the
    trajectory first leaves the reference's (later calls may differ: what follows a wrong step differs anyway)."""
    kind = "returns" if check.kind in ("finite-difference", "backward") else check.kind
    declared = [(mistake, observations[failure.probe]) for mistake, observations in evidence.variants.get(spec.name, [])
                if mistake in check.mistakes and failure.probe in observations and observations[failure.probe].status == "ok"]
    calls = failure.observed.calls

    def agrees(index: int, wrong: Observation) -> bool:
        return wrong.calls[index].error is None and difference(kind, calls[index], wrong.calls[index], check,
                                                               nan_equal=True) is None

    for mistake, wrong in declared:
        if len(calls) == len(wrong.calls) and all(agrees(index, wrong) for index in range(len(calls))):
            return mistake
    first = failure.verdict.call
    for mistake, wrong in declared if check.kind == "training" else ():
        if len(calls) == len(wrong.calls) and agrees(first, wrong):
            failure.verdict.details.append(
                f"measured: where the trajectory first leaves the reference's ({describe_call(spec, calls[first])}), "
                f"it is exactly the {mistake} variant's; later calls differ from that variant too")
            return mistake
    return None


def describe_call(spec: FunctionSpec, record: CallRecord) -> str:
    """``f(the label of the call)``, or ``f(w=tensor([0.5, -1.2]), x=<tensor (15, 2) float32>, ...)``; the label
    alone for a call that ran the course's code on objects of the class (``x * y with x = Value(2.0), ...``)."""
    if record.label and record.ran:
        return record.label
    if record.label:
        return f"{spec.name}({record.label})"
    inputs = record.inputs or Arguments()
    names = [parameter.split("=")[0] for parameter in spec.parameters]
    shown = [f"{names[index]}={_short(arg)}" if index < len(names) else _short(arg)
             for index, arg in enumerate(inputs.args)]
    shown += [f"{name}={_short(value)}" for name, value in inputs.kwargs.items()]
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
