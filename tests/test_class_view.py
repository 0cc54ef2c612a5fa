"""The class view: clusters of identical wrong answers, pairs of similar code, internal errors listed.

A generated class is graded for real once: planted identical wrong answers written in different
code, one planted copy (variables renamed, functions reordered, one file instead of four), and
students who share only the starter code or the reference solutions.
"""

from __future__ import annotations

import ast
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from examples.variants import CORRECT_VARIANTS, WRONG_VARIANTS, build_submission, replace_function
from grader import pyparse, similarity
from grader.batch import grade_class
from grader.clusters import find_clusters
from grader.class_summary import summarise
from grader.reporters import summary as summary_report
from grader.results import NOT_IMPLEMENTED
from tests.conftest import SEED

MODULES = ("neuron", "backprop", "autograd_loop", "autograd_basics")
LOSS_SUM = WRONG_VARIANTS["loss sum"][0]
ORIGINAL = {"backprop": {**CORRECT_VARIANTS["gradient by matmul"]["backprop"],
                         **CORRECT_VARIANTS["numerical derivative written out"]["backprop"]},
            **CORRECT_VARIANTS["zero_ instead of None, printing"],
            **CORRECT_VARIANTS["sum of squares over the list of items"]}
COPIED = sorted(["gradient", "numerical_derivative", "learn_autograd", "descend_weights"])
RENAMED = {  # the ORIGINAL functions with every local variable renamed, as a copier would
    "gradient": """
        def gradient(W, b, X, y):
            pre = X @ W + b
            act = 1 / (1 + torch.exp(-pre))
            err = 2 * (act - y) * act * (1 - act) / len(y)
            return X.T @ err, err.sum().reshape(1)
        """,
    "numerical_derivative": """
        def numerical_derivative(f, x, h=1e-4):
            ahead, behind = f(x + h), f(x - h)
            return (ahead - behind) / h / 2
        """,
    "learn_autograd": """
        def learn_autograd(W, b, train_data_loader, max_epochs=20_000, learning_rate=0.01):
            for step in range(max_epochs):
                for chunk in train_data_loader:
                    cost = loss_fn(model(chunk["input"], W, b), chunk["target"])
                    cost.backward()
                    print("epoch", step, "loss", cost.item())
                    with torch.no_grad():
                        W -= learning_rate * W.grad
                        b -= learning_rate * b.grad
                    W.grad.zero_()
                    b.grad.zero_()
            return W, b
        """,
    "descend_weights": """
        def descend_weights(weights, epochs=3, learning_rate=0.1):
            seen = []
            for _ in range(epochs):
                weights.grad = None
                total = torch.sum(3 * weights)
                seen.append(float(total))
                total.backward()
                with torch.no_grad():
                    weights.sub_(learning_rate * weights.grad)
            return seen + [float(torch.sum(3 * weights))]
        """,
}


def one_reordered_file(folder, target, renamed: dict[str, str]) -> None:
    """The folder's modules as one file: renamed definitions swapped in, imports first, then every
    other top-level statement in reverse order."""
    text = "\n".join(line for module in MODULES for line in (folder / f"{module}.py").read_text().splitlines()
                     if not line.startswith(("from neuron import", "from backprop import")))
    for name, source in renamed.items():
        text = replace_function(text, name, source)
    body = pyparse.parse(text).body
    imports = [node for node in body if isinstance(node, (ast.Import, ast.ImportFrom))]
    rest = [node for node in body if node not in imports]
    target.write_text("\n\n".join(ast.get_source_segment(text, node) for node in imports + rest[::-1]) + "\n")


@pytest.fixture(scope="module")
def planted_class(tmp_path_factory, course):
    """Build and grade the class once; return the summary and the submissions' folder."""
    root = tmp_path_factory.mktemp("class")
    build_submission(course.solutions, root / "alice")
    build_submission(course.solutions, root / "carol", LOSS_SUM)
    build_submission(course.solutions, root / "dan", {"neuron": {"loss_fn": """
        def loss_fn(y_pred, y):
            return (y_pred - y).pow(2).sum()
        """}})
    build_submission(course.solutions, root / "eve", {"neuron": {"loss_fn": """
        def loss_fn(y_pred, y):
            squared = (y_pred - y) ** 2
            return torch.sum(squared)
        """}})
    build_submission(course.solutions, root / "fay", WRONG_VARIANTS["ascent"][0])
    build_submission(course.solutions, root / "ivy", WRONG_VARIANTS["gradient factor 2"][0])
    build_submission(course.solutions, root / "lea", {"backprop": {"gradient": """
        def gradient(W, b, X, y):
            out = torch.sigmoid(torch.sum(X * W, dim=1) + b)
            err = (out - y) * out * (1 - out)
            return torch.mean(err[:, None] * X, dim=0), torch.mean(err[:, None], dim=0)
        """}})
    original = build_submission(course.solutions, root / "gil", ORIGINAL)
    (root / "hal").mkdir()
    one_reordered_file(original, root / "hal" / "homework.py", RENAMED)
    build_submission(course.exercises, root / "jo")
    build_submission(course.exercises, root / "kim", {"neuron": {
        "activate": "def activate(u):\n    return 1 / (1 + torch.exp(-u))\n",
        "loss_fn": "def loss_fn(y_pred, y):\n    return torch.mean((y_pred - y) ** 2)\n"}})
    summary = grade_class(root, course, tmp_path_factory.mktemp("grades"), SEED, workers=2, sandbox="process")
    return summary, root


def test_identical_wrong_results_form_clusters_whatever_the_code(planted_class):
    summary, _ = planted_class
    found = [(c.function, c.students, c.mistake) for c in summary.clusters]
    assert found == [("loss_fn", ["carol", "dan", "eve"], "sum-instead-of-mean"),
                     ("gradient", ["ivy", "lea"], "missing-factor-2")]
    assert all(c.description for c in summary.clusters)


def test_only_the_copied_code_is_paired(planted_class):
    summary, _ = planted_class
    assert [(pair.students, pair.functions) for pair in summary.similar_code] == [(("gil", "hal"), COPIED)]
    assert summary.similar_code[0].similarity > 0.9


def test_json_and_text_summaries_show_the_class_view(planted_class):
    summary, _ = planted_class
    document = json.loads(json.dumps(summary.as_dict()))
    assert document["clusters"][0] == {"function": "loss_fn", "students": ["carol", "dan", "eve"],
                                       "mistake": "sum-instead-of-mean", "description": summary.clusters[0].description}
    assert document["similar_code"] == [{"students": ["gil", "hal"], "similarity": pytest.approx(summary.similar_code[0].similarity, abs=1e-3),
                                         "functions": COPIED}]
    assert document["internal_errors"] == {}
    text = summary_report.render(summary)
    assert "3 students return exactly the same wrong loss_fn (sum-instead-of-mean)" in text
    assert "gil and hal:" in text and "gradient" in text


def test_renamed_and_reordered_code_has_the_same_fingerprints(planted_class, course):
    _, root = planted_class
    contract = {spec.name for spec in course.functions}
    given_code = similarity.boilerplate(course)
    original = similarity.function_prints(root / "gil", contract, given_code)
    copy = similarity.function_prints(root / "hal", contract, given_code)
    assert {name for name, prints in original.items() if prints} == set(COPIED)
    assert all(original[name] == copy[name] for name in COPIED)
    assert not any(similarity.function_prints(root / student, contract, given_code)[name]
                   for student in ("alice", "jo") for name in contract if name in original)


def test_similar_pairs_need_enough_shared_fingerprints():
    shared = frozenset(range(similarity.MIN_SHARED))
    prints = {"a": {"f": shared | {100}}, "b": {"f": shared | {200}}, "c": {"f": frozenset(range(similarity.MIN_SHARED - 1))}}
    pairs = similarity.similar_pairs(prints)
    assert [(pair.students, pair.functions) for pair in pairs] == [(("a", "b"), ["f"])]
    assert pairs[0].similarity == pytest.approx(similarity.MIN_SHARED / (similarity.MIN_SHARED + 2))


def _record(student: str, functions: dict[str, tuple[str, str | None, str | None]], **extra) -> dict:
    """A results.jsonl record: function -> (status, digest, mistake); one check per function."""
    tests = [{"name": f"{name}: returns", "function": name, "status": status, "message": f"{name} {status} {digest}",
              "mistake": mistake} for name, (status, digest, mistake) in functions.items()]
    return {"id": student, "score": 0, "max_score": 1, "tests": tests, "functions": {},
            "fingerprints": {name: digest for name, (_, digest, _) in functions.items() if digest}, **extra}


def test_clusters_group_failing_functions_by_digest_largest_first():
    records = {student: _record(student, functions) for student, functions in {
        "a": {"g": ("fail", "x", "sum-instead-of-mean"), "h": ("fail", "y", None)},
        "b": {"g": ("fail", "x", "sum-instead-of-mean"), "h": ("fail", "y", "sign-flipped")},
        "c": {"g": ("fail", "x", "sum-instead-of-mean"), "h": ("pass", "z", None)},
        "d": {"g": ("pass", "ok", None), "h": ("pass", "z", None)},
        "e": {"g": ("pass", "ok", None), "h": ("fail", "w", None)},
        "f": {"g": ("error", None, None), "h": ("error", None, None)},
    }.items()}
    found = [(c.function, c.students, c.mistake, c.description) for c in find_clusters(records)]
    assert found == [("g", ["a", "b", "c"], "sum-instead-of-mean", "g fail x"), ("h", ["a", "b"], None, "h fail y")]


def test_functions_still_the_stub_are_not_clusters():
    records = {student: _record(student, {"g": ("fail", "stub", None)}) for student in "ab"}
    for record in records.values():
        record["tests"][0]["message"] = f"g: {NOT_IMPLEMENTED}"
    assert find_clusters(records) == []


digests = st.sampled_from("xyz")
outcomes = st.tuples(st.sampled_from(["pass", "fail", "error"]), digests, st.sampled_from([None, "m1", "m2"]))


@given(st.dictionaries(st.sampled_from("abcdefgh"), st.fixed_dictionaries({"g": outcomes, "h": outcomes})))
def test_every_shared_wrong_result_is_in_exactly_one_cluster(classes):
    records = {student: _record(student, functions) for student, functions in classes.items()}
    clusters = find_clusters(records)
    assert [len(c.students) for c in clusters] == sorted((len(c.students) for c in clusters), reverse=True)
    for function in "gh":
        wrong = {s: f[function][1] for s, f in classes.items() if f[function][0] != "pass"}
        expected = sorted(sorted(s for s in wrong if wrong[s] == d) for d in set(wrong.values()))
        for group in (group for group in expected if len(group) >= 2):  # shown once per group of students
            (cluster,) = [c for c in clusters if c.students == group]
            assert cluster.function == function or function in cluster.description.split("also agree on ")[-1]
    assert len({tuple(c.students) for c in clusters}) == len(clusters)
    for cluster in clusters:
        named = [{t["mistake"] for t in records[s]["tests"] if t["function"] == cluster.function} for s in cluster.students]
        assert cluster.mistake in set.intersection(*named) | {None}


def test_summary_lists_the_students_with_an_internal_error(course):
    records = {"ann": _record("ann", {"activate": ("pass", "ok", None)}),
               "bo": _record("bo", {}, internal_error="the worker failed: RuntimeError: harness\nTraceback\nKeyError: 'x'")}
    summary = summarise(records, course, [])
    assert summary.errors == 1 and summary.as_dict()["internal_errors"] == {"bo": records["bo"]["internal_error"]}
    assert "bo: the worker failed: RuntimeError: harness ... KeyError: 'x'" in summary_report.render(summary)
