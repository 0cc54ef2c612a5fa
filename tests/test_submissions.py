"""Every shape of submission grades alike; broken code costs only what it touches, with a clear message."""

from __future__ import annotations

import contextlib
import json
import queue
import re
import shutil
import subprocess
import sys
import threading
import time

import nbformat
from click.testing import CliRunner

from examples.variants import WRONG_VARIANTS
from grader import pyparse, submission
from grader.cli import main
from grader.engine import signature_problem
from grader.reporters import terminal
from grader.results import SubmissionResult
from tests.conftest import ROOT, SEED, by_function


def _scores(result):
    return {t.name: t.status for t in result.tests}


def test_notebook_grades_like_the_folder(session, course, tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_markdown_cell("# My solutions"))
    notebook.cells.append(nbformat.v4.new_code_cell("%matplotlib inline\n!pip install torch"))
    notebook.cells.append(nbformat.v4.new_code_cell("%%bash\necho this cell is shell, not Python"))
    cell_magics = {"neuron": "%%writefile neuron.py\n", "backprop": "%%time\n"}
    for name in ("neuron", "backprop", "autograd_loop", "autograd_basics"):
        text = (course.solutions / f"{name}.py").read_text()
        text = "\n".join(line for line in text.splitlines() if not line.startswith("from neuron import")
                         and not line.startswith("from backprop import"))
        notebook.cells.append(nbformat.v4.new_code_cell(cell_magics.get(name, "") + text))
    path = tmp_path / "Assignment 1.ipynb"
    nbformat.write(notebook, str(path))
    result = session.grade(path)
    assert result.score == result.max_score, [t.message for t in result.tests if t.status != "pass"]


def test_single_file_grades_like_the_folder(session, course, tmp_path):
    path = tmp_path / "everything.py"
    parts = [(course.solutions / f"{name}.py").read_text() for name in ("neuron", "backprop", "autograd_loop", "autograd_basics")]
    path.write_text("\n".join(line for part in parts for line in part.splitlines()
                              if not line.startswith(("from neuron import", "from backprop import"))))
    result = session.grade(path)
    assert result.score == result.max_score


def test_failures_point_at_the_students_own_file_and_notebook_cell(session, tmp_path):
    raising = "def activate(u):\n    x = 1\n    raise ValueError('boom')\n"
    (tmp_path / "mine.py").write_text("import torch\n\n\n" + raising)
    notebook = nbformat.v4.new_notebook()
    notebook.cells += [nbformat.v4.new_code_cell("import torch"), nbformat.v4.new_code_cell(raising)]
    nbformat.write(notebook, str(tmp_path / "mine.ipynb"))
    for name, definition, frame in (("mine.py", "mine.py:4", '"mine.py", line 6'),
                                    ("mine.ipynb", "mine.ipynb (cell 2, line 1)", '"mine.ipynb", cell 2, line 3')):
        (test, *_) = by_function(session.grade(tmp_path / name), "activate")
        report = terminal.render(SubmissionResult(name, SEED, [test]))
        assert test.status == "error" and "raised ValueError: boom" in test.message
        assert f"({definition}) ___" in report and f"{frame}, in activate" in report
        assert "autograde-stage" not in report


def test_syntax_error_costs_only_that_file(session, make_submission):
    folder = make_submission()
    (folder / "autograd_basics.py").write_text("def detached(a)\n    return a.detach()\n")
    result = session.grade(folder)
    assert all(t.status == "pass" for t in result.tests if t.function in ("model", "gradient", "learn_sgd"))
    (test,) = by_function(result, "detached")
    assert test.status == "error" and "syntax error at autograd_basics.py:1" in test.message
    assert any("syntax error" in warning for warning in result.warnings)


def test_exception_at_import_costs_only_what_it_touches(session, make_submission):
    folder = make_submission()
    source = (folder / "backprop.py").read_text()
    (folder / "backprop.py").write_text(source.replace("def gradient(", "raise ValueError('oops')\n\n\ndef gradient(", 1))
    result = session.grade(folder)
    assert result.score == result.max_score
    folder2 = make_submission()
    text = (folder2 / "autograd_basics.py").read_text()
    (folder2 / "autograd_basics.py").write_text(text.replace("def detached(a):", "def detached(a=undefined_name):"))
    result = session.grade(folder2)
    (test,) = by_function(result, "detached")
    assert test.status == "error" and "detached is not defined in autograd_basics" in test.message
    assert any("NameError: name 'undefined_name' is not defined" in line for line in test.details)
    assert all(t.status == "pass" for t in by_function(result, "descend_weights"))


def test_missing_function_is_named_with_its_signature(session, make_submission):
    folder = make_submission()
    text = (folder / "backprop.py").read_text()
    (folder / "backprop.py").write_text(text.replace("def backward(x, y, z):", "def backward_pass(x, y, z):"))
    result = session.grade(folder)
    (test,) = by_function(result, "backward")
    assert test.status == "error" and test.message.startswith("backward not found: define backward(x, y, z)")


def test_lecture_signature_of_gradient_gets_a_message_not_a_traceback(session, make_submission):
    folder = make_submission({"backprop": {"gradient": """
        def gradient(W, b, X, y_pred, y):
            return W, b
        """}})
    result = session.grade(folder)
    for test in by_function(result, "gradient"):
        assert test.status == "fail"
        assert test.message == "gradient(W, b, X, y_pred, y) does not match the exercise: write gradient(W, b, X, y)"


def test_signature_rules():
    from grader.assignment import CheckSpec, FunctionSpec

    learn = FunctionSpec("learn", "backprop", ("W", "b", "train_data_loader", "max_epochs=20_000", "learning_rate=0.01"),
                         (CheckSpec("training", 1),))
    def node(text):
        return pyparse.parse(text).body[0]
    assert signature_problem(learn, node("def learn(W, b, loader, max_epochs=5, learning_rate=0.1): pass")) is None
    assert signature_problem(learn, node("def learn(W, b, loader, **options): pass")) is None
    assert "write learn(W, b, train_data_loader, max_epochs=20_000" in signature_problem(learn, node("def learn(W, b, loader): pass"))


def test_student_output_is_shown_only_with_failures_and_truncated(session, make_submission):
    folder = make_submission({"neuron": {"activate": """
        def activate(u):
            print("x" * 100_000)
            return torch.relu(u)
        """}})
    result = session.grade(folder)
    test = by_function(result, "activate")[0]
    assert test.status == "fail" and test.output.startswith("xxxx") and "more characters not shown" in test.output
    assert len(test.output) < 5_000
    assert all(t.output == "" for t in result.tests if t.status == "pass")


def test_cli_json_and_exit_codes(tmp_path, course):
    runner = CliRunner()
    solved = runner.invoke(main, ["check", str(course.solutions), "--format", "json", "--seed", str(SEED),
                                  "--sandbox", "process", "--only", "model", "--only", "backward"])
    assert solved.exit_code == 0, solved.output
    document = json.loads(solved.output)
    assert document["score"] == document["max_score"] > 0
    assert {t["function"] for t in document["tests"]} == {"model", "backward"}
    assert set(document["tests"][0]) == {"name", "function", "status", "score", "max_score", "message", "mistake"}

    stubs = runner.invoke(main, ["check", str(course.exercises), "--format", "json", "--sandbox", "process"])
    assert stubs.exit_code == 1
    document = json.loads(stubs.output)
    assert document["score"] == 0
    assert {t["function"] for t in document["tests"]} == {spec.name for spec in course.functions}
    assert all(t["status"] == "fail" and t["message"].count("not implemented yet") == 1 for t in document["tests"])

    usage = runner.invoke(main, ["check", str(course.exercises), "--only", "no_such_function"])
    assert usage.exit_code == 2 and "no function no_such_function" in usage.output


def test_internal_error_is_reported_as_such(tmp_path, course):
    broken = tmp_path / "course"
    shutil.copytree(ROOT, broken, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "tests", "grader"))
    text = (broken / "solutions" / "backprop.py").read_text()
    (broken / "solutions" / "backprop.py").write_text(text.replace("return df_dx, df_dy, df_dz", "raise RuntimeError('bug')"))
    result = CliRunner().invoke(main, ["check", str(course.solutions), "--assignment", str(broken / "assignment.toml"),
                                       "--only", "backward", "--sandbox", "process"])
    assert result.exit_code == 3
    assert "INTERNAL ERROR in the grader (not your fault" in result.output


def test_malformed_files_get_a_clear_message_and_cost_only_themselves(session, make_submission, course):
    folder = make_submission()
    (folder / "notes.ipynb").write_text("{ this is not json")
    (folder / "binary.py").write_bytes(b"\x00\x01\x02ELF")
    (folder / "latin1.py").write_bytes("# caf\xe9\nx = 1\n".encode("latin-1"))
    (folder / "linked").symlink_to(course.solutions)
    result = session.grade(folder)
    assert result.score == result.max_score
    warnings = "\n".join(result.warnings)
    assert "notes.ipynb is not a readable notebook" in warnings
    assert "binary.py is a binary file, not Python source" in warnings
    assert "latin1.py is not UTF-8 text" in warnings
    assert "linked" not in warnings


def test_symlinked_code_is_not_read(session, make_submission, course):
    folder = make_submission()
    (folder / "backprop.py").unlink()
    (folder / "backprop.py").symlink_to(course.solutions / "backprop.py")
    result = session.grade(folder)
    assert all(t.status == "error" and "not found" in t.message for t in by_function(result, "gradient"))


def test_notebook_with_huge_outputs_grades(session, course, tmp_path):
    notebook = nbformat.v4.new_notebook()
    for name in ("neuron", "backprop", "autograd_loop", "autograd_basics"):
        text = (course.solutions / f"{name}.py").read_text()
        cell = nbformat.v4.new_code_cell("\n".join(line for line in text.splitlines()
                                                   if not line.startswith(("from neuron import", "from backprop import"))))
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="y" * 1_500_000)]
        notebook.cells.append(cell)
    path = tmp_path / "big.ipynb"
    nbformat.write(notebook, str(path))
    assert 6_000_000 < path.stat().st_size <= submission.MAX_NOTEBOOK_BYTES
    assert session.grade(path).score == course.max_score
    notebook.cells[0].outputs[0].text = "y" * submission.MAX_NOTEBOOK_BYTES
    nbformat.write(notebook, str(path))
    assert all(t.status == "error" and "big.ipynb is larger than 8 MiB; not read (clear its outputs and save it again)"
               in t.message for t in session.grade(path).tests)


def test_watch_regrades_after_an_edit(course, tmp_path):
    folder = shutil.copytree(course.exercises, tmp_path / "work")
    watcher = subprocess.Popen([sys.executable, "-m", "grader", "check", str(folder), "--watch", "--only", "activate",
                                "--sandbox", "process", "--assignment", str(ROOT / "assignment.toml")],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in watcher.stdout], daemon=True).start()

    def wait_for(text: str) -> str:
        seen, deadline = "", time.monotonic() + 60
        while text not in seen and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                seen += lines.get(timeout=1)
        return seen

    try:
        assert "FAIL" in wait_for("Total:")
        stub = folder / "neuron.py"
        stub.write_text(stub.read_text().replace("raise NotImplementedError('1 / (1 + e^(-u)), or torch.sigmoid')",
                                                 "return torch.sigmoid(u)"))
        second = wait_for("Total:")
        assert "activate    returns what the reference returns" in second and "1.5 / 1.5 points" in second
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)


def test_an_edit_saved_while_grading_is_not_missed(tmp_path):
    (tmp_path / "neuron.py").write_text("x = 1\n")
    graded = submission.fingerprint(tmp_path)
    (tmp_path / "neuron.py").write_text("x = 22\n")  # saved after grading began
    returned: list[None] = []
    waiting = threading.Thread(target=lambda: returned.append(submission.wait_for_change(tmp_path, graded, 0.05)),
                               daemon=True)
    waiting.start()
    waiting.join(timeout=5)
    assert returned == [None], "the edit was missed: still waiting"


def test_functions_not_written_yet_get_one_line_each_and_real_failures_the_detail(session, make_submission, course):
    folder = make_submission(WRONG_VARIANTS["loss sum"][0])
    shutil.copy(course.exercises / "autograd_basics.py", folder / "autograd_basics.py")
    report = terminal.render(session.grade(folder))
    unfinished = report.split("NOT IMPLEMENTED YET")[1].split("SHORT SUMMARY")[0]
    assert "___ loss_fn: returns what the reference returns" in report.split("NOT IMPLEMENTED YET")[0]
    assert unfinished.count("not implemented yet (hint: ") == 6
    assert re.search(r"\ndetached \(autograd_basics.py:\d+\): not implemented yet \(hint: one method of Tensor", unfinished)
    assert "___ detached" not in report and "FAIL loss_fn" in report.split("SHORT SUMMARY")[1]
