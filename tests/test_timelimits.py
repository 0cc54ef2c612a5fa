"""Time limits from the reference's times: floor + factor x the reference's time on the same calls, within the
course's declared timeout; the worker enforces each function's own limit, and file loading counts only against
the ceiling."""

from __future__ import annotations

import dataclasses
import time

import pytest

from examples.variants import SLOW_CORRECT_VARIANTS, WRONG_VARIANTS
from grader import assignment, plan, runner, timelimits
from grader.engine import Session
from grader.protocol import Event, EventKind, Probe, ProbeKind, Request
from grader.records import Observation
from tests.conftest import ROOT, SEED, by_function

POLICY = timelimits.Policy(adaptive=True, floor=1.0, factor=50.0)


def _observed(*seconds: float | None) -> Observation:
    calls = [{"result": 1.0, "inputs_after": {"args": [], "kwargs": {}}, "parameters_kept": [], "changed": [],
              "identity": [None], **({} if s is None else {"seconds": s})} for s in seconds]
    return Observation.from_json({"status": "ok", "calls": calls}, ProbeKind.CALL, trusted=True, slim=True)


PROBES = [Probe("f:call:a", "f", ProbeKind.CALL, "a"), Probe("f:call:b", "f", ProbeKind.CALL, "b"),
          Probe("g:call:a", "g", ProbeKind.CALL, "a")]


def test_a_limit_is_the_floor_plus_the_factor_times_the_references_time_on_the_same_calls():
    reference = {"f:call:a": _observed(0.01, 0.002), "f:call:b": _observed(0.008), "g:call:a": _observed(0.5)}
    limits = timelimits.for_functions(PROBES, reference, POLICY, ceiling=5.0)
    assert limits["f"].seconds == pytest.approx(1.0 + 50 * 0.02) and limits["f"].reference == pytest.approx(0.02)
    assert limits["f"].describe() == "2 s (1 s plus 50× the reference's 20 ms on the same calls)"
    assert limits["g"].seconds == 5.0  # 1 + 25 s: capped by the declared timeout
    assert limits["g"].describe().startswith("5 s (the course's time limit; 1 s plus 50× the reference's 5e+02 ms")


def test_without_the_references_times_the_declared_timeout_is_the_limit():
    untimed = {"f:call:a": _observed(None), "f:call:b": _observed(0.01), "g:call:a": _observed(0.01)}
    limits = timelimits.for_functions(PROBES, untimed, POLICY, ceiling=5.0)
    assert limits["f"].seconds == 5.0 and limits["f"].reference is None  # an answer key that keeps no times
    assert limits["f"].describe() == "5 s (the course's time limit)"
    assert limits["g"].seconds < 5.0
    missing = timelimits.for_functions(PROBES, {"f:call:a": _observed(0.01)}, POLICY, ceiling=5.0)
    assert missing["f"].seconds == missing["g"].seconds == 5.0
    off = timelimits.for_functions(PROBES, untimed, dataclasses.replace(POLICY, adaptive=False), ceiling=5.0)
    assert {limit.seconds for limit in off.values()} == {5.0}
    on_gpu = timelimits.for_functions(PROBES, {**untimed, "f:call:a": _observed(0.01)}, POLICY.on("cuda"), ceiling=5.0)
    assert {limit.seconds for limit in on_gpu.values()} == {5.0} and POLICY.on("cpu") == POLICY


def _course_with(tmp_path, settings: str):
    tmp_path.mkdir(exist_ok=True)
    text = (ROOT / "assignment.toml").read_text().replace("[assignment]\n", f"[assignment]\n{settings}\n", 1)
    for name in ("solutions", "mistakes", "inputs.py", "targets.py"):
        (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / "assignment.toml").write_text(text)
    return tmp_path / "assignment.toml"


def test_a_course_tunes_the_rule_or_turns_it_off(tmp_path):
    course = assignment.load(_course_with(tmp_path, "adaptive_timeout = false\ntimeout_floor = 2\ntimeout_factor = 10"))
    assert course.time_policy == timelimits.Policy(adaptive=False, floor=2.0, factor=10.0)
    assert assignment.load(ROOT / "assignment.toml").time_policy == timelimits.Policy()
    with pytest.raises(assignment.AssignmentError, match="timeout_floor"):
        assignment.load(_course_with(tmp_path / "bad", "timeout_factor = -1"))


def test_the_worker_stops_a_function_at_its_own_limit_and_not_while_its_files_load(course, make_submission):
    """An endless loop with a limit of 0.5 s under a ceiling of 120 s is stopped at its own limit: had it run to
    the ceiling, the grading process would have stopped waiting first (``until``) and the worker died. A file
    whose top-level code takes longer than the limit to load still gets its function run."""
    folder = make_submission({"autograd_basics": {"detached": "def detached(a):\n    while True:\n        pass\n"}})
    neuron = folder / "neuron.py"
    neuron.write_text("import time\ntime.sleep(1.5)\n" + neuron.read_text())
    names = ["activate", "detached"]
    request = Request("limits", {path.stem: str(path) for path in folder.glob("*.py")},
                      {name: (course.function(name).module, name) for name in names},
                      tuple(plan.student_probes(course, names)), SEED, timeout=120.0, memory_mb=course.memory_mb,
                      inputs=str(course.inputs), limits={"activate": 0.5, "detached": 0.5})
    with runner.Worker("process") as worker:
        response = worker.request(request, until=time.monotonic() + runner.STARTUP_SECONDS + 60)
    assert response.events == [Event("detached", EventKind.TIMEOUT, "0.5 s")]
    activate = [probe.id for probe in request.probes if probe.function == "activate"]
    assert activate and all(response.observations[probe]["status"] == "ok" for probe in activate)


def test_an_endless_loop_is_named_with_its_derived_limit_and_slow_correct_code_passes(session, make_submission):
    loop, *_ = WRONG_VARIANTS["endless loop"]
    (test,) = by_function(session.grade(make_submission(loop)), "detached")
    assert test.status == "error" and test.mistake == "timeout"
    assert "did not finish within 1" in test.message and "1 s plus 50× the reference's" in test.message
    for name, changes in SLOW_CORRECT_VARIANTS.items():
        result = session.grade(make_submission(changes))
        assert all(t.status == "pass" for t in result.tests), (name, [t.message for t in result.tests if t.status != "pass"])


def test_with_the_rule_off_the_declared_timeout_is_the_limit(course, make_submission):
    loop, *_ = WRONG_VARIANTS["endless loop"]
    off = dataclasses.replace(course, timeout=1.5, time_policy=timelimits.Policy(adaptive=False))
    with Session(off, seed=SEED, only=["detached"]) as grading:
        (test,) = grading.grade(make_submission(loop)).tests
    assert test.mistake == "timeout" and test.message == "detached did not finish within 1.5 s (the course's time limit)"


def test_a_library_imported_inside_a_function_is_reported_as_loading(monkeypatch):
    """A correct function that imports a library in its body (``import matplotlib.pyplot`` can take a second on a
    loaded machine) must not be timed out by a limit derived from the reference's milliseconds: the child reports
    each outermost import of a module not yet loaded, as it does its own files, so only the ceiling counts."""
    import builtins
    import sys

    from grader.worker import loader
    sent = []
    monkeypatch.setattr(builtins, "__import__", builtins.__import__)  # restored after the test
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    loader.signal_imports(lambda name: sent.append(("loading", name)), lambda name: sent.append(("loaded", name)))
    import colorsys  # noqa: F401 - a small standard module the grader never imports
    import colorsys as again  # noqa: F401 - loaded now: nothing to report
    assert sent == [("loading", "colorsys"), ("loaded", "colorsys")]
