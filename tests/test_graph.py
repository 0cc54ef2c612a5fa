"""The autograd graph beside a failing autograd check: the worker's description, its text, the graph-breaking
variants of both courses, no graph in any passing check, and the picture in the class report."""

from __future__ import annotations

import re

import pytest
import torch

from examples.variants import WRONG_VARIANTS, build_submission
from grader import assignment, class_summary, gradebook, graph_text
from grader.engine import Session
from grader.reporters import html, terminal
from grader.worker import graph
from tests.conftest import ROOT, by_function
from tests.test_example_course import WRONG

NUMPY_ROUND_TRIP = {"neuron": {"model": """
    def model(X, W, b):
        u = torch.from_numpy(torch.sum(X * W, dim=1).detach().numpy())
        return activate(u + b)
    """}}
WRONG_SIGMOID_BACKWARD = WRONG["sigmoid backward missing the output factor"][0]


def _leaves(*shapes: tuple[int, ...]) -> list[torch.Tensor]:
    return [torch.rand(shape, dtype=torch.float64, requires_grad=True) for shape in shapes]


def _observed(function, arguments: list[torch.Tensor]) -> dict:
    with graph.CutRecorder() as recorder:
        output = function(*arguments)
    return graph.describe(output, arguments, list(range(len(arguments))), recorder.cuts)


def _graph_text(test) -> list[str]:
    return [line for line in test.details if "graph" in line]


# --- the worker's description ----------------------------------------------------------------------------------


def test_description_names_each_node_and_each_leaf_by_argument():
    X, W, b = _leaves((5, 2), (2,), (1,))
    described = _observed(lambda X, W, b: torch.sigmoid(torch.sum(X * W, dim=1) + b), [X, W, b])
    assert described["nodes"][0]["name"] == "SigmoidBackward0"
    assert {"SigmoidBackward0", "AddBackward0", "SumBackward1", "MulBackward0"} <= {n["name"] for n in described["nodes"]}
    leaves = {n["argument"]: n["shape"] for n in described["nodes"] if n["name"] == "AccumulateGrad"}
    assert leaves == {0: [5, 2], 1: [2], 2: [1]}
    assert described["roots"] == [{"output": 0, "shape": [5], "requires_grad": True, "leaf": False, "node": 0}]
    assert described["missing"] == [] and described["cuts"] == [] and not described["truncated"]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_item_cut_is_recorded_with_the_node_it_cut():
    y_pred, y = _leaves((4,), (4,))
    described = _observed(lambda y_pred, y: torch.tensor(((y_pred - y) ** 2).mean().item()), [y_pred, y])
    assert described["roots"][0]["requires_grad"] is False and described["missing"] == [0, 1]
    (cut,) = described["cuts"]
    assert cut["operation"] == ".item()" and described["nodes"][cut["node"]]["name"] == "MeanBackward0"


def test_detached_argument_never_reaches_the_output():
    X, W, b = _leaves((5, 2), (2,), (1,))
    described = _observed(lambda X, W, b: torch.sum(X * W.detach(), dim=1) + b, [X, W, b])
    assert described["missing"] == [1] and described["cuts"] == [{"operation": ".detach()", "argument": 1}]


def test_description_is_capped_and_claims_nothing_missing_past_the_cap():
    (start,) = _leaves((3,))
    value = start
    for _ in range(100):
        value = value * 1.01 + 0.1
    described = graph.describe(value, [start], [0])
    assert len(described["nodes"]) == graph.MAX_NODES and described["truncated"] and described["missing"] == []


def test_a_call_returning_no_tensor_that_requires_grad_has_no_graph():
    W, b = _leaves((2,), (1,))
    assert graph.describe_returned((W.detach(), 3.0), [W, b]) is None
    kept = graph.describe_returned((W, b), [W, b])
    assert [root.get("argument") for root in kept["roots"]] == [0, 1] and kept["nodes"] == []


# --- the text ---------------------------------------------------------------------------------------------------

_LOSS_NODES = [{"name": "MeanBackward0"}, {"name": "PowBackward0"}, {"name": "SubBackward0"},
               {"name": "AccumulateGrad", "shape": [12], "requires_grad": True, "argument": 0},
               {"name": "AccumulateGrad", "shape": [12], "requires_grad": True, "argument": 1}]
_LOSS_EDGES = [[0, 1], [1, 2], [2, 3], [2, 4]]
CUT_BY_ITEM = {"roots": [{"output": 0, "shape": [], "requires_grad": False, "leaf": True}], "nodes": _LOSS_NODES,
               "edges": _LOSS_EDGES, "cuts": [{"operation": ".item()", "node": 0}], "missing": [0, 1], "truncated": False}
REFERENCE_LOSS = {"roots": [{"output": 0, "shape": [], "requires_grad": True, "leaf": False, "node": 0}],
                  "nodes": _LOSS_NODES, "edges": _LOSS_EDGES, "cuts": [], "missing": [], "truncated": False}


def test_text_shows_where_the_graph_is_cut_beside_the_reference():
    assert graph_text.feedback(CUT_BY_ITEM, REFERENCE_LOSS, ["y_pred", "y"], []) == [
        "your graph:      result <- [cut: .item()] <- MeanBackward0 <- PowBackward0 <- SubBackward0 <- [y_pred (12,), y (12,)]",
        "reference graph: result <- MeanBackward0 <- PowBackward0 <- SubBackward0 <- [y_pred (12,), y (12,)]",
        "graph cut:       .item() on the output of MeanBackward0 leaves the graph: the result does not require grad"]


def test_text_without_a_reference_or_a_seen_cut():
    untracked = {"roots": [{"output": 0, "shape": [3], "requires_grad": False, "leaf": True}], "nodes": [],
                 "edges": [], "cuts": [], "missing": [0], "truncated": False}
    assert graph_text.feedback(untracked, None, ["a"], []) == [
        "your graph:      result (3,): does not require grad (no grad_fn)",
        "graph cut:       the result does not require grad: is it computed under torch.no_grad(), or through "
        ".item(), float(), .detach() or numpy?"]


def test_text_names_the_argument_that_does_not_reach_and_folds_repeats():
    nodes = [{"name": "AddBackward0"}, {"name": "AccumulateGrad", "shape": [1], "requires_grad": True, "argument": 2}]
    partial = {"roots": [{"output": 0, "shape": [5], "requires_grad": True, "leaf": False, "node": 0}], "nodes": nodes,
               "edges": [[0, 1]], "cuts": [{"operation": ".detach()", "argument": 1}], "missing": [1], "truncated": False}
    assert graph_text.where_cut(partial, ["X", "W", "b"], []) == "W does not reach the result (.detach() on W)"
    chain = {"roots": [{"output": 0, "shape": [2], "requires_grad": True, "leaf": False, "node": 0},
                       {"output": 1, "shape": [1], "requires_grad": True, "leaf": True, "argument": 1}],
             "nodes": [{"name": "SubBackward0"}] * 3 + [{"name": "AccumulateGrad", "shape": [2], "argument": 0}],
             "edges": [[0, 1], [1, 2], [2, 3]], "cuts": [], "missing": [], "truncated": False}
    assert graph_text.chains(chain, ["W", "b"], ["W", "b"]) == [
        "W <- SubBackward0 x3 <- [W (2,)]", "b (1,): a leaf tensor that requires grad"]


def test_text_of_a_malformed_graph_ends():
    looped = {"roots": [{"output": 0, "requires_grad": True, "node": 0}], "nodes": [{"name": "A"}, {"name": "B"}],
              "edges": [[0, 1], [1, 0], [1, 7]], "truncated": True}
    assert graph_text.chains(looped, [], []) == ["result <- A <- B <- [...]"]


def test_only_a_well_formed_description_is_kept():
    assert graph_text.checked(CUT_BY_ITEM) == CUT_BY_ITEM
    named = {**REFERENCE_LOSS, "nodes": [{"name": "x" * 500, "code": "print()"}], "edges": []}
    assert graph_text.checked(named)["nodes"] == [{"name": "x" * graph_text.NAME_LIMIT}]
    for broken in (None, "graph", {**REFERENCE_LOSS, "edges": [[0, 99]]}, {**REFERENCE_LOSS, "nodes": [{}]},
                   {**REFERENCE_LOSS, "roots": [{"node": "0"}]}, {**CUT_BY_ITEM, "cuts": [{"operation": 3}]}):
        assert graph_text.checked(broken) is None


# --- grading: the graph in a failing autograd check, never in a passing one ---------------------------------------


@pytest.mark.parametrize("name", ["graph broken by item"])
def test_graph_breaking_variant_shows_both_graphs_and_the_cut(name, session, make_submission):
    changes, function, check, _ = WRONG_VARIANTS[name]
    result = session.grade(make_submission(changes))
    (failed,) = [t for t in by_function(result, function) if t.check == check]
    text = "\n".join(_graph_text(failed))
    assert re.search(r"your graph: +result <- \[cut: \.item\(\)\] <- MeanBackward0 <- PowBackward0 <- SubBackward0 "
                     r"<- \[y_pred \(\d+,\), y \(\d+,\)\]", text), text
    assert re.search(r"reference graph: result <- MeanBackward0 <- PowBackward0 <- SubBackward0", text), text
    assert "graph cut:       .item() on the output of MeanBackward0 leaves the graph" in text
    assert failed.as_dict()["graphs"]["yours"]["cuts"][0]["operation"] == ".item()"
    assert "your graph:" in terminal.render(result)


def test_numpy_round_trip_names_the_inputs_cut_off(session, make_submission):
    result = session.grade(make_submission(NUMPY_ROUND_TRIP))
    (failed,) = [t for t in by_function(result, "model") if t.check == "differentiable"]
    assert failed.mistake == "graph-broken"
    assert "graph cut:       X, W do not reach the result (.detach() on the output of SumBackward1)" in failed.details


def test_non_leaf_update_shows_the_parameters_graph(session, make_submission):
    changes, *_ = WRONG_VARIANTS["non-leaf update"]
    result = session.grade(make_submission(changes))
    (leaf,) = [t for t in by_function(result, "learn_autograd") if t.check == "leaf-parameters"]
    assert "your graph:      W <- SubBackward0 <- [W (2,)]" in leaf.details
    assert "reference graph: W (2,): a leaf tensor that requires grad" in leaf.details


def test_no_graph_in_any_passing_check(session, make_submission):
    result = session.grade(make_submission())
    assert result.passed
    assert not [t.name for t in result.tests if t.graphs or _graph_text(t) or "graphs" in t.as_dict()]


@pytest.fixture(scope="module")
def functions_course():
    course = assignment.load(ROOT / "examples" / "autograd-functions" / "assignment.toml")
    with Session(course, seed=8128, sandbox="process") as grading:
        yield course, grading


def test_a_graph_like_the_reference_is_not_shown_and_correct_code_shows_none(functions_course, tmp_path):
    """A wrong custom backward builds the same graph as the reference: the values say what is wrong."""
    course, grading = functions_course
    wrong = grading.grade(build_submission(course.solutions, tmp_path / "wrong", WRONG_SIGMOID_BACKWARD))
    (failed,) = [t for t in by_function(wrong, "Sigmoid") if t.check == "backward"]
    assert failed.status == "fail" and "differs from central finite differences" in failed.message
    assert not failed.graphs and not _graph_text(failed)
    right = grading.grade(build_submission(course.solutions, tmp_path / "right"))
    assert right.passed and not [t.name for t in right.tests if t.graphs or _graph_text(t)]


# --- the class report ---------------------------------------------------------------------------------------------


def test_report_draws_the_graphs_in_the_failing_checks_feedback(session, make_submission, course):
    broken, *_ = WRONG_VARIANTS["graph broken by item"]
    results = {"broken": session.grade(make_submission(broken)), "right": session.grade(make_submission())}
    records = {student: gradebook.student_record(student, result, course.max_score) for student, result in results.items()}
    feedback = {"broken": terminal.render(results["broken"], markdown=True)}  # "right" is drawn from its record alone
    page = html.render(records, class_summary.summarise(records, course, []), course, {"seed": 5}, feedback)
    broken_section = page[page.index('id="student-0"'):page.index('id="student-1"')]
    check = broken_section.index("loss_fn: autograd&#x27;s gradient through it matches finite differences")
    figure = broken_section.index("<svg", check)
    assert "cut: .item()" in broken_section[figure:] and "reference graph" in broken_section[figure:]
    assert "<svg" not in page[page.index('id="student-1"'):]
