"""Diagnoses measured from the failure itself: named on wrong code no shipped variant gives, on several seeds,
never on correct code written differently; grader.measured on synthetic encodings, and total."""

from __future__ import annotations

import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from examples.variants import CORRECT_VARIANTS, MEASURED_VARIANTS, WRONG_VARIANTS, build_submission
from grader import assignment, measured, plan
from grader.assignment import AssignmentError, CheckSpec, FunctionSpec
from grader.diagnosis import Catalogue
from grader.engine import Session
from grader.protocol import ProbeKind
from grader.records import Observation
from tests.conftest import ROOT, by_function
from tests.test_judging_is_total import encoded, values

SEEDS = (20231, 7, 1234)

# Without any variant code (an empty mistakes/), the lecture's mistakes that a measurement can see.
MEASURED_WITHOUT_VARIANTS = {
    "loss sum": ("loss_fn", "returns", "sum-instead-of-mean"),
    "gradient sum": ("gradient", "returns", "sum-instead-of-mean"),
    "gradient factor 2": ("gradient", "finite-difference", "missing-factor-2"),
    "sigmoid derivative": ("sigmoid_derivative", "finite-difference", "wrong-sigmoid-derivative"),
    "ascent": ("learn", "training", "gradient-ascent"),
    "never zeroed": ("learn_autograd", "training", "grad-accumulation"),
    "zero_grad before step": ("learn_sgd", "training", "zero-grad-before-step"),
}


@pytest.fixture(scope="module")
def bare_course(tmp_path_factory):
    """The lecture with an empty mistakes/: every diagnosis has to be measured."""
    folder = tmp_path_factory.mktemp("bare")
    for name in ("assignment.toml", "inputs.py", "targets.py"):
        shutil.copy(ROOT / name, folder / name)
    shutil.copytree(ROOT / "solutions", folder / "solutions", ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "mistakes").mkdir()
    return assignment.load(folder / "assignment.toml")


@pytest.fixture(scope="module", params=SEEDS)
def seeded(request, course, bare_course):
    """The lecture's session and the bare course's, on one seed."""
    with Session(course, seed=request.param, sandbox="process") as lecture, \
            Session(bare_course, seed=request.param, sandbox="process") as bare:
        yield lecture, bare


def _graded_check(session, folder, function, kind):
    result = session.grade(folder)
    return next(t for t in by_function(result, function) if t.check == kind)


@pytest.mark.parametrize("name", sorted(MEASURED_VARIANTS))
def test_a_mistake_no_variant_gives_is_named_from_measurements(name, seeded, make_submission):
    changes, function, kind, mistake = MEASURED_VARIANTS[name]
    test = _graded_check(seeded[0], make_submission(changes), function, kind)
    assert test.status == "fail" and test.mistake == mistake, (test.message, test.details)
    assert any(line.startswith("measured: ") for line in test.details), test.details


@pytest.mark.parametrize("name", sorted(MEASURED_WITHOUT_VARIANTS))
def test_the_lecture_mistakes_are_named_without_variant_code(name, seeded, bare_course, tmp_path):
    function, kind, mistake = MEASURED_WITHOUT_VARIANTS[name]
    folder = build_submission(bare_course.solutions, tmp_path / "s", WRONG_VARIANTS[name][0])
    test = _graded_check(seeded[1], folder, function, kind)
    assert test.status == "fail" and test.mistake == mistake, (test.message, test.details)


@pytest.mark.parametrize("name", sorted(CORRECT_VARIANTS))
def test_correct_code_written_differently_gets_no_diagnosis(name, seeded, make_submission):
    result = seeded[0].grade(make_submission(CORRECT_VARIANTS[name]))
    assert result.score == result.max_score and not any(t.mistake for t in result.tests)


def test_transforms_run_only_for_returns_checks(course):
    request = plan.reference_request(course, 1)
    transformed = [probe for probe in request.probes if probe.transform]
    returns = {p.id for spec in course.functions for check in spec.checks if check.kind == "returns"
               for p in plan.probes_for_check(spec, check)}
    assert transformed and {probe.id.split(plan.VARIANT_SEPARATOR)[1] for probe in transformed} == returns


# --- grader.measured on synthetic encodings ---

def _tensor(values, shape=None):
    flat = [float(v) for row in values for v in (row if isinstance(row, list) else [row])]
    return {"type": "tensor", "class": "torch.Tensor", "dtype": "float32", "shape": shape or [len(flat)],
            "device": "cpu", "data": flat, "requires_grad": False, "is_leaf": True, "grad_fn": None, "grad": None}


def _pair(*items):
    return {"type": "tuple", "items": list(items), "length": len(items)}


_NO_ARGUMENTS = {"args": [], "kwargs": {}}


def _observation(*calls, trusted=False, transform=None) -> Observation:
    """A call probe's observation of these calls, read as the engine reads it: each call completed with what the
    harness always writes (no arguments unless given, the same ones after the call, nothing changed)."""
    written = []
    for call in calls:
        record = {"inputs": _NO_ARGUMENTS, "inputs_after": call.get("inputs", _NO_ARGUMENTS), "parameters_kept": [],
                  "changed": [], **call}
        if "error" not in record:
            record = {"result": None, "identity": [None], **record}
        written.append(record)
    sent = {"status": "ok", "calls": written, **({"transform": transform} if transform else {})}
    return Observation.from_json(sent, ProbeKind.CALL, trusted=trusted)


def _differences(central):
    """Finite differences as the trusted run writes them, every scheme giving ``central``."""
    return {"central": central, "forward": central, "backward": central}


GRADIENT = FunctionSpec("f", "m", ("W", "b", "X", "y"), (CheckSpec("returns", 1, ("c",), ("summed", "halved")),),
                        returns=("W_grad", "b_grad"), samples=3)
CATALOGUE = Catalogue.with_course({"summed": {"meaning": "m", "hint": "h", "factor": "N"},
                                   "halved": {"meaning": "m", "hint": "h", "factor": [2, 0.5]},
                                   "ascent": {"meaning": "m", "hint": "h", "factor": -1},
                                   "accumulated": {"meaning": "m", "hint": "h", "steps": "accumulated"}})


def _measure(got, wanted, spec=GRADIENT, samples=4, catalogue=CATALOGUE):
    inputs = {"args": [_tensor([0.0]), _tensor([0.0]), _tensor([0.0] * samples), _tensor([0.0] * samples)], "kwargs": {}}
    observed = _observation({"result": got, "inputs": inputs})
    expected = _observation({"result": wanted}, trusted=True)
    return measured.diagnose(spec, spec.checks[0], "p", observed, expected, 0, [], catalogue)


def test_a_factor_is_named_by_its_declared_meaning_per_item():
    right, wrong = _tensor([1.0, -2.0]), _tensor([3.0])
    summed = _measure(_pair(right, _tensor([12.0])), _pair(right, wrong))
    assert summed.mistake == "summed" and summed.lines == ["measured: W_grad is right; b_grad: 4 times the expected value "
                                                           "(N = 4, the number of samples)"]
    assert _measure(_pair(_tensor([0.5, -1.0]), _tensor([1.5])), _pair(right, wrong)).mistake == "halved"
    assert _measure(_pair(_tensor([-1.0, 2.0]), _tensor([-3.0])), _pair(right, wrong)).mistake == "sign-flipped"
    undeclared = _measure(_pair(_tensor([3.0, -6.0]), wrong), _pair(right, wrong))
    assert undeclared.mistake is None and "every value is 3 times the expected one" in undeclared.lines[0]


def test_a_partial_factor_says_which_values_and_names_the_declared_mistake():
    """Three of four values twice the expected ones, one right: the course's mistake for factor 2 applies."""
    expected = _tensor([1.0, 2.0, 3.0, 4.0])
    partial = _measure(_tensor([2.0, 4.0, 6.0, 4.0]), expected)
    assert partial.mistake == "halved"
    assert partial.lines == ["measured: 3 of 4 values are 2 times the expected ones, the others are right"]
    assert _measure(_tensor([3.0, 6.0, 9.0, 4.0]), expected).mistake is None  # 3 is whole, but not declared
    assert _measure(_tensor([2.0, 5.0, 6.0, 4.0]), expected).mistake is None  # no one factor


def test_which_elements_differ_and_shapes_that_hold_the_right_values():
    matrix = _tensor([[1.0, 2.0], [3.0, 4.0]], [2, 2])
    def where(got):
        return _measure(got, matrix).lines
    assert where(_tensor([[1.0, 2.0], [3.0, 9.0]], [2, 2])) == ["measured: only [1, 1] differs"]
    assert where(_tensor([[1.0, 2.0], [5.0, 9.0]], [2, 2])) == ["measured: only row 1 differs"]
    assert where(_tensor([[1.0, 7.0], [3.0, 9.0]], [2, 2])) == ["measured: only column 1 differs"]
    assert where(_tensor([[0.0, 2.0], [3.0, 0.0]], [2, 2])) == ["measured: only the diagonal differs"]
    assert _measure(_tensor([[1.0, 3.0], [2.0, 4.0]], [2, 2]), matrix).mistake == "transposed-result"
    vector = _tensor([1.0, 2.0, 3.0])
    assert _measure(_tensor([1.0, 2.0, 3.0], [3, 1]), vector).mistake == "broadcast-shape"
    assert _measure(_tensor([[1.0, 5.0, 6.0], [7.0, 2.0, 8.0], [9.0, 0.0, 3.0]], [3, 3]), vector).mistake == "broadcast-shape"
    assert _measure(_tensor([1.5, 2.7, 3.1]), vector) == measured.Finding()  # nothing measured fits: nothing named


def _trajectory(steps, reference_steps, spec_mistakes=("ascent", "accumulated")):
    spec = FunctionSpec("t", "m", ("W",), (CheckSpec("training", 1, ("c",), spec_mistakes),), returns=("W",))
    def calls(moves):
        position, found = [1.0, 2.0], []
        for move in moves:
            position = [p + m for p, m in zip(position, move)]
            found.append({"result": _pair(_tensor(position)), "label": f"e={len(found) + 1}",
                          "inputs": {"args": [_tensor([1.0, 2.0])], "kwargs": {}}})
        return _observation(*found)
    return measured.diagnose(spec, spec.checks[0], "p", calls(steps), calls(reference_steps), 0, [], CATALOGUE)


def test_a_trajectory_says_where_it_leaves_the_reference_and_how():
    right = [(-0.5, 0.2), (-0.25, 0.3), (-0.125, 0.1)]
    def times(k):
        return [(k * a, k * b) for a, b in right]
    assert _trajectory(times(2), right).mistake == "scaled-step"
    assert "at the call e=1: its step is 2 times" in _trajectory(times(2), right).lines[0]
    assert _trajectory(times(-1), right).mistake == "ascent"
    assert _trajectory(times(-1), right, ()).mistake == "scaled-step"  # not declared: the engine's name
    assert _trajectory(times(0), right).lines[0].endswith("the parameters did not move")
    assert _trajectory(times(0), right, ()).mistake == "no-update"  # no factor 0 declared: never a scaled step
    accumulated = _trajectory([(-0.5, 0.2), (-0.75, 0.5), (-0.875, 0.6)], right)
    assert accumulated.mistake == "accumulated" and "at the call e=2" in accumulated.lines[0]
    assert _trajectory([(-0.5, 0.2), (-0.3, 0.1), (-0.1, 0.1)], right).mistake is None


def test_the_clearest_measurement_names_and_clear_disagreement_names_nothing():
    blurred = measured.Finding(["measured: its step is 0.987 times"], None, 80.0)
    clean = measured.Finding(["measured: its step is 0.5 times"], "scaled-step", 5e4)
    assert measured.clearest([blurred, clean]) is clean
    rival = measured.Finding(["measured: 2 times"], "missing-factor-2", 2e3)
    undecided = measured.clearest([clean, rival])
    assert undecided.mistake is None and "other failing calls measure otherwise (missing-factor-2)" in undecided.lines[-1]
    faint = measured.Finding(["measured: 2 times"], "missing-factor-2", 50.0)  # below float resolution's margin
    assert measured.clearest([clean, faint]) is clean
    assert measured.clearest([]).mistake is None


def test_a_check_can_declare_what_its_failure_means():
    check = CheckSpec("finite-difference", 1, ("c",), failure_means="halved")
    spec = FunctionSpec("g", "m", ("z",), (check,))
    observed = _observation({"result": _tensor([1.0, 5.0])})
    expected = _observation({"finite_difference": _differences(_tensor([2.0, 3.0]))}, trusted=True)
    assert measured.diagnose(spec, check, "p", observed, expected, 0, [], CATALOGUE).mistake == "halved"
    raised = _observation({"error": {"type": "NotImplementedError", "message": "", "traceback": ""}})
    assert measured.diagnose(spec, check, "p", raised, expected, 0, [], CATALOGUE).mistake is None


@pytest.mark.parametrize("declaration, problem", [
    ('failure_means = "no-such-mistake"', "no-such-mistake"),
    ('samples = "nobody"', "samples"),
])
def test_declarations_are_checked(tmp_path, declaration, problem):
    text = (ROOT / "assignment.toml").read_text().replace(
        'target = "sum_of_sigmoid", wrt = ["z"], failure_means = "wrong-sigmoid-derivative"',
        'target = "sum_of_sigmoid", wrt = ["z"]' + (f", {declaration}" if "failure" in declaration else ""))
    if "samples" in declaration:
        text = text.replace('samples = "y"', declaration, 1)
    for name in ("inputs.py", "targets.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "assignment.toml").write_text(text)
    with pytest.raises(AssignmentError, match=problem):
        assignment.load(tmp_path / "assignment.toml")
    (tmp_path / "assignment.toml").write_text(text.replace('factor = "N"', 'factor = "twice"'))
    with pytest.raises(AssignmentError, match="factor"):
        assignment.load(tmp_path / "assignment.toml")


@settings(max_examples=300, deadline=None)
@given(got=values, wanted=values, kind=st.sampled_from(["returns", "finite-difference", "training", "backward"]),
       call=st.integers(0, 2))
def test_measuring_never_raises(got, wanted, kind, call):
    check = CheckSpec(kind, 1, ("c",), ("summed",))
    spec = FunctionSpec("f", "m", ("a", "b"), (check,), returns=("x", "y"), samples=0)
    mine, theirs = encoded(got), encoded(wanted)
    observed = _observation(*[{"result": mine, "inputs": {"args": [mine, theirs], "kwargs": {}},
                               "inputs_after": {"args": [theirs], "kwargs": {}}}] * 2)
    expected = _observation(*[{"result": theirs, "finite_difference": _differences(theirs)}] * 2, trusted=True)
    alternatives = [("broadcast-shape", {"p": _observation({"result": mine}, trusted=True, transform="column-0")})]
    finding = measured.diagnose(spec, check, "p", observed, expected, call, alternatives, CATALOGUE)
    assert isinstance(finding.lines, list) and (finding.mistake is None or finding.mistake in CATALOGUE)
