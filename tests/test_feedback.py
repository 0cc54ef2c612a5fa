"""Feedback about what the student actually did: a helper that is still a stub, a syntax error, missing
functions, no-autograd judged against the student's own result, NaN-aware variant matching, declarations that
cannot be half-made."""

from __future__ import annotations

import re
import shutil

import pytest

from examples.variants import WRONG_VARIANTS, build_submission
from grader import assignment, compare
from grader.reporters import terminal
from tests.conftest import ROOT, by_function


def test_a_written_function_whose_helper_is_a_stub_says_so(session, course, tmp_path):
    folder = tmp_path / "s"
    shutil.copytree(ROOT / "exercises", folder)
    model = re.search(r"def model\(.*?(?=\ndef )", (course.solutions / "neuron.py").read_text(), re.S).group(0)
    neuron = folder / "neuron.py"
    neuron.write_text(re.sub(r"def model\(.*?(?=\ndef )", lambda _: model, neuron.read_text(), flags=re.S))
    result = session.grade(folder)
    model_tests = by_function(result, "model")
    assert all(t.message == "model calls activate, which is not implemented yet" for t in model_tests)
    assert all(not t.not_implemented and not t.hint for t in model_tests)
    assert all(t.not_implemented for t in by_function(result, "activate"))
    text = terminal.render(result)
    assert "activate (neuron.py" in text.split("NOT IMPLEMENTED YET")[1] and "model (neuron.py" not in text.split("NOT IMPLEMENTED YET")[1]


def test_a_syntax_error_leads_the_report_and_missing_functions_are_one_line_per_file(session, course, tmp_path):
    folder = build_submission(course.solutions, tmp_path / "s")
    (folder / "backprop.py").write_text("def gradient(:\n")
    (folder / "autograd_loop.py").unlink()
    result = session.grade(folder)
    text = terminal.render(result)
    assert text.index("error: syntax error at backprop.py:1") < text.index("function ")
    assert "not in backprop.py (it did not load: see the error above): numerical_derivative, backward" in text
    assert "not in autograd_loop.py: learn_autograd, learn_sgd, learn_accumulate" in text
    assert " not found: define " not in text  # no block per check


def test_no_autograd_compares_with_the_students_own_result(session, course, tmp_path):
    """A summed gradient is wrong (its returns check says so), but it does not use autograd: the no-autograd
    check passes."""
    result = session.grade(build_submission(course.solutions, tmp_path / "s", WRONG_VARIANTS["gradient sum"][0]))
    gradient = {t.check: t for t in by_function(result, "gradient")}
    assert gradient["returns"].status == "fail" and gradient["no-autograd"].status == "pass"


def test_a_variant_that_returns_nan_matches_a_nan_result():
    nan = {"type": "tensor", "class": "torch.Tensor", "dtype": "float32", "shape": [2], "device": "cpu",
           "data": [float("nan"), 1.0], "requires_grad": False, "is_leaf": True, "grad_fn": None, "grad": None}
    assert compare.compare(nan, nan, 1e-4, 1e-6) is not None  # against the reference, nan never agrees
    assert compare.compare(nan, nan, 1e-4, 1e-6, nan_equal=True) is None
    moved = {**nan, "data": [1.0, float("nan")]}
    assert compare.compare(moved, nan, 1e-4, 1e-6, nan_equal=True) is not None


def test_a_variant_whose_mistake_no_check_lists_is_a_load_error(tmp_path):
    course = tmp_path / "course"
    shutil.copytree(ROOT, course, ignore=shutil.ignore_patterns(".git", ".venv", "tests", "examples", "benchmarks", "docs"))
    wrong = course / "mistakes" / "wrong_neuron.py"
    wrong.write_text(wrong.read_text() + "\n\ndef loss_fn__made_up_slip(y_pred, y):\n    return y_pred\n")
    with pytest.raises(assignment.AssignmentError, match="loss_fn__made_up_slip, a wrong variant of loss_fn whose mistake no check"):
        assignment.load(course / "assignment.toml")


def test_with_only_a_function_whose_helper_is_a_stub_says_so(course, tmp_path):
    """Found trying the README as a student: with --only gradient, the stub model's hint was shown under gradient."""
    from grader.engine import Session
    folder = tmp_path / "s"
    shutil.copytree(ROOT / "exercises", folder)
    gradient = re.search(r"def gradient\(.*?(?=\ndef )", (course.solutions / "backprop.py").read_text(), re.S).group(0)
    backprop = folder / "backprop.py"
    backprop.write_text(re.sub(r"def gradient\(.*?(?=\ndef )", lambda _: gradient, backprop.read_text(), flags=re.S))
    with Session(course, seed=5, sandbox="process", only=["gradient"]) as grading:
        result = grading.grade(folder)
    assert {t.message for t in result.tests if t.check == "returns"} == {"gradient calls model, which is not implemented yet"}
