"""The third course (examples/scalar-engine): students write their own autograd engine, a micrograd-style
``Value`` class. The reference agrees with torch's autograd in float64; an engine written differently passes,
each wrong variant fails with its mistake named, and hostile objects fail with a clear message."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from grader import answer_key, assignment, plan
from grader.engine import Session
from grader.release import write_bundle
from grader.validate import variant_submission
from tests.conftest import ROOT

COURSE = ROOT / "examples" / "scalar-engine"
SEED = 2718
SOLUTION = (COURSE / "solutions" / "engine.py").read_text()


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def course() -> assignment.Assignment:
    return assignment.load(COURSE / "assignment.toml")


@pytest.fixture(scope="module")
def grading(course):
    with Session(course, seed=SEED, sandbox="process") as session:
        yield session


@pytest.fixture
def submit(tmp_path, grading):
    """Grade an engine.py with the given source."""
    def grade(source: str):
        folder = tmp_path / f"submission{len(list(tmp_path.glob('submission*')))}"
        folder.mkdir()
        (folder / "engine.py").write_text(source)
        return grading.grade(folder)
    return grade


def _failing(result) -> list[str]:
    return [f"{t.name}: {t.message}" for t in result.tests if t.status != "pass"]


# --- the reference against torch --------------------------------------------------------------------------


def test_reference_forward_and_every_leafs_gradient_equal_torch_autograd_in_float64():
    inputs = _module(COURSE / "inputs.py", "scalar_engine_inputs")
    engine = _module(COURSE / "solutions" / "engine.py", "scalar_engine_reference")
    programs = [inputs.random_program(torch.Generator().manual_seed(seed), 2 + seed % 3, 4 + seed % 6)
                for seed in range(200)]
    operations = {step.op for program in programs for step in program.steps}
    assert operations == set(inputs.BINARY + inputs.WITH_NUMBER + inputs.UNARY)
    for program in programs:
        mine = program.build(engine.Value)
        mine[-1].backward()
        theirs = program.build(lambda x: torch.tensor(x, dtype=torch.float64, requires_grad=True))
        leaves = theirs[:len(program.leaves)]
        grads = torch.autograd.grad(theirs[-1], leaves, allow_unused=True)
        assert mine[-1].data == pytest.approx(float(theirs[-1].detach()), rel=1e-12, abs=1e-12), program.text()
        for node, grad in zip(mine, grads):
            assert node.grad == pytest.approx(0.0 if grad is None else float(grad), rel=1e-9, abs=1e-12), program.text()


# --- the course as the engine grades it -------------------------------------------------------------------


def test_solutions_score_full_and_stubs_zero(grading, course):
    solved = grading.grade(course.solutions)
    assert solved.passed and solved.score == solved.max_score == 10, _failing(solved)
    stubs = grading.grade(course.exercises)
    assert stubs.score == 0 and all(test.not_implemented for test in stubs.tests)


GENERIC_ENGINE = '''
import math


class Value:
    """Local derivatives stored with each edge; Kahn's algorithm orders the graph; relu's slope at 0 is 1."""

    def __init__(self, data, _parents=()):
        self.data = float(data)
        self.grad = 0
        self.parents = list(_parents)  # (node, local derivative)

    @staticmethod
    def lift(x):
        return x if isinstance(x, Value) else Value(x)

    def __add__(self, other):
        other = Value.lift(other)
        return Value(self.data + other.data, [(self, 1.0), (other, 1.0)])

    __radd__ = __add__

    def __mul__(self, other):
        other = Value.lift(other)
        return Value(self.data * other.data, [(self, other.data), (other, self.data)])

    __rmul__ = __mul__

    def __pow__(self, n):
        return Value(self.data ** n, [(self, n * self.data ** (n - 1))])

    def __neg__(self):
        return Value(-self.data, [(self, -1.0)])

    def __sub__(self, other):
        other = Value.lift(other)
        return Value(self.data - other.data, [(self, 1.0), (other, -1.0)])

    def tanh(self):
        e = math.exp(2 * self.data)
        t = (e - 1) / (e + 1)
        return Value(t, [(self, 1 - t ** 2)])

    def relu(self):
        return Value(max(self.data, 0.0), [(self, 1.0 if self.data >= 0 else 0.0)])

    def exp(self):
        return Value(math.exp(self.data), [(self, math.exp(self.data))])

    def _nodes(self):
        seen, stack = {}, [self]
        while stack:
            node = stack.pop()
            if id(node) not in seen:
                seen[id(node)] = node
                stack.extend(parent for parent, _ in node.parents)
        return list(seen.values())

    def backward(self):
        nodes = self._nodes()
        waiting = {id(node): 0 for node in nodes}
        for node in nodes:
            for parent, _ in node.parents:
                waiting[id(parent)] += 1
        self.grad = 1
        ready = [self]
        while ready:
            node = ready.pop()
            for parent, local in node.parents:
                parent.grad += local * node.grad
                waiting[id(parent)] -= 1
                if waiting[id(parent)] == 0:
                    ready.append(parent)

    def zero_grad(self):
        for node in self._nodes():
            node.grad = 0
'''

CORRECT = {
    "edges with local derivatives, Kahn's order, relu slope 1 at 0": GENERIC_ENGINE,
    "numpy's tanh and exp: gradients that are numpy.float64": SOLUTION.replace("import math", "import numpy as np")
    .replace("math.tanh", "np.tanh").replace("math.exp", "np.exp"),
    "the reference with relu's slope 1 at 0": SOLUTION.replace("(1.0 if self.data > 0 else 0.0) * out.grad",
                                                               "(1.0 if self.data >= 0 else 0.0) * out.grad"),
}


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_an_engine_written_differently_passes(name, submit):
    assert CORRECT[name] != SOLUTION
    result = submit(CORRECT[name])
    assert not _failing(result) and result.score == result.max_score


def test_each_wrong_variant_fails_its_check_with_its_mistake(course, grading, tmp_path):
    variants = plan.variants(course)
    assert len(variants) == 5
    for index, variant in enumerate(variants):
        result = grading.grade(variant_submission(course, variant, tmp_path / str(index)))
        named = [t for t in result.tests if t.mistake == variant.mistake]
        assert named and all(t.status == "fail" and t.score == 0 and t.hint for t in named), variant.mistake
        assert result.score < result.max_score


def test_a_missing_accumulation_says_which_leaf_and_what_it_should_be(course, grading, tmp_path):
    (variant,) = [v for v in plan.variants(course) if v.mistake == "grad-assigned-not-accumulated"]
    result = grading.grade(variant_submission(course, variant, tmp_path / "eq"))
    (gradients,) = [t for t in result.tests if t.name.startswith("Value: backward()")]
    assert "out.backward()" in gradients.message and ".grad: values differ" in gradients.message
    assert any(line.startswith("expected: ") for line in gradients.details)
    mine, theirs = (next(line for line in gradients.details if line.startswith(label))
                    for label in ("your graph:", "reference graph:"))
    assert "out <- " in mine and "grad" in mine and mine != theirs.replace("reference graph:", "your graph:     ")
    assert gradients.graphs["yours"]["names"][0] == "out"  # the picture gets the same graphs
    forward = [t for t in result.tests if "right value" in t.name]
    assert forward and all(t.status == "pass" for t in forward)  # the forward is right


def test_relu_slope_between_the_two_sides_fails(submit):
    halfway = SOLUTION.replace("(1.0 if self.data > 0 else 0.0) * out.grad",
                               "(1.0 if self.data > 0 else 0.5 if self.data == 0 else 0.0) * out.grad")
    (kink,) = [t for t in submit(halfway).tests if "relu at 0" in t.name]
    assert kink.status == "fail" and "neither 1 nor" in "\n".join(kink.details)


# --- hostile objects --------------------------------------------------------------------------------------


def test_a_data_property_that_raises_fails_with_the_attribute_named(submit):
    """The engine computes with ``_d``; only reading ``data`` from outside raises."""
    hidden = SOLUTION.replace("self.data", "self._d").replace("other.data", "other._d")
    raising = hidden.replace("    def __repr__(self):", """    @property
    def data(self):
        raise RuntimeError("no data for you")

    def __repr__(self):""")
    result = submit(raising)
    assert all(t.status == "fail" and t.score == 0 for t in result.tests if "relu" not in t.name)  # relu reads only grad
    (first, *_) = result.tests
    assert "returned an object the grader cannot read: reading .data raised RuntimeError: no data for you" in first.message


def test_a_getattr_answering_junk_is_not_a_number(submit):
    without_grad = SOLUTION.replace("        self.grad = 0.0\n", "")
    junk = without_grad.replace("    def __repr__(self):", '''    def __getattr__(self, name):
        return "junk"

    def __repr__(self):''')
    result = submit(junk)
    (gradients,) = [t for t in result.tests if t.name.startswith("Value: backward()")]
    assert gradients.status != "pass" and gradients.score == 0


def test_a_huge_graph_fails_on_time_or_recursion_never_crashes(submit):
    growing = "        for _ in range(10 ** 9):\n            self = self + 0\n        visit(self)\n"
    endless = SOLUTION.replace("        visit(self)\n", growing)
    result = submit(endless)
    (gradients,) = [t for t in result.tests if t.name.startswith("Value: backward()")]
    assert gradients.status != "pass" and gradients.score == 0
    forward = [t for t in result.tests if "right value" in t.name]
    assert all(t.status == "pass" for t in forward)


# --- the student release ----------------------------------------------------------------------------------


def test_release_bundle_checks_from_the_answer_key(course, tmp_path):
    bundle = write_bundle(course, tmp_path / "bundle", [SEED])
    assert not (bundle / "solutions").exists() and not (bundle / "mistakes").exists()
    released = assignment.load(bundle / "assignment.toml")
    key = answer_key.load(bundle / "answer-key.json")
    (variant,) = [v for v in plan.variants(course) if v.mistake == "backward-not-topological"]
    with Session(released, seed=SEED, sandbox="process", key=key) as from_key:
        different = tmp_path / "different"
        different.mkdir()
        (different / "engine.py").write_text(GENERIC_ENGINE)
        solved = from_key.grade(different)
        wrong = from_key.grade(variant_submission(course, variant, tmp_path / "topo"))
        stubs = from_key.grade(bundle / "exercises")
    assert solved.passed and solved.score == solved.max_score, _failing(solved)
    assert any(t.mistake == "backward-not-topological" for t in wrong.tests)
    assert stubs.score == 0


def test_one_gradient_assigned_instead_of_accumulated_is_located_at_its_line(submit):
    """The located repair works on a class exercise too: the edited copies are whole classes, built into the
    cases' inputs like the student's own."""
    wrong = SOLUTION.replace("            other.grad += self.data * out.grad", "            other.grad = self.data * out.grad")
    result = submit(wrong)
    failing = [t for t in result.tests if t.status != "pass"]
    line = next(number for number, text in enumerate(wrong.splitlines(), 1) if "other.grad = self.data" in text)
    assert failing and all(t.repair is not None and t.repair.line == line for t in failing), \
        [(t.message, t.repair) for t in failing]
    assert "other.grad += self.data * out.grad" in failing[0].repair.edit
