"""Judging is total: whatever a student's code returns, every comparison, check and diagnosis gives a
verdict with a message, never an exception (property-based, over the space of encoded values)."""

from __future__ import annotations

import copy
import itertools
import json

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grader import checks, compare, engine, footprint, records
from grader.diagnosis import Catalogue
from grader.plan import probes_for_check
from grader.protocol import ProbeKind
from grader.reference import grouped, run_trusted
from grader.results import Status
from grader.worker import encoding
from grader.worker.reading import Reading, Unreadable
from tests.conftest import SEED

EXAMPLES = 300
JUDGED_EXAMPLES = 40  # each example judges every check of the course: 40 x 31 verdicts

_DTYPES = [torch.float32, torch.float64, torch.float16, torch.int64, torch.bool, torch.complex64]
_numbers = st.floats(allow_nan=True, allow_infinity=True, width=32) | st.sampled_from([0.0, -0.0, 1e-45, 3e38])


@st.composite
def tensors(draw) -> torch.Tensor:
    """Tensors of every rank up to 3 (empty ones too), of several dtypes, with any float values."""
    shape = draw(st.lists(st.integers(0, 4), max_size=3))
    dtype = draw(st.sampled_from(_DTYPES))
    count = 1
    for size in shape:
        count *= size
    values = torch.tensor(draw(st.lists(_numbers, min_size=count, max_size=count)), dtype=torch.float64).reshape(shape)
    tensor = values.to(dtype) if dtype != torch.complex64 else torch.complex(values.float(), values.float())
    if dtype.is_floating_point and draw(st.booleans()):
        tensor.requires_grad_(True)
    return tensor


class _Opaque:
    def __repr__(self):
        raise RuntimeError("a __repr__ that raises")


leaves = (st.none() | st.booleans() | st.integers() | st.integers(min_value=10**300, max_value=10**310)
          | _numbers | st.text(max_size=30) | tensors()
          | st.builds(_Opaque) | st.sampled_from([object(), torch.nn.Linear(2, 1), torch.float32, print]))
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=12)




class _Node:
    """An object of a course's own class, read through its declared attributes."""

    def __init__(self, data, grad):
        self.data, self.grad = data, grad


READ = Reading(("data", "grad"))
with_objects = st.recursive(leaves | st.builds(_Node, values, values),
                            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                         max_size=3), max_leaves=12)


def encoded(value, reading: Reading | None = None) -> object:
    """What reaches the grader: the encoding, through JSON, as the pipe carries it."""
    return json.loads(json.dumps(encoding.encode(value, reading=reading)))


@settings(max_examples=EXAMPLES, deadline=None)
@given(got=values, expected=values, rtol=st.sampled_from([0.0, 1e-4]), attributes=st.sampled_from(
    [(), ("requires_grad", "grad_fn", "grad"), ("new_object",)]))
def test_compare_gives_a_verdict_for_any_pair_of_values(got, expected, rtol, attributes):
    mismatch = compare.compare(encoded(got), encoded(expected), rtol, 1e-6, attributes)
    assert mismatch is None or isinstance(mismatch.describe(), str) and mismatch.describe()


@settings(max_examples=EXAMPLES, deadline=None)
@given(got=with_objects, expected=with_objects, rtol=st.sampled_from([0.0, 1e-4]))
def test_objects_read_through_attributes_read_and_compare_whatever_they_hold(got, expected, rtol):
    try:
        mine, theirs = encoded(got, READ), encoded(expected, READ)
    except Unreadable:  # an object without the attributes: the harness says so, as the student's failure
        return
    records.value(mine), records.value(theirs)
    mismatch = compare.compare(mine, theirs, rtol, 1e-6)
    assert mismatch is None or isinstance(mismatch.describe(), str) and mismatch.describe()
    assert isinstance(compare.show(mine), str)


@settings(max_examples=EXAMPLES, deadline=None)
@given(got=tensors(), expected=tensors())
def test_numeric_notes_never_raise(got, expected):
    mine, theirs = compare.as_array(encoded(got)), compare.as_array(encoded(expected))
    if mine is not None and theirs is not None and mine.shape == theirs.shape:
        assert isinstance(compare.ratio_note(mine, theirs), str)
        assert isinstance(compare.difference_note(mine, theirs, 1e-4, 1e-6), str)


@pytest.fixture(scope="module")
def reference(session):
    """The lecture's real reference observations (one seed), as the judges see them."""
    return session.reference()


@pytest.fixture(scope="module")
def reference_json(course):
    """The same observations as the trusted process sends them (JSON), split like ``reference``: the reference's
    by probe, and each function's wrong variants'."""
    observations, _ = run_trusted(course, SEED)
    return grouped(observations)


def _with_student_values(observation: dict, kind: ProbeKind, draw_value) -> dict:
    """A student observation (JSON) shaped like the reference's, every returned value replaced by a drawn one:
    results, dataset parts, autograd's gradients, the arguments after the call."""
    student = copy.deepcopy(observation)
    for call in student.get("calls", []):
        call.pop("finite_difference", None)  # measured by the trusted run only
        if "error" in call:
            continue
        if kind == ProbeKind.DATASET:
            for part in call["dataset"].values():
                part.pop("error", None)
                part["result"] = encoded(draw_value())
        elif kind == ProbeKind.DIFFERENTIABLE:
            if call["result"]["graph"] == "ok":
                call["result"]["autograd"] = encoded(draw_value())
        else:
            call["result"] = encoded(draw_value())
        if "identity" in call:
            call["identity"] = [None]
        if "inputs_after" in call:
            call["inputs_after"]["args"] = [encoded(draw_value()) for _ in call["inputs_after"]["args"]]
    return student


@settings(max_examples=JUDGED_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_check_gives_a_verdict_whatever_is_returned(course, reference, reference_json, data):
    pool = itertools.cycle(data.draw(st.lists(values, min_size=1, max_size=8)))
    for spec in course.functions:
        for check in spec.checks:
            probes = probes_for_check(spec, check)
            expected = reference_json[0]
            student = {probe.id: _with_student_values(expected.get(probe.id, {"status": "ok", "calls": []}), probe.kind,
                                                      lambda: next(pool)) for probe in probes}
            read = engine.read_observations(student, probes)
            assert all(observation.status == "ok" for observation in read.values()), read  # what the encoder writes reads
            evidence = checks.Evidence(read, reference.reference, reference.variants)
            result = checks.judge(spec, check, evidence, course.catalogue)
            assert result.status in set(Status) - {Status.INTERNAL}
            assert result.status == Status.PASS or result.message, (spec.name, check.kind)


@settings(max_examples=EXAMPLES, deadline=None)
@given(mistake=st.text(max_size=40), hints=st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3))
def test_any_mistake_id_is_explained_without_raising(course, mistake, hints):
    for catalogue in (course.catalogue, Catalogue()):
        assert catalogue.explain(mistake).startswith(mistake)
        assert isinstance(catalogue.advice(mistake, hints), str)


@settings(max_examples=EXAMPLES, deadline=None)
@given(value=values)
def test_the_class_view_digests_and_names_any_value(value):
    numbers = footprint.numbers(encoded(value))
    assert all(isinstance(number, float) for number in numbers)
    assert len(footprint.number_names(encoded(value))) == len(numbers)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                           max_leaves=8)
call_keys = st.sampled_from(["label", "output", "seconds", "identity", "changed", "parameters_kept", "error", "inputs",
                             "inputs_after", "result", "dataset", "finite_difference", "graph"])
forged_calls = json_values | st.lists(st.dictionaries(call_keys, json_values, max_size=6), max_size=4)


@settings(max_examples=JUDGED_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_forged_observation_gets_a_verdict_never_an_internal_error(course, reference, data):
    """The student's process writes its observations: whatever it sends, read at the boundary as the engine
    reads it, the verdict is the student's."""
    pool = itertools.cycle(data.draw(st.lists(forged_calls, min_size=1, max_size=6)))
    for spec in course.functions:
        for check in spec.checks:
            probes = probes_for_check(spec, check)
            sent = {probe.id: {"status": data.draw(st.sampled_from(["ok", "missing", 7])), "calls": next(pool),
                               "error": next(pool)} for probe in probes}
            student = engine.read_observations(sent, probes)
            result = checks.judge(spec, check, checks.Evidence(student, reference.reference, reference.variants),
                                  course.catalogue)
            assert result.status in set(Status) - {Status.INTERNAL} and (result.status == Status.PASS or result.message)


VALUE_CHECKS = ("returns", "training", "finite-difference", "dataset", "leaf-gradient", "backward", "no-autograd")
forged_leaves = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=True) | st.text(max_size=4) \
    | st.sampled_from([[], {}, {"type": "tensor"}, [0.0] * 12, {"type": "tuple", "items": [], "length": 0}])


@st.composite
def forged(draw, record):
    """``record`` (an honest observation, as JSON) with a few of its fields replaced, removed or added, the way
    code that rewrites the harness in its own process could send it."""
    forged_record = copy.deepcopy(record)
    for _ in range(draw(st.integers(1, 3))):
        node = forged_record
        while True:
            keys = sorted(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            if isinstance(node[key], (dict, list)) and node[key] and draw(st.booleans()):
                node = node[key]
                continue
            action = draw(st.sampled_from(["replace", "remove", "add"]))
            if action == "remove" and isinstance(node, dict):
                del node[key]
            elif action == "add" and isinstance(node, dict):
                node[draw(st.sampled_from(["data", "summary", "result", "class", "status", "x"]))] = copy.deepcopy(draw(forged_leaves))
            else:
                node[key] = copy.deepcopy(draw(forged_leaves))
            break
    return forged_record


def _as_student_sends(observation: dict) -> dict:
    """A wrong variant's observation as a student's process would send it: without what only the trusted
    reference run measures (finite differences)."""
    sent = copy.deepcopy(observation)
    for call in sent.get("calls", []):
        call.pop("finite_difference", None)
    return sent


@settings(max_examples=JUDGED_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_forged_record_never_passes_what_the_honest_wrong_one_fails(course, reference, reference_json, data):
    """For the honest records of every wrong variant that a value check fails, any forgery of their fields
    (values dropped, replaced, fields removed or added) fails too, and judging it never raises."""
    for spec in course.functions:
        for mistake, observations in reference_json[1].get(spec.name, []):
            for check in spec.checks:
                probes = [probe for probe in probes_for_check(spec, check) if probe.id in observations]
                if check.kind not in VALUE_CHECKS or mistake not in check.mistakes or not probes:
                    continue
                honest = {probe.id: _as_student_sends(observations[probe.id]) for probe in probes}
                evidence = checks.Evidence(engine.read_observations(honest, probes), reference.reference, reference.variants)
                if checks.judge(spec, check, evidence, course.catalogue).status == Status.PASS:
                    continue
                sent = {key: data.draw(forged(value)) for key, value in honest.items()}
                evidence = checks.Evidence(engine.read_observations(sent, probes), reference.reference, reference.variants)
                result = checks.judge(spec, check, evidence, course.catalogue)
                assert result.status not in (Status.PASS, Status.INTERNAL), (spec.name, mistake, check.kind)