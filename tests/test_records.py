"""The boundary: whatever a student's process sends as an observation, ``grader.records`` reads it into typed
records or raises ``Malformed``, nothing else; what the harness really writes always reads."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader import answer_key, engine, records
from grader.plan import kind_of
from grader.protocol import Malformed, Probe, ProbeKind

huge = st.integers(min_value=10**300, max_value=10**400) | st.integers(max_value=-(10**300), min_value=-(10**400))
scalars = (st.none() | st.booleans() | st.integers() | huge | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=6) | st.sampled_from(["tensor", "tuple", "list", "dict", "object", "module", "ok", "missing",
                                                     "float32", "complex64", "result", "error", "calls", "data"]))
keys = st.sampled_from(["type", "class", "dtype", "shape", "device", "data", "requires_grad", "is_leaf", "grad_fn",
                        "grad", "summary", "items", "length", "status", "calls", "label", "seconds", "output", "error",
                        "result", "inputs", "inputs_after", "parameters_kept", "changed", "identity", "args", "kwargs",
                        "message", "traceback", "dataset", "len", "str", "graph", "autograd", "central", "x",
                        "attributes", "ran"])
json_like = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6),
                         max_leaves=30)


@settings(max_examples=500, deadline=None)
@given(data=json_like, kind=st.sampled_from(list(ProbeKind)), trusted=st.booleans())
def test_any_record_reads_or_is_malformed_nothing_else(data, kind, trusted):
    try:
        records.Observation.from_json(data, kind, trusted=trusted)
    except Malformed:
        pass


def test_a_record_nested_deeper_than_the_encoder_nests_is_malformed():
    value: object = 0.0
    for _ in range(5_000):
        value = {"type": "list", "items": [value], "length": 1}
    with pytest.raises(Malformed):
        records.value(value)


TENSOR = {"type": "tensor", "class": "torch.Tensor", "dtype": "float32", "shape": [2], "device": "cpu",
          "data": [1.0, 2.0], "requires_grad": False, "is_leaf": True, "grad_fn": None, "grad": None}
FORGED_TENSORS = {
    "values left out": {"data": None},
    "values left out, with a summary": {"data": None, "summary": [3.0, 5.0, 1.0, 2.0]},
    "too few values": {"data": [1.0]},
    "an integer too large for a float": {"data": [10**400, 1.0]},
    "a dtype that is a list": {"dtype": []},
    "an unknown dtype": {"dtype": "float31"},
    "a negative size": {"shape": [-2]},
    "a field of its own": {"forged": True},
}


@pytest.mark.parametrize("name", sorted(FORGED_TENSORS))
def test_a_forged_tensor_record_is_malformed(name):
    forged = {**copy.deepcopy(TENSOR), **FORGED_TENSORS[name]}
    with pytest.raises(Malformed):
        records.value(forged)
    assert records.value(copy.deepcopy(TENSOR)) == TENSOR


def test_a_large_tensor_reads_with_its_summary_only():
    large = {**TENSOR, "shape": [100_001], "data": None, "summary": [1.0, 1.0, 0.0, 1.0]}
    assert records.value(large) is large


@pytest.mark.parametrize("seconds", [10**400, 1.5e308, -1.0, float("nan"), "1", True])
def test_a_call_that_reports_an_impossible_time_is_malformed(seconds):
    call = {"label": "", "seconds": seconds, "output": "", "result": 1.0, "identity": [None],
            "inputs": {"args": [], "kwargs": {}}, "inputs_after": {"args": [], "kwargs": {}},
            "parameters_kept": [], "changed": []}
    with pytest.raises(Malformed):
        records.CallRecord.from_json(call, ProbeKind.CALL)
    assert records.CallRecord.from_json({**call, "seconds": 0.25}, ProbeKind.CALL).seconds == 0.25


def test_what_does_not_read_is_a_malformed_observation_with_its_reason():
    probe = Probe("f:call:c", "f", ProbeKind.CALL, "c")
    sent = {probe.id: {"status": "ok", "calls": [{"seconds": 10**400}]},
            "f:call:not-asked": {"status": "ok", "calls": []}}
    malformed = records.Observation("malformed", reason="a call's time is not a time")
    assert engine.read_observations(sent, [probe]) == {probe.id: malformed}


def test_the_references_real_observations_read(reference_run):
    sent, read = reference_run
    assert sent and sent.keys() == read.keys()
    for key, observation in sent.items():
        record = records.Observation.from_json(copy.deepcopy(observation), kind_of(key), trusted=True)
        assert record == read[key] and record.status == observation["status"]
        written = observation.get("calls", [])
        assert len(record.calls) == len(written)
        for call, fields in zip(record.calls, written):
            assert (call.label, call.output, call.seconds) == (fields["label"], fields["output"], fields["seconds"])
            assert (call.error is None) == ("error" not in fields)
            if kind_of(key) != ProbeKind.DIFFERENTIABLE:
                assert call.result == fields.get("result")
            if "inputs_after" in fields:
                assert list(call.inputs_after.args) == fields["inputs_after"]["args"]


def test_an_answer_keys_slim_records_read(reference_run):
    sent, _ = reference_run
    for key, observation in answer_key._slim(sent).items():
        record = records.Observation.from_json(observation, kind_of(key), trusted=True, slim=True)
        assert all(call.inputs is None and call.label == "" for call in record.calls)


@pytest.fixture(scope="module")
def reference_run(course):
    from grader.reference import run_trusted
    return run_trusted(course, 5)


def test_a_sequence_that_sends_fewer_items_than_its_length_is_malformed():
    """Found by the third adversarial review: a tuple record of length 3 with no items compared nothing, and
    passed where the reference returned three tensors."""
    with pytest.raises(Malformed):
        records.value({"type": "tuple", "items": [], "length": 3})
    assert records.value({"type": "list", "items": [1.0] * 1_000, "length": 5_000})["length"] == 5_000
