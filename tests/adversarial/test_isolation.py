"""Hostile or broken student code costs only its own functions and never the grader (first items of SECURITY's threat model)."""

from __future__ import annotations

import resource
import shutil

import pytest
from click.testing import CliRunner

from examples.variants import build_submission
from grader import sandbox
from grader.cli import main
from grader.engine import Session
from grader.protocol import Probe, ProbeKind, Request
from grader.worker import landlock
from tests.conftest import ROOT, SEED, by_function

HOSTILE = {
    "sys.exit": "import sys\n    sys.exit(0)",
    "os._exit": "import os\n    os._exit(3)",
    "KeyboardInterrupt": "raise KeyboardInterrupt",
    "BaseException": "raise BaseException('bye')",
    "closes stdout": "import sys\n    sys.stdout.close()\n    sys.stderr.close()\n    return a",
    "huge allocation": "return torch.empty(2**36)",
    "hard-coded CUDA": "return a.detach().to('cuda')",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_function_costs_only_itself(name, session, make_submission):
    body = HOSTILE[name]
    folder = make_submission({"autograd_basics": {"detached": f"def detached(a):\n    {body}\n"}})
    result = session.grade(folder)
    (test,) = by_function(result, "detached")
    assert test.status in ("fail", "error") and test.score == 0
    others = [t for t in result.tests if t.function != "detached"]
    assert all(t.status == "pass" for t in others), [t.message for t in others if t.status != "pass"]
    if name == "hard-coded CUDA":
        assert test.mistake == "hard-coded-cuda"
    if name == "huge allocation":
        assert "allocate" in test.message or "memory" in test.message.lower()


def test_killing_the_worker_costs_only_that_submission(session, make_submission):
    folder = make_submission({"autograd_basics": {"detached": "def detached(a):\n    import os, signal\n    os.kill(os.getppid(), signal.SIGKILL)\n"}})
    result = session.grade(folder)
    assert all(t.status == "error" for t in by_function(result, "detached"))
    assert session.grade(make_submission()).score == result.max_score


@pytest.mark.skipif(not sandbox.bwrap_works(), reason="bubblewrap is not available here")
def test_in_the_sandbox_the_solutions_cannot_be_read_or_imported(course, make_submission):
    stolen = f"""
        def backward(x, y, z):
            return open({str(course.solutions / 'backprop.py')!r}).read()
        """
    imported = f"""
        def sigmoid_derivative(z):
            import importlib.util
            spec = importlib.util.spec_from_file_location("reference_backprop", {str(course.solutions / 'backprop.py')!r})
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module.sigmoid_derivative(z)
        """
    folder = make_submission({"backprop": {"backward": stolen, "sigmoid_derivative": imported}})
    with Session(course, seed=SEED, sandbox="bwrap", only=["backward", "sigmoid_derivative", "model"]) as grading:
        result = grading.grade(folder)
    backward = by_function(result, "backward")[0]
    assert backward.status == "error"
    assert "No such file or directory" in backward.message or "Permission denied" in backward.message
    assert all(t.score == 0 for t in by_function(result, "sigmoid_derivative"))
    assert all(t.status == "pass" for t in by_function(result, "model"))
    assert shutil.which("bwrap")


def test_sabotaging_the_harness_earns_nothing(session, make_submission, course):
    folder = make_submission()
    neuron = folder / "neuron.py"
    neuron.write_text("import json\njson.dumps = lambda *args, **kwargs: 1 / 0\n" + neuron.read_text())
    result = session.grade(folder)
    sabotaged = {spec.name for spec in course.functions if spec.module in ("neuron", "backprop", "autograd_loop")}
    assert all(t.status == "error" and t.score == 0 for t in result.tests if t.function in sabotaged)
    assert all(t.status == "pass" for t in result.tests if t.function not in sabotaged), "untouched code keeps its points"
    assert result.score == sum(course.function(name).max_score for name in {s.name for s in course.functions} - sabotaged)
    assert session.grade(make_submission()).score == course.max_score


def test_limits_where_proc_is_missing_keep_time_and_file_size(tmp_path):
    from grader.worker.server import child_limits  # imports torch: only here, not in every test's process

    probe = Probe("f:call:case", "f", ProbeKind.CALL, "case")
    request = Request("limits", {}, {}, (probe,) * 4, seed=0, timeout=5, memory_mb=3072)
    on_linux = child_limits(request)
    assert set(on_linux) == {resource.RLIMIT_CPU, resource.RLIMIT_FSIZE, resource.RLIMIT_AS, resource.RLIMIT_NPROC}
    assert on_linux[resource.RLIMIT_AS] > 3072 * 2**20 and on_linux[resource.RLIMIT_NPROC] > 32
    assert child_limits(request, proc=tmp_path) == {resource.RLIMIT_CPU: 50, resource.RLIMIT_FSIZE: 64 * 2**20}


def test_a_system_without_fork_is_told_what_to_use(monkeypatch):
    monkeypatch.delattr("os.fork")
    result = CliRunner().invoke(main, ["check", str(ROOT / "solutions"), "--sandbox", "process"])
    assert result.exit_code == 2 and "use Linux or macOS (on Windows, WSL)" in result.output


@pytest.mark.skipif(landlock.abi_version() < 1, reason="this kernel has no Landlock")
def test_without_a_namespace_sandbox_landlock_keeps_the_solutions_out_of_reach(course, tmp_path):
    secret = str(course.solutions / "backprop.py")
    folder = build_submission(course.solutions, tmp_path / "s", {"neuron": {"activate": f"""
        def activate(u):
            open({secret!r}).read()
            return torch.sigmoid(u)
        """}})
    with Session(course, seed=SEED, sandbox="process", only=["activate", "loss_fn"]) as grading:
        result = grading.grade(folder)
    activate = by_function(result, "activate")[0]
    assert activate.status == "error" and "PermissionError" in activate.message
    assert all(t.status == "pass" for t in by_function(result, "loss_fn"))


FORGERIES = {
    "replaces the harness's probe runner": (
        "import grader.worker.harness as _harness\n"
        "_harness.run_probe = lambda *args, **kwargs: {'status': 'ok', 'calls': []}\n"),
    "writes a grader failure into its pipe": (
        "import json as _json, os as _os\n"
        "for _fd in range(3, 64):\n"
        "    try:\n"
        "        _os.write(_fd, (_json.dumps({'internal_error': 'forged'}) + '\\n').encode())\n"
        "    except OSError:\n"
        "        pass\n"),
}


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_code_that_tampers_with_the_grader_earns_nothing_and_is_no_grader_error(name, session, make_submission):
    folder = make_submission({"neuron": {"activate": "def activate(u):\n    return u * 0\n"}})
    neuron = folder / "neuron.py"
    neuron.write_text(FORGERIES[name] + neuron.read_text())
    result = session.grade(folder)
    assert not result.internal_errors
    assert all(t.score == 0 for t in by_function(result, "activate"))  # wrong, and the forgery does not help


def test_code_that_may_use_the_gpu_gets_no_address_space_limit(tmp_path):
    """CUDA reserves tens of GB of address space when it starts: under RLIMIT_AS it cannot (seen on an H200)."""
    from grader.worker.server import child_limits

    probe = Probe("f:call:case", "f", ProbeKind.CALL, "case")
    on_gpu = child_limits(Request("limits", {}, {}, (probe,), seed=0, timeout=5, memory_mb=3072, gpu=True))
    assert resource.RLIMIT_AS not in on_gpu and resource.RLIMIT_NPROC in on_gpu


STALLING_WORKERS = {
    "never answers": "import time; time.sleep(600)",
    "sends a line without end": "import sys, time; sys.stdout.write('x' * (300 * 2**20)); sys.stdout.flush(); time.sleep(600)",
    "answers with what is not the protocol": "print('{\"id\": 7}', flush=True); import time; time.sleep(600)",
}


@pytest.mark.parametrize("name", sorted(STALLING_WORKERS))
def test_the_grading_process_cannot_be_stalled_by_its_worker(name, monkeypatch):
    """Whatever a worker does, the grading process stops waiting at the request's deadline or at the size cap,
    kills it, and says which function was running."""
    import sys

    from grader import runner

    monkeypatch.setattr(runner.sandbox, "command", lambda *args, **kwargs: [sys.executable, "-c", STALLING_WORKERS[name]])
    monkeypatch.setattr(runner, "deadline_seconds", lambda request: 3.0)
    monkeypatch.setattr(runner, "STARTUP_SECONDS", 0.0)
    probe = Probe("f:call:case", "f", ProbeKind.CALL, "case")
    worker = runner.Worker("process")
    try:
        with pytest.raises(runner.WorkerDied):
            worker.request(Request("stall", {}, {}, (probe,), seed=0, timeout=1, memory_mb=100))
        assert worker.process.poll() is None  # restarted
    finally:
        worker.process.kill()
        worker.process.wait()


def test_a_requests_deadline_comes_from_the_declared_limits_alone():
    from grader.runner import deadline_seconds

    probes = tuple(Probe(f"{name}:call:case", name, ProbeKind.CALL, "case") for name in ("f", "f", "g"))
    short, long = (deadline_seconds(Request("r", {}, {}, probes, seed=0, timeout=t, memory_mb=1)) for t in (1, 10))
    assert short < long and long - short == 2 * 9
