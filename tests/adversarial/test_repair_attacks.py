"""Attacks on the located-repair search (``grader/repair.py``, ``grader/mutations.py``, ``Session._locate_repairs``)
by a student who has read the source, and student mistakes in forms the shipped variants do not have.

A test here that fails shows a real problem: a grader error a student can cause, grading time with no bound, or
a repair line that points where the mistake is not. The passing ones are attacks the grader held (cheap ones
only).
"""

from __future__ import annotations

import ast
import textwrap
import time
from pathlib import Path

import pytest

from examples.variants import build_submission
from grader import mutations
from grader.results import INTERNAL_NOTE, PASS
from grader.runner import Worker
from tests.conftest import ROOT, by_function


def _definition(source: str) -> ast.stmt:
    return ast.parse(textwrap.dedent(source)).body[0]


def _line_of(folder: Path, module: str, text: str, after: int = 0) -> list[int]:
    """The lines of ``module`` (after line ``after``) whose stripped text is ``text``."""
    lines = (folder / f"{module}.py").read_text().splitlines()
    return [number for number, line in enumerate(lines, 1) if number > after and line.strip() == text]


# --- mutation generation on weird but valid Python ---

HUGE_LITERALS = {
    # a hex literal past a float's range: the "constant halved" edit computes value / 2 -> OverflowError
    "past a float's range": "0x" + "f" * 300,
    # a hex literal of more than 4300 decimal digits: repr() of it raises ValueError (sys.int_info limit)
    "past int's str-digits limit": "0x" + "f" * 4000,
}


@pytest.mark.parametrize("name", sorted(HUGE_LITERALS))
def test_edits_of_a_function_with_a_huge_integer_literal_never_raise(name):
    """``single_edits`` promises to never raise on any tree ``ast.parse`` gives, but only catches RecursionError
    and MemoryError: a valid hex literal makes ``_factors`` raise OverflowError (``value / 2``) or ValueError
    (``repr`` of an int past Python's 4300-digit limit)."""
    definition = _definition(f"def loss_fn(y_pred, y):\n    mask = {HUGE_LITERALS[name]}\n"
                             "    return ((y_pred - y) ** 2).sum()\n")
    edits = mutations.single_edits(definition)  # raises now
    assert isinstance(edits, list)


def test_a_huge_integer_constant_in_a_failing_function_is_no_grader_error(session, make_submission):
    """End to end: one unused hex constant in a failing ``loss_fn`` turns the repair search into an
    "INTERNAL ERROR in the grader (not your fault; please report it)" warning in the student's feedback, and
    the student loses the hint (the grade itself is unchanged)."""
    huge = HUGE_LITERALS["past a float's range"]
    source = f"def loss_fn(y_pred, y):\n    mask = {huge}\n    return ((y_pred - y) ** 2).sum()\n"
    result = session.grade(make_submission({"neuron": {"loss_fn": source}}))
    assert not [warning for warning in result.warnings if warning.startswith(INTERNAL_NOTE)], result.warnings
    failing = [t for t in by_function(result, "loss_fn") if t.status != PASS]
    assert failing and failing[0].repair is not None


def _counting_prints(monkeypatch) -> list[int]:
    """Count the edited definitions built (each a copy, a print and a parse of the whole definition): the work
    the grading process does, with no time limit of its own."""
    built, real = [], mutations._source

    def counted(definition):
        built.append(1)
        return real(definition)

    monkeypatch.setattr(mutations, "_source", counted)
    return built


def test_edits_of_a_function_of_repeated_calls_are_bounded_work(monkeypatch):
    """Edits identical to the original (``f(1, 1)`` with its two arguments swapped) used to be built in full and
    thrown away without counting towards the 80: a function of N such lines cost O(N^2) in the grading process
    (1,000 lines, 12 KB: about 100 s). Every candidate built now counts as an attempt, at most ATTEMPTS per edit
    kept, and the same call swapped is not built at all."""
    built = _counting_prints(monkeypatch)
    body = "".join("    f(1, 1)\n" for _ in range(200))
    definition = _definition("def loss_fn(y_pred, y):\n    f = max\n" + body + "    return ((y_pred - y) ** 2).sum()\n")
    edits = mutations.single_edits(definition, limit=80)
    assert edits and len(built) <= mutations.ATTEMPTS * 80


def test_edits_of_one_long_function_are_bounded_work(monkeypatch):
    """Each edit copies, prints and parses the whole definition: a 1,500-line function cost about 14 s, one that
    fills the 512 KiB a file may have minutes. A definition of more than MAX_NODES nodes is not searched, and a
    searched one builds at most ATTEMPTS candidates per edit kept."""
    built = _counting_prints(monkeypatch)
    body = "".join(f"    v{i} = (x - {i}.5) * {i}.25\n" for i in range(800))
    assert mutations.single_edits(_definition("def loss_fn(x):\n" + body + "    return x.sum()\n")) == []
    assert not built
    body = "".join(f"    v{i} = (x - {i}.5) * {i}.25\n" for i in range(60))
    assert mutations.single_edits(_definition("def loss_fn(x):\n" + body + "    return x.sum()\n"), limit=80)
    assert len(built) <= mutations.ATTEMPTS * 80


def test_a_huge_hex_literal_in_a_raise_is_no_internal_error(session, make_submission):
    """Not the search itself, but the same unguarded ``ast.unparse``: ``pyparse.unparse`` catches only
    RecursionError and MemoryError, and ``engine._raises_not_implemented`` unparses every ``raise`` of every
    contract function. A *correct* ``loss_fn`` with ``raise ValueError(0xfff...)`` (4,000 hex digits, past
    Python's 4300-decimal-digit limit) in a branch that never runs makes the whole submission an internal error:
    no check is judged, 0 points."""
    huge = "0x" + "f" * 4000
    source = (f"def loss_fn(y_pred, y):\n    if y.numel() < 0:\n        raise ValueError({huge})\n"
              "    return torch.square(y_pred - y).mean()\n")
    result = session.grade(make_submission({"neuron": {"loss_fn": source}}))
    assert result.internal_error is None, result.internal_error
    assert result.score == result.max_score > 0


ODD_DEFINITIONS = {
    "match": "def f(x):\n    match x:\n        case [a, b]:\n            return a - b\n        case _:\n            return x.sum()\n",
    "walrus": "def f(x):\n    if (n := x.sum()) > 0:\n        return n * 2\n    return (y := x - 1).mean()\n",
    "async": "async def f(x):\n    return await x.sum()\n",
    "global and nonlocal": "def f(x):\n    global G\n    G = x - 1\n    def g():\n        nonlocal x\n        x = x * 2\n    return G.sum()\n",
    "lambda with a default": "def f(x):\n    g = lambda a, b=2.0: a * b - 1\n    return g(x).sum()\n",
    "annotations": "def f(x: 'torch.Tensor' = 3.0) -> float:\n    y: float = x * 2.0\n    return y.sum()\n",
    "decorators": "@staticmethod\n@functools.cache\ndef f(x):\n    return x.sum() * 2\n",
    "starred and **kwargs": "def f(*a, **k):\n    return g(*a, 1, 2, **k).mean(dim=0, **k)\n",
    "del of attributes": "def f(x):\n    del x.data\n    del x.T\n    return x\n",
    "f-string": "def f(x):\n    print(f'{x!r:>{10}} {x.sum() - 1:.3f}')\n    return x.sum()\n",
    "yield and a training call": "def f(x, opt):\n    yield x.sum()\n    opt.step()\n",
    "nested 180 deep": "def f(x):\n    return " + "(" * 180 + "x" + " - 1)" * 180 + "\n",
    "900 unary minuses": "def f(x):\n    return " + "-" * 900 + "x\n",
    "complex and inf constants": "def f(x):\n    return x * 2j + 1e400\n",
    "tuple target with .grad": "def f(x, opt):\n    x.grad, y = None, 1\n    opt.step()\n    return x\n",
    "a class with a nested class": "class C:\n    class D:\n        def m(self, x):\n            return x.sum() - 2\n    def n(self, x):\n        return x - 1\n",
}


@pytest.mark.parametrize("name", sorted(ODD_DEFINITIONS))
def test_edits_of_odd_but_valid_python_parse_and_stay_in_the_definition(name):
    """Held: the edits of unusual syntax never raise, each parses, and each is placed inside the definition."""
    definition = _definition(ODD_DEFINITIONS[name])
    for edit in mutations.single_edits(definition, limit=40):
        ast.parse(edit.source)
        assert definition.lineno <= edit.line <= definition.end_lineno


# --- the search in the worker ---

def test_a_repair_never_points_into_a_definition_that_is_not_run(session, make_submission):
    """A file that defines ``loss_fn`` twice (an old attempt left above, as notebooks often have) runs the last
    one. The grader reads the first one as the definition, and since the edited copies now take the module's names
    and then define the edited *first* definition, the copy runs the old attempt: ``.sum() → .mean()`` on it
    passes, and the hint sends the student to a line of code that never runs (the MAE version below is what
    fails). A hint must point into the definition that runs, or not be given."""
    folder = make_submission()
    path = folder / "neuron.py"
    text = path.read_text().replace("    loss = torch.square(y_pred - y).mean()\n",
                                    "    loss = torch.square(y_pred - y).sum()\n")
    text += "\n\ndef loss_fn(y_pred, y):\n    return torch.abs(y_pred - y).mean()\n"
    path.write_text(text)
    run = max(number for number, line in enumerate(text.splitlines(), 1) if line.startswith("def loss_fn("))
    result = session.grade(folder)
    failing = [t for t in by_function(result, "loss_fn") if t.status != PASS]
    assert failing and failing[0].mistake == "mae-instead-of-mse"  # the run definition is the one judged
    hints = [t.repair for t in failing if t.repair is not None]
    assert all(hint.line >= run for hint in hints), [(hint.line, hint.edit) for hint in hints]


SLOW_COPIES = """
def detached(a):
    import time
    if __name__.startswith("_repair_"):
        time.sleep(0.25)
        return a.detach()
    _ = (a - 1.5) * 2.5 + (a - 3.5) * 4.5 - (a.sum() - a.mean()) / 6.5
    _ = (a - 7.5) * 8.5 + (a - 9.5) * 10.5 - (a.sum() - a.mean(dim=0)) / 12.5
    return a * 1
"""


def test_the_search_of_one_function_takes_one_time_limit(session, make_submission, monkeypatch):
    """README: "every copy of one function within that function's time limit". The search runs in two requests
    (the first failing check for every copy, then every check for those that passed it); each used to get a full
    time limit per function, so copies that pass the first check slowly held the worker for two. The second now
    gets what the first left of the one limit (the worker stops a function at its request's limit)."""
    real, requests = Worker.request, []

    def timed(self, request, until=None):
        started = time.monotonic()
        try:
            return real(self, request, until)
        finally:
            if request.id.endswith("(repairs)"):
                requests.append((request.timeout, time.monotonic() - started))

    monkeypatch.setattr(Worker, "request", timed)
    result = session.grade(make_submission({"autograd_basics": {"detached": SLOW_COPIES}}))
    assert by_function(result, "detached")[0].status != PASS
    limit = session.assignment.timeout
    assert requests and requests[0][0] <= limit
    if len(requests) == 2:  # the second phase ran, within what the first left
        assert requests[1][0] + requests[0][1] <= limit + 1e-6, requests


# --- where the repair points: a doubled step ---

DOUBLED_STEP = {"autograd_loop": {"learn_sgd": """
    def learn_sgd(W, b, train_data_loader, max_epochs=20_000, learning_rate=0.01):
        optimizer = torch.optim.SGD([W, b], lr=learning_rate)
        for epoch in range(max_epochs):
            batch = next(iter(train_data_loader))
            loss = loss_fn(model(batch["input"], W, b), batch["target"])
            loss.backward()
            optimizer.step()
            optimizer.step()
            optimizer.zero_grad()
        return W, b
    """}}


def test_a_doubled_optimizer_step_is_located_at_a_step_line(session, make_submission):
    """``optimizer.step()`` written twice: removing one is the repair. The search tries the statement edits in
    body order, and moving ``loss.backward()`` between the two steps (the first step then has no gradient) passes
    first, so the hint points at ``loss.backward()``, a line that is right, instead of at a step."""
    folder = make_submission(DOUBLED_STEP)
    failing = [t for t in by_function(session.grade(folder), "learn_sgd") if t.status != PASS]
    assert failing and failing[0].repair is not None
    start = next(number for number, line in enumerate((folder / "autograd_loop.py").read_text().splitlines(), 1)
                 if line.startswith("def learn_sgd("))
    steps = _line_of(folder, "autograd_loop", "optimizer.step()", after=start)[:2]
    assert failing[0].repair.line in steps, (failing[0].repair.line, failing[0].repair.edit, steps)


@pytest.fixture(scope="module")
def second_course():
    from grader import assignment
    from grader.engine import Session
    course = assignment.load(ROOT / "examples" / "autograd-functions" / "assignment.toml")
    with Session(course, seed=3, sandbox="process") as grading:
        yield course, grading


def test_a_doubled_step_in_the_second_course_is_located_at_a_step_line(second_course, tmp_path):
    """The same in ``examples/autograd-functions``: ``train`` calling ``optimizer.step()`` twice per batch is
    "located" at ``optimizer.zero_grad()`` (moving it between the two steps passes), not at a step."""
    course, grading = second_course
    changes = {"two_layer": {"train": """
        def train(model, loader, epochs, lr):
            optimizer = torch.optim.SGD(model.parameters(), lr=lr)
            losses = []
            for _ in range(epochs):
                for X, y in loader:
                    optimizer.zero_grad()
                    loss = F.cross_entropy(model(X), y)
                    loss.backward()
                    optimizer.step()
                    optimizer.step()
                    losses.append(loss.item())
            return losses
        """}}
    folder = build_submission(course.solutions, tmp_path / "s", changes)
    failing = [t for t in by_function(grading.grade(folder), "train") if t.status != PASS]
    assert failing and failing[0].repair is not None
    steps = _line_of(folder, "two_layer", "optimizer.step()")[-2:]
    assert failing[0].repair.line in steps, (failing[0].repair.line, failing[0].repair.edit, steps)


# --- mistakes named wrongly: one returned item's sign flipped, named as if the whole result were ---

def _diagnoses(tests) -> list[str]:
    return [line for test in tests if test.status != PASS for line in test.details if line.startswith("diagnosis:")]


def test_one_gradient_item_with_its_sign_flipped_is_not_called_an_ascent(session, make_submission):
    """``gradient`` with ``W_grad`` right and only ``b_grad`` negated (``(y - y_pred)`` in the bias line): the
    measurement says "W_grad is right; b_grad: -1 times the expected value", and the diagnosis then says
    ``gradient-ascent: the sign is flipped: the result points up the loss instead of down``, which the W
    half of the result does not. The name describes the whole result; only one item is flipped."""
    changes = {"backprop": {"gradient": """
        def gradient(W, b, X, y):
            y_pred = model(X, W, b)
            delta = 2 * (y_pred - y) * y_pred * (1 - y_pred)
            W_grad = (delta.unsqueeze(1) * X).mean(dim=0)
            b_grad = (y - y_pred).mul(2 * y_pred * (1 - y_pred)).mean().reshape(1)
            return W_grad, b_grad
        """}}
    tests = by_function(session.grade(make_submission(changes)), "gradient")
    measured = [line for test in tests for line in test.details if line.startswith("measured:")]
    assert any("W_grad is right" in line for line in measured), measured
    assert not [line for line in _diagnoses(tests) if "the result points up the loss" in line], _diagnoses(tests)


def test_one_gradient_item_with_its_sign_flipped_is_not_every_value_flipped(second_course, tmp_path):
    """``two_layer_gradients`` with only ``dW2`` negated: measured "dW1 is right; db1 is right; dW2: every value
    is -1 times the expected one; db2 is right", then diagnosed ``sign-flipped: every value has the opposite
    sign of the expected one``, which three of the four items contradict."""
    course, grading = second_course
    changes = {"two_layer": {"two_layer_gradients": """
        def two_layer_gradients(X, y, W1, b1, W2, b2):
            n = X.shape[0]
            Z1 = X @ W1 + b1
            H = torch.relu(Z1)
            P = torch.softmax(H @ W2 + b2, dim=1)
            dlogits = (P - F.one_hot(y, num_classes=W2.shape[1]).to(P.dtype)) / n
            dW2 = -(H.T @ dlogits)
            db2 = dlogits.sum(dim=0)
            dZ1 = (dlogits @ W2.T) * (Z1 > 0).to(P.dtype)
            dW1 = X.T @ dZ1
            db1 = dZ1.sum(dim=0)
            return dW1, db1, dW2, db2
        """}}
    tests = by_function(grading.grade(build_submission(course.solutions, tmp_path / "s", changes)), "two_layer_gradients")
    measured = [line for test in tests for line in test.details if line.startswith("measured:")]
    assert any("dW1 is right" in line for line in measured), measured
    assert not [line for line in _diagnoses(tests) if "every value has the opposite sign" in line], _diagnoses(tests)
