"""A course whose exercise is a class, as an instructor writes one from the README alone: the cases build
objects with the class under test, a course reader reads them, and what the class raises while the inputs
are built is the student's failure, said as such."""

from __future__ import annotations

import pytest

from grader import assignment
from grader.engine import Session

DECLARATIONS = '''
[assignment]
name = "counters"

[mistake.adds-one]
meaning = "add(n) adds 1, whatever n"
hint = "add n itself"

[[function]]
name = "Counter"
module = "counter"
kind = "class"
parameters = []
reader = "read_counter"
checks = [{ kind = "returns", points = 1, cases = ["adds"], mistakes = ["adds-one"] }]
'''

SOLUTION = '''
class Counter:
    def __init__(self):
        self.total = 0

    def add(self, n):
        ### BEGIN SOLUTION
        ### HINT: add n to the total
        self.total += n
        return self
        ### END SOLUTION
'''

INPUTS = '''
from grader.authoring import Call, size


def adds(gen, Counter):
    counter = Counter()
    return [Call([counter, size(gen, 2, 9)], run=lambda c, n: c.add(n), label="Counter().add(n)")]


def read_counter(counter):
    return {"total": counter.total}
'''

WRONG = '''
class Counter__adds_one:
    def __init__(self):
        self.total = 0

    def add(self, n):
        self.total += 1
        return self
'''


@pytest.fixture
def course(tmp_path):
    folder = tmp_path / "counters"
    (folder / "solutions").mkdir(parents=True)
    (folder / "mistakes").mkdir()
    (folder / "assignment.toml").write_text(DECLARATIONS)
    (folder / "solutions" / "counter.py").write_text(SOLUTION)
    (folder / "inputs.py").write_text(INPUTS)
    (folder / "mistakes" / "wrong_counter.py").write_text(WRONG)
    return folder


def _student(tmp_path, source: str):
    folder = tmp_path / f"student{len(list(tmp_path.glob('student*')))}"
    folder.mkdir()
    (folder / "counter.py").write_text(source)
    return folder


def test_objects_are_read_by_the_course_reader_and_a_variant_names_the_mistake(course, tmp_path):
    loaded = assignment.load(course / "assignment.toml")
    with Session(loaded, seed=5, sandbox="process") as session:
        solved = session.grade(loaded.solutions)
        wrong = session.grade(_student(tmp_path, WRONG.replace("Counter__adds_one", "Counter")))
    assert solved.passed, [t.message for t in solved.tests]
    (check,) = wrong.tests
    assert check.status == "fail" and check.mistake == "adds-one"
    assert ".total: values differ" in check.message and check.message.startswith("Counter().add(n)")


def test_a_class_that_raises_while_the_inputs_are_built_fails_saying_so(course, tmp_path):
    loaded = assignment.load(course / "assignment.toml")
    broken = SOLUTION.replace("self.total = 0", "raise ValueError('no counters today')")
    with Session(loaded, seed=5, sandbox="process") as session:
        result = session.grade(_student(tmp_path, broken))
    (check,) = result.tests
    assert check.status != "pass" and check.score == 0
    assert "building the inputs of case adds with it raised" in check.message and "no counters today" in check.message


def test_a_reader_must_be_a_function_of_inputs_and_attributes_must_be_names(course):
    toml = course / "assignment.toml"
    toml.write_text(DECLARATIONS.replace('reader = "read_counter"', 'reader = "read_it"'))
    with pytest.raises(assignment.AssignmentError, match="reader 'read_it' is not a function of inputs.py"):
        assignment.load(toml)
    toml.write_text(DECLARATIONS.replace('reader = "read_counter"', 'attributes = ["total()"]'))
    with pytest.raises(assignment.AssignmentError, match="attributes = "):
        assignment.load(toml)


def test_objects_are_read_as_declared_as_arguments_and_in_the_class_view():
    """Found by an instructor's trial: arguments that are objects of the course's class were compared by class and
    repr (a correct student whose file had another name failed a leaf-gradient check), and the class view's digest
    kept only an object's class (students with different wrong answers were "the same wrong answer")."""
    from grader import compare, footprint
    from grader.worker import harness
    from grader.worker.reading import Reading

    def made(module: str, data: float):
        return type("Tensor", (), {"__module__": module, "data": data, "grad": 0.5})()

    read = Reading(("data", "grad"))
    mine, theirs = harness._encode_args([made("engine", 2.0)], {}, read), harness._encode_args([made("tensor", 2.0)], {}, read)
    assert compare.compare(mine["args"][0], theirs["args"][0], 1e-6, 1e-9) is None  # another file name, same values
    other = harness._encode_args([made("tensor", 3.0)], {}, read)
    assert compare.compare(other["args"][0], theirs["args"][0], 1e-6, 1e-9) is not None
    assert footprint._stable(mine["args"][0]) != footprint._stable(other["args"][0])
