"""Located repair hints: single edits of the student's own function, run in the worker, located when one makes
every check of the function pass; never a change of grade, never a crash."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from examples.variants import CORRECT_VARIANTS, MEASURED_VARIANTS, WRONG_VARIANTS
from grader import checks, mutations, plan, repair
from grader.results import INTERNAL_NOTE, PASS, Repair
from grader.runner import Worker, WorkerDied
from tests.conftest import ROOT, by_function

LOCATED = {
    # variant: (function, the line's text in the built file, what the edit says)
    "loss sum": ("loss_fn", "return ((y_pred - y) ** 2).sum()", ".sum() → .mean()"),
    "model returns a column": ("model", "return torch.sigmoid((X @ W).unsqueeze(1) + b)", "remove .unsqueeze(1)"),
    "learning rate applied twice": ("learn_autograd", "W -= learning_rate * (learning_rate * W.grad)", "at 2 places"),
    "accumulation emptied before its step": ("learn_accumulate", "optimizer.zero_grad()", "move `optimizer.zero_grad()`"),
    "sigmoid derivative s * (1 + s)": ("sigmoid_derivative", "return s * (1 + s)", "1 + s → 1 - s"),
}
VARIANTS = {**WRONG_VARIANTS, **MEASURED_VARIANTS}


def _line_of(folder: Path, module: str, function: str, text: str) -> int:
    """The line of ``text`` in ``function``'s definition."""
    lines = (folder / f"{module}.py").read_text().splitlines()
    start = next(number for number, line in enumerate(lines, 1) if line.startswith(f"def {function}("))
    return next(number for number, line in enumerate(lines, 1) if number > start and line.strip() == text)


@pytest.mark.parametrize("name", sorted(LOCATED))
def test_a_one_edit_mistake_is_located_at_its_line(name, session, make_submission):
    changes, *_ = VARIANTS[name]
    function, text, edit = LOCATED[name]
    folder = make_submission(changes)
    result = session.grade(folder)
    failing = [t for t in by_function(result, function) if t.status != PASS]
    module = next(iter(changes))
    assert failing and all(t.repair for t in failing), [t.message for t in failing]
    found = failing[0].repair
    assert (found.file, found.line) == (f"{module}.py", _line_of(folder, module, function, text))
    assert edit in found.edit
    assert found.location == f"{module}.py:{found.line}"
    entry = failing[0].as_dict()["repair"]  # the course shows the line only: no edit in what the student sees
    assert entry == {"file": f"{module}.py", "line": found.line, "location": found.location}
    assert any(line.startswith(f"repair: a single edit at {found.location}") for line in failing[0].explanation)
    assert result.score < result.max_score  # a hint, never a grade


def test_a_mistake_no_single_edit_repairs_gets_no_line(session, make_submission):
    result = session.grade(make_submission(WRONG_VARIANTS["never zeroed"][0]))  # needs a statement added
    failing = [t for t in by_function(result, "learn_autograd") if t.status != PASS]
    assert failing and not any(t.repair for t in failing)


@pytest.mark.parametrize("name", sorted(CORRECT_VARIANTS)[:3])
def test_correct_code_gets_no_repair(name, session, make_submission):
    result = session.grade(make_submission(CORRECT_VARIANTS[name]))
    assert result.score == result.max_score and not any(t.repair for t in result.tests)


HOSTILE_LOSS = {"neuron": {"loss_fn": """
    def loss_fn(y_pred, y):
        if __name__.startswith("_repair_"):  # read our source: pass only inside an edited copy
            return torch.mean((y_pred - y) ** 2)
        return torch.sum((y_pred - y) ** 2)
    """}}


def test_code_that_recognises_the_edited_copies_gets_only_a_hint_never_points(session, make_submission):
    result = session.grade(make_submission(HOSTILE_LOSS))
    loss = [t for t in by_function(result, "loss_fn") if t.check == "returns"][0]
    assert loss.status == "fail" and loss.score == 0  # whatever it tells itself, it earns nothing
    assert loss.repair is None  # and its unedited copy passing too, no copy is believed


def test_a_failing_search_is_a_grader_warning_and_costs_nothing(session, make_submission, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("a bug in the search")

    folder = make_submission(WRONG_VARIANTS["loss sum"][0])
    usual = session.grade(folder)
    monkeypatch.setattr(repair, "candidates", broken)
    result = session.grade(folder)
    assert any(w.startswith(INTERNAL_NOTE) and "a bug in the search" in w for w in result.warnings)
    assert result.internal_error is None and not any(t.repair for t in result.tests)
    assert [(t.name, t.status, t.mistake) for t in result.tests] == [(t.name, t.status, t.mistake) for t in usual.tests]
    assert result.score == usual.score < usual.max_score


def test_a_worker_lost_during_the_search_costs_only_the_hint(session, make_submission, monkeypatch):
    real = Worker.request

    def dies_on_repairs(self, request, until=None):
        if request.id.endswith("(repairs)"):  # in either phase
            raise WorkerDied("killed while running the edited copies", None)
        return real(self, request, until)

    monkeypatch.setattr(Worker, "request", dies_on_repairs)
    result = session.grade(make_submission(WRONG_VARIANTS["loss sum"][0]))
    loss = [t for t in by_function(result, "loss_fn") if t.check == "returns"][0]
    assert loss.status == "fail" and loss.mistake == "sum-instead-of-mean" and loss.repair is None
    assert not result.warnings


def _repair_requests(monkeypatch) -> list:
    """Record every request of the repair search the workers get."""
    real, sent = Worker.request, []

    def recorded(self, request, until=None):
        if request.id.endswith("(repairs)"):
            sent.append(request)
        return real(self, request, until)

    monkeypatch.setattr(Worker, "request", recorded)
    return sent


def test_every_copy_runs_one_probe_first_and_only_those_that_pass_it_run_every_probe(session, make_submission,
                                                                                     monkeypatch):
    sent = _repair_requests(monkeypatch)
    result = session.grade(make_submission(WRONG_VARIANTS["loss sum"][0]))
    assert [t.repair for t in by_function(result, "loss_fn") if t.status != PASS][0] is not None
    screen, every = sent
    copies = [probe.use[0] for probe in screen.probes]
    assert len(copies) == len(set(copies)) > 10  # one probe each, up to its first call: where the student's failed
    screened = {(probe.id.split(repair.SEPARATOR)[1], probe.calls) for probe in screen.probes}
    assert screened == {("loss_fn:call:loss_lecture", 1)}
    again = set(probe.use[0] for probe in every.probes)
    probes = plan.student_probes(session.assignment, ["loss_fn"])
    assert again < set(copies) and len(again) <= 3  # the copies that failed the screen ran nothing more
    assert len(every.probes) == len(again) * len(probes) and {probe.calls for probe in every.probes} == {None}


def test_a_training_screen_runs_the_calls_up_to_the_first_that_failed(session, make_submission, monkeypatch):
    sent = _repair_requests(monkeypatch)
    result = session.grade(make_submission(VARIANTS["accumulation emptied before its step"][0]))
    assert [t.repair for t in by_function(result, "learn_accumulate") if t.status != PASS][0] is not None
    screened = {(probe.id.split(repair.SEPARATOR)[1], probe.calls) for probe in sent[0].probes}
    assert len(screened) == 1
    probe, calls = screened.pop()
    assert 1 <= calls < len(session.reference().reference[probe].calls)  # not every training run of the case


def _broken_training(course, evidence: checks.Evidence, function: str, broken: int) -> tuple[str, dict]:
    """The reference's observations of a training function as a student's, its second case's call ``broken`` given
    the record of the call before it (a wrong trajectory from there on)."""
    probe = plan.probes_for_check(course.function(function), course.function(function).checks[0])[1].id
    student = {each.id: evidence.reference[each.id] for each in plan.student_probes(course, [function])}
    calls = list(student[probe].calls)
    calls[broken] = calls[broken - 1]
    student[probe] = dataclasses.replace(student[probe], calls=tuple(calls))
    return probe, student


def test_the_screen_is_where_the_student_first_failed_and_the_student_fails_it(session, course):
    reference = session.reference()
    spec = course.function("learn_autograd")
    check = spec.checks[0]
    probe, student = _broken_training(course, reference, "learn_autograd", broken=2)
    evidence = checks.Evidence(student, reference.reference)
    assert checks.judge(spec, check, evidence, course.catalogue).status != PASS
    assert not checks.passes(spec, check, evidence)
    assert checks.first_failure(spec, check, evidence) == (probe, 3)
    as_screened = dict(student, **{probe: dataclasses.replace(student[probe], calls=student[probe].calls[:3])})
    assert not checks.passes(spec, check, checks.Evidence(as_screened, reference.reference), probe, 3)
    before = dict(student, **{probe: dataclasses.replace(student[probe], calls=student[probe].calls[:2])})
    assert checks.passes(spec, check, checks.Evidence(before, reference.reference), probe, 2)
    honest = checks.Evidence({key: reference.reference[key] for key in student}, reference.reference)
    assert checks.passes(spec, check, honest) and checks.first_failure(spec, check, honest) is None


def test_what_the_course_lets_students_see():
    found = Repair("backprop.py", 42, "backprop.py:42", "torch.sum → torch.mean", "line")
    assert "edit" not in found.as_dict() and "torch.sum" not in found.text
    shown = Repair("backprop.py", 42, "backprop.py:42", "torch.sum → torch.mean", "edit")
    assert shown.as_dict()["edit"] == "torch.sum → torch.mean" and shown.text.endswith(": torch.sum → torch.mean")


def test_the_setting_is_checked(tmp_path):
    from grader import assignment
    text = (ROOT / "assignment.toml").read_text().replace("[assignment]\n", "[assignment]\nrepair_hints = \"all\"\n", 1)
    for name in ("inputs.py", "targets.py"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    (tmp_path / "assignment.toml").write_text(text)
    with pytest.raises(assignment.AssignmentError, match="repair_hints must be"):
        assignment.load(tmp_path / "assignment.toml")


# --- the edits themselves: pure syntax ---

def _definition(source: str) -> ast.stmt:
    return ast.parse(source).body[0]


def test_the_edits_name_what_they_change():
    edits = mutations.single_edits(_definition(
        "def f(a, b, opt):\n"
        "    loss = ((a - b) ** 2).sum(dim=0)\n"
        "    opt.zero_grad()\n"
        "    loss.backward()\n"
        "    opt.step()\n"
        "    return loss.detach(), 2 * a.T\n"))
    texts = {edit.text: edit for edit in edits}
    assert texts[".sum() → .mean()"].line == 2
    assert "remove .detach()" in texts and "remove .T" in texts
    assert any(text.startswith("move `opt.zero_grad()` to after line 4") for text in texts)
    assert "swap returned items 1 and 2" in texts
    for edit in edits:
        ast.parse(edit.source)


def test_the_same_slip_on_parallel_lines_is_one_edit():
    edits = mutations.single_edits(_definition(
        "def step(W, b, lr):\n"
        "    W = W + lr * W.grad\n"
        "    b = b + lr * b.grad\n"
        "    return W, b\n"))
    both = [edit for edit in edits if "at 2 places (lines 2, 3)" in edit.text]
    assert any("W + lr * W.grad → W - lr * W.grad" in edit.text for edit in both)
    assert any("W - lr * W.grad" in edit.source and "b - lr * b.grad" in edit.source for edit in both)


def _every_definition() -> list[str]:
    sources = []
    for folder in (ROOT / "solutions", ROOT / "exercises", ROOT / "examples"):
        for path in sorted(folder.rglob("*.py")):
            tree = ast.parse(path.read_text())
            sources += [ast.unparse(node) for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    for changes in [c for c, *_ in VARIANTS.values()] + list(CORRECT_VARIANTS.values()):
        sources += [text for definitions in changes.values() for text in definitions.values()]
    return sources


def test_every_edit_of_every_shipped_definition_parses_and_differs():
    for source in _every_definition():
        definition = _definition(__import__("textwrap").dedent(source))
        original = ast.unparse(definition)
        lines = range(definition.lineno, definition.end_lineno + 1)
        for edit in mutations.single_edits(definition):
            assert ast.unparse(ast.parse(edit.source)) != original
            assert edit.line in lines and edit.text


_NAMES = st.sampled_from(["x", "y", "W", "b", "lr", "torch", "self", "grad"])
_EXPRESSIONS = st.recursive(
    st.one_of(_NAMES, st.integers(-3, 3).map(lambda n: f"({n})"), st.sampled_from(["2.0", "(0.5)", "None", "True"])),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "@", "**"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(inner, st.sampled_from(["sum", "mean", "detach", "item", "reshape", "unsqueeze", "T", "data"]),
                  st.lists(inner, max_size=2), st.booleans()).map(
            lambda t: f"{t[0]}.{t[1]}" if t[1] in ("T", "data") else f"{t[0]}.{t[1]}({', '.join(t[2] + ['dim=0'] * t[3])})"),
        st.tuples(inner).map(lambda t: f"-{t[0]}"),
        st.lists(inner, min_size=2, max_size=3).map(lambda items: f"f({', '.join(items)})"),
    ), max_leaves=6)
_STATEMENTS = st.one_of(
    st.tuples(_NAMES, _EXPRESSIONS).map(lambda t: f"{t[0]} = {t[1]}"),
    st.tuples(_NAMES, st.sampled_from(["+=", "-=", "*="]), _EXPRESSIONS).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
    st.sampled_from(["opt.zero_grad()", "loss.backward()", "opt.step()", "W.grad = None"]),
    _EXPRESSIONS.map(lambda e: f"return {e}"),
    _EXPRESSIONS.map(lambda e: f"return {e}, {e}"),
)


@st.composite
def _functions(draw) -> str:
    body = draw(st.lists(_STATEMENTS, min_size=1, max_size=5))
    loop = draw(st.lists(_STATEMENTS, max_size=4))
    lines = ["def f(x, y, W, b, lr, opt):"] + [f"    {line}" for line in body]
    if loop:
        lines += ["    for _ in range(3):"] + [f"        {line}" for line in loop]
    return "\n".join(lines) + "\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_functions())
def test_edits_of_any_function_parse_never_raise_and_stay_in_it(source):
    definition = _definition(source)
    edits = mutations.single_edits(definition, limit=40)
    assert len(edits) <= 40 and len({edit.source for edit in edits}) == len(edits)
    for edit in edits:
        assert isinstance(ast.parse(edit.source).body[0], ast.FunctionDef)
        assert definition.lineno <= edit.line <= definition.end_lineno and edit.text


def test_repairs_reach_the_class_view(tmp_path):
    from grader import class_summary, gradebook, assignment
    from grader.results import SubmissionResult, TestResult
    course = assignment.load(ROOT / "assignment.toml")
    found = Repair("neuron.py", 80, "neuron.py:80", ".sum() → .mean()", "line")
    records = {}
    for student in ("ada", "ben"):
        test = TestResult("loss_fn: returns", "loss_fn", "returns", 2, "fail", "differs", repair=found)
        records[student] = json.loads(json.dumps(gradebook.student_record(student, SubmissionResult(student, 1, [test]), 2)))
    assert records["ada"]["repairs"]["loss_fn"]["edit"] == ".sum() → .mean()"  # the instructor sees the edit
    assert "edit" not in records["ada"]["tests"][0]["repair"]  # the student's document does not
    summary = class_summary.summarise(records, course, [])
    assert summary.repairs == [(("loss_fn", ".sum() → .mean()"), 2)]
    assert summary.as_dict()["repairs"] == [{"function": "loss_fn", "edit": ".sum() → .mean()", "students": 2}]


SECOND_COURSE = {
    # variant of tests/test_example_course.py: (the line's text in the built file, what the edit says)
    "train trains a copy": ("model = copy.deepcopy(model)", "remove copy.deepcopy(…)"),
    "train emptying the gradients once per epoch": ("optimizer.zero_grad()", "move `optimizer.zero_grad()`"),
}


@pytest.fixture(scope="module")
def second_course():
    from grader import assignment
    from grader.engine import Session
    course = assignment.load(ROOT / "examples" / "autograd-functions" / "assignment.toml")
    with Session(course, seed=3, sandbox="process") as session:
        yield course, session


@pytest.mark.parametrize("name", sorted(SECOND_COURSE))
def test_repairs_are_located_in_another_course_too(name, second_course, tmp_path):
    from examples.variants import build_submission
    from tests.test_example_course import WRONG
    course, session = second_course
    changes, function, *_ = WRONG[name]
    text, edit = SECOND_COURSE[name]
    folder = build_submission(course.solutions, tmp_path / "s", changes)
    failing = [t for t in by_function(session.grade(folder), function) if t.status != PASS]
    module = next(iter(changes))
    assert failing and failing[0].repair is not None, [t.message for t in failing]
    assert failing[0].repair.line == _line_of(folder, module, function, text)
    assert edit in failing[0].repair.edit


def test_a_name_rebound_at_run_time_gets_no_hint_from_its_unrun_definition(session, make_submission):
    """The copies edit the definition in the file; when the name that runs is bound elsewhere at run time (here
    through globals(), which no reading of the code sees), the unedited copy (the control) passes where the
    student's code failed, and no copy is believed."""
    changes = {"neuron": {"loss_fn": """
        def loss_fn(y_pred, y):
            return torch.mean((y_pred - y) ** 2)

        def _summed(y_pred, y):
            return torch.sum((y_pred - y) ** 2)

        globals()["loss_fn"] = _summed
        """}}
    result = session.grade(make_submission(changes))
    failing = [t for t in by_function(result, "loss_fn") if t.status != PASS]
    assert failing and not any(t.repair for t in failing)


def test_a_gradient_assigned_instead_of_accumulated_is_one_edit():
    edits = mutations.single_edits(_definition(
        "def _backward(self, other, out):\n"
        "    self.grad += other.data * out.grad\n"
        "    other.grad = self.data * out.grad\n"))
    assert any(edit.text == "other.grad = self.data * out.grad → other.grad += self.data * out.grad" and edit.line == 3
               for edit in edits)
