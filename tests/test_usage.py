"""Usage that cannot go quietly wrong: an empty class, a course's own exercises/ taken for a class, a single
file checked, and students whose code did not load, shown where the instructor looks."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from examples.variants import build_submission
from grader.cli import main
from tests.conftest import ROOT, SEED


def _cli(*args):
    return CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)


def test_grading_a_folder_without_submissions_is_a_usage_error(tmp_path):
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "notes.txt").write_text("nothing to grade")
    result = _cli("grade", tmp_path / "class", "--out", tmp_path / "out", "--sandbox", "process")
    assert result.exit_code == 2
    assert "no submissions found in" in result.output and "expected student folders, .py, .ipynb or .zip" in result.output
    assert "notes.txt" in result.output


def test_checking_one_file_grades_its_functions_and_names_the_others_once():
    result = CliRunner().invoke(main, ["check", str(ROOT / "exercises" / "neuron.py"), "--sandbox", "process",
                                       "--seed", str(SEED), "--format", "json"])
    document = json.loads(result.stdout)
    assert {test["function"] for test in document["tests"]} == {"SimpleDataset", "activate", "model", "loss_fn"}
    assert result.stderr.count("not in neuron.py, so not graded:") == 1 and "gradient" in result.stderr


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory):
    """A class of two graded with the course's exercises/ beside it: one student whose backprop.py does not
    parse and whose autograd_loop.py raises while loading."""
    root = tmp_path_factory.mktemp("class")
    build_submission(course.solutions, root / "alice")
    broken = build_submission(course.solutions, root / "bob")
    (broken / "backprop.py").write_text((broken / "backprop.py").read_text() + "\ndef oops(:\n")
    (broken / "autograd_loop.py").write_text("undefined_name + 1\n" + (broken / "autograd_loop.py").read_text())
    out = tmp_path_factory.mktemp("grades")
    result = _cli("grade", root, "--out", out, "--sandbox", "process", "--workers", "1", "--seed", SEED)
    return result, out


def test_code_that_did_not_load_is_shown_where_the_instructor_looks(graded):
    result, out = graded
    assert "1 student's code did not load" in result.output and "bob: syntax error at backprop.py" in result.output
    summary = json.loads((out / "summary.json").read_text())
    problems = summary["could_not_load"]["bob"]
    assert any(problem.startswith("syntax error at backprop.py") for problem in problems)
    assert any("autograd_loop.py:1 raised NameError" in problem for problem in problems)
    assert "alice" not in summary["could_not_load"]
    report = (out / "report.html").read_text()
    assert "Code that did not load" in report and "syntax error at backprop.py" in report


def test_grading_the_exercises_folder_warns(tmp_path):
    result = _cli("grade", ROOT / "exercises", "--out", tmp_path / "out", "--sandbox", "process", "--workers", "1",
                  "--seed", SEED)
    assert "looks like the course's exercises/ folder" in result.stderr
