"""Grades that hold in the field: answers that once crashed the grader, contained grader failures,
declarations checked at load, GPU machines, a worker killed by the code, no silent loss of the sandbox."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from examples.variants import build_submission
from grader import assignment, compare, kinds, runner, sandbox
from grader.cli import main
from grader.engine import Session
from grader.protocol import EventKind, Request, Response
from grader.reporters import terminal
from grader.results import INTERNAL
from grader.runner import WorkerDied
from tests.conftest import ROOT, by_function

CRASHED_THE_GRADER = {
    "model without the bias": {"neuron": {"model": """
        def model(X, W, b):
            return activate(torch.sum(X * W, dim=1))
        """}},
    "zero gradients": {"backprop": {"gradient": """
        def gradient(W, b, X, y):
            return torch.zeros_like(W), torch.zeros_like(b)
        """}},
    "relu activation": {"neuron": {"activate": """
        def activate(u):
            return torch.relu(u)
        """}},
}


def test_a_result_of_zero_is_a_difference_not_a_crash():
    assert compare.ratio_note(np.asarray(0.0), np.asarray(0.25)) == ""
    mismatch = compare.compare(0, 0.25, 1e-4, 1e-6)
    assert mismatch.what == "values differ" and mismatch.got == "0"


@pytest.mark.parametrize("name", sorted(CRASHED_THE_GRADER))
def test_answers_that_crashed_the_grader_get_a_verdict(name, session, make_submission):
    result = session.grade(make_submission(CRASHED_THE_GRADER[name]))
    assert not result.internal_errors
    function = next(iter(next(iter(CRASHED_THE_GRADER[name].values()))))
    assert any(t.status == "fail" and t.message for t in by_function(result, function))


def test_grade_grades_every_student_of_a_class_that_once_crashed_it(tmp_path):
    solutions = ROOT / "solutions"
    for name, changes in CRASHED_THE_GRADER.items():
        build_submission(solutions, tmp_path / "class" / name.replace(" ", "-"), changes)
    build_submission(solutions, tmp_path / "class" / "correct")
    result = CliRunner().invoke(main, ["grade", str(tmp_path / "class"), "--out", str(tmp_path / "grades"),
                                       "--sandbox", "process", "--seed", "7", "--workers", "1", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "grades" / "grades.csv").read_text().splitlines()) == 1 + 4


def test_a_judging_failure_is_contained_to_its_check_and_reported_as_the_graders(session, monkeypatch):
    def broken(*arguments):
        raise ZeroDivisionError("a bug in a judge")

    differentiable = kinds.CHECK_KINDS["differentiable"]
    monkeypatch.setitem(kinds.CHECK_KINDS, "differentiable", dataclasses.replace(differentiable, judge=broken))
    result = session.grade(ROOT / "solutions")
    internal = [t for t in result.tests if t.status == INTERNAL]
    assert internal and all(t.check == "differentiable" for t in internal)
    assert all(t.status == "pass" for t in result.tests if t.check != "differentiable")
    assert "judging this check failed" in internal[0].message and "ZeroDivisionError" in internal[0].message
    assert "INTERNAL ERROR in the grader (not your fault; please report it): judging" in terminal.render(result)
    assert result.internal_errors and {"internal"} <= {test["status"] for test in result.as_dict()["tests"]}


def _course_copy(tmp_path, edit=lambda text: text):
    copy = tmp_path / "course"
    for part in ("solutions", "exercises", "mistakes"):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("inputs.py", "targets.py"):
        shutil.copy(ROOT / part, copy)
    (copy / "assignment.toml").write_text(edit((ROOT / "assignment.toml").read_text()))
    return copy / "assignment.toml"


@pytest.mark.parametrize("old, new, named", [
    ('cases = ["model_lecture", "model_random"] }', 'cases = ["model_lecture", "model_randon"] }', "unknown input case 'model_randon'"),
    ('mistakes = ["wrong-sigmoid-sign"]', 'mistakes = ["wrong-sigmoid-sign", "off-by-one"]', "mistake 'off-by-one' has no meaning"),
    ('target = "sum_of_sigmoid"', 'target = "sum_of_tanh"', "target 'sum_of_tanh' is not a function of targets.py"),
    ('parameters = ["W", "b"] }', 'parameters = ["W", "bias"] }', "parameters names 'bias'"),
])
def test_a_wrong_declaration_is_a_usage_error_naming_the_entry_and_the_file(tmp_path, old, new, named):
    path = _course_copy(tmp_path, lambda text: text.replace(old, new, 1))
    for command in (["check", str(ROOT / "solutions")], ["validate"]):
        result = CliRunner().invoke(main, [*command, "--assignment", str(path), "--sandbox", "process"])
        assert result.exit_code == 2 and named in result.output and str(path) in result.output, result.output
        assert "Traceback" not in result.output


def test_a_hanging_function_is_not_said_to_be_importing(session, make_submission):
    hangs = session.grade(make_submission({"backprop": {"numerical_derivative": """
        def numerical_derivative(f, x, h=1e-4):
            while True:
                pass
        """}}))
    (test,) = by_function(hangs, "numerical_derivative")
    assert test.mistake == "timeout" and "did not finish within" in test.message and "importing" not in test.message
    assert all(t.status == "pass" for t in by_function(hangs, "gradient"))


def test_a_module_that_hangs_while_loading_is_said_to_be(session, make_submission, tmp_path):
    folder = make_submission()
    (folder / "backprop.py").write_text("while True:\n    pass\n" + (folder / "backprop.py").read_text())
    test = by_function(session.grade(folder), "numerical_derivative")[0]
    assert "while importing backprop.py" in test.message


def test_code_runs_with_no_gpu_visible_unless_asked(monkeypatch, tmp_path):
    assert runner.environment("cpu", {"CUDA_VISIBLE_DEVICES": "0"})["CUDA_VISIBLE_DEVICES"] == ""
    assert runner.environment("cuda", {"CUDA_VISIBLE_DEVICES": "0"})["CUDA_VISIBLE_DEVICES"] == "0"
    bwrapped = sandbox.command("bwrap", [tmp_path], "cpu")
    index = bwrapped.index("CUDA_VISIBLE_DEVICES")
    assert bwrapped[index - 1] == "--setenv" and bwrapped[index + 1] == ""
    on_gpu = sandbox.command("bwrap", [tmp_path], "cuda")
    assert "CUDA_VISIBLE_DEVICES" not in on_gpu[:index] and on_gpu[on_gpu.index("/sys") - 1] == "--ro-bind-try"


def test_a_cuda_visible_machine_grades_the_device_idiom_on_the_cpu(monkeypatch, course, make_submission):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")  # what a GPU workstation has
    submission = make_submission({"neuron": {"model": """
        def model(X, W, b):
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            return activate(X.to(device) @ W.to(device) + b.to(device))
        """, "activate": """
        def activate(u):
            return torch.sigmoid(u.cuda())
        """}})
    with Session(course, seed=3, sandbox="process", only=["model", "activate"]) as grading:
        result = grading.grade(submission)
    assert not result.internal_errors
    assert by_function(result, "activate")[0].mistake == "hard-coded-cuda"


class _DyingWorker:
    """A worker whose process the code kills while ``learn`` runs, then one that serves."""

    def __init__(self):
        self.requests = []

    def request(self, request: Request, until: float | None = None) -> Response:
        self.requests.append(sorted(request.functions))
        if len(self.requests) == 1:
            raise WorkerDied("the grading process ended (exit status -9) while running learn", "learn")
        return Response(request.id)


def test_a_worker_killed_by_one_function_costs_only_that_function(session, tmp_path):
    from grader import submission

    code = submission.load(ROOT / "solutions", {spec.name for spec in session.assignment.functions}, tmp_path)
    worker = _DyingWorker()
    runnable = ["gradient", "learn", "learn_sgd"]
    response = session._run(worker, ROOT / "solutions", code, runnable, 0, {})
    assert worker.requests == [runnable, ["gradient", "learn_sgd"]]
    assert [(event.function, event.kind) for event in response.events] == [("learn", EventKind.CRASH)]


def test_grading_a_class_without_a_sandbox_must_be_asked_for(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox, "bwrap_works", lambda: False)
    refused = CliRunner().invoke(main, ["grade", str(ROOT / "examples" / "class"), "--out", str(tmp_path)])
    assert refused.exit_code == 2 and "--sandbox process" in refused.output and "bubblewrap" in refused.output


def test_declarations_load_for_the_lecture(course):
    assert assignment.declaration_problems(course) == []


def test_a_function_defined_in_several_files_says_which_one_was_graded(session, make_submission):
    folder = make_submission()
    (folder / "a_scratch.py").write_text("def learn(W, b, train_data_loader, max_epochs=20_000, learning_rate=0.01):\n"
                                         "    return W, b\n")
    result = session.grade(folder)
    (note,) = [warning for warning in result.warnings if warning.startswith("learn is defined in 2 places")]
    graded = by_function(result, "learn")[0].location
    assert graded.startswith("backprop.py:") and "a_scratch.py:1" in note and note.endswith(f"the one graded is {graded}")
    assert all(test.status == "pass" for test in by_function(result, "learn"))  # the exercise's module wins
