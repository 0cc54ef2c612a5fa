"""Instructor authoring: one source, a student release without solution code, a key that grades alike, validate."""

from __future__ import annotations

import shutil

import nbformat
import pytest
from click.testing import CliRunner

from examples.variants import CORRECT_VARIANTS, WRONG_VARIANTS, build_submission
from grader import answer_key, assignment, generated, plan
from grader.cli import main
from grader.engine import Session
from grader.release import leaks, secrets, stub_notebook, write_bundle
from grader.release import stubs as release_stubs
from grader.validate import exercises_drift, validate
from tests.conftest import ROOT

KEY_SEEDS = [101, 202]


@pytest.fixture(scope="module")
def bundle(course, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle")
    return write_bundle(course, out, KEY_SEEDS)


def test_bundle_has_stubs_declarations_and_key_but_no_solution_code(bundle, course):
    lines, regions = secrets(course.solutions)
    assert len(lines) > 40 and len(regions) == 21
    assert leaks(bundle, course.solutions) == []
    assert not list(bundle.rglob("*.pyc")) and not (bundle / "solutions").exists() and not (bundle / "mistakes").exists()
    assert sorted(p.name for p in (bundle / "exercises").iterdir()) == sorted(p.name for p in course.exercises.glob("*.py"))
    released = assignment.load(bundle / "assignment.toml")
    assert not released.has_solutions and released.answer_key == bundle / "answer-key.json"
    assert [spec.name for spec in released.functions] == [spec.name for spec in course.functions]
    readme = (bundle / "README.md").read_text()
    assert "autograde check exercises/" in readme and "--only" in readme and "grader.check(" in readme


def test_leak_detector_finds_planted_solution_code(bundle, course, tmp_path):
    copy = shutil.copytree(bundle, tmp_path / "copy")
    (copy / "exercises" / "notes.txt").write_text("W_grad = torch.mean(dl_dy * ds_dz * X, dim=0)\n")
    assert leaks(copy, course.solutions) == ["exercises/notes.txt: W_grad = torch.mean(dl_dy * ds_dz * X, dim=0)"]


SAMPLES = ["matmul model", "gradient by matmul", "optimizer re-created each step, zero before backward"]
WRONG_SAMPLES = ["loss sum", "gradient factor 2", "never zeroed", "zero_grad before step", "mutated input", "lecture typo"]


@pytest.fixture(scope="module")
def key_and_solution_sessions(bundle, course):
    key = answer_key.load(bundle / "answer-key.json")
    released = assignment.load(bundle / "assignment.toml")
    with Session(released, seed=KEY_SEEDS[1], sandbox="process", key=key) as from_key, \
            Session(course, seed=KEY_SEEDS[1], sandbox="process") as from_solutions:
        yield from_key, from_solutions


@pytest.mark.parametrize("name", SAMPLES + WRONG_SAMPLES)
def test_key_and_solutions_give_the_same_verdicts(name, key_and_solution_sessions, course, tmp_path):
    changes = CORRECT_VARIANTS[name] if name in CORRECT_VARIANTS else WRONG_VARIANTS[name][0]
    folder = build_submission(course.solutions, tmp_path / "s", changes)
    from_key, from_solutions = key_and_solution_sessions
    by_key, by_solutions = from_key.grade(folder), from_solutions.grade(folder)
    verdicts = lambda result: [(t.name, t.status, t.mistake, t.message) for t in result.tests]  # noqa: E731
    assert verdicts(by_key) == verdicts(by_solutions)


def test_check_from_the_bundle_cli(bundle, monkeypatch):
    monkeypatch.chdir(bundle)
    result = CliRunner().invoke(main, ["check", "exercises", "--sandbox", "process", "--only", "model"])
    assert result.exit_code == 1 and "not implemented yet" in result.output
    solved = CliRunner().invoke(main, ["check", str(ROOT / "solutions"), "--sandbox", "process", "--seed", "101"])
    assert solved.exit_code == 0, solved.output
    wrong_seed = CliRunner().invoke(main, ["check", "exercises", "--seed", "7"])
    assert wrong_seed.exit_code == 2 and "has no seed 7" in wrong_seed.output
    no_solutions = CliRunner().invoke(main, ["grade", "exercises"])
    assert no_solutions.exit_code == 2 and "grading a class needs the solutions" in no_solutions.output


def test_validate_passes_on_the_shipped_course(course):
    report = validate(course)
    assert all(ok for ok, _ in report), [line for ok, line in report if not ok]
    assert sum("caught by" in line for _, line in report) == len(plan.variants(course)) == 29
    assert (True, "every declared mistake has a variant") in report


def test_validate_fails_loudly_when_a_stub_drifts(course, tmp_path):
    copy = tmp_path / "course"
    for part in ("solutions", "exercises", "mistakes"):
        shutil.copytree(course.root / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("assignment.toml", "inputs.py", "targets.py"):
        shutil.copy(course.root / part, copy)
    stub = copy / "exercises" / "backprop.py"
    stub.write_text(stub.read_text().replace("def gradient(W, b, X, y):", "def gradient(W, b, X, y_pred, y):"))
    result = CliRunner().invoke(main, ["validate", "--assignment", str(copy / "assignment.toml"), "--sandbox", "process"])
    assert result.exit_code == 1
    assert "FAIL exercises/backprop.py differs from its solution's stub" in result.output


def test_validate_names_a_declared_mistake_without_a_variant(course, tmp_path):
    copy = tmp_path / "course"
    for part in ("solutions", "exercises", "mistakes"):
        shutil.copytree(course.root / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("inputs.py", "targets.py"):
        shutil.copy(course.root / part, copy)
    text = (course.root / "assignment.toml").read_text()
    text = text.replace('mistakes = ["wrong-sigmoid-sign"]', 'mistakes = ["wrong-sigmoid-sign", "relu-instead-of-sigmoid"]')
    text += '\n[mistake.relu-instead-of-sigmoid]\nmeaning = "the result is max(u, 0)"\nhint = "sigma(u) = 1 / (1 + exp(-u))"\n'
    (copy / "assignment.toml").write_text(text)
    from grader.validate import undeclared_variants
    assert undeclared_variants(assignment.load(copy / "assignment.toml")) == [
        "activate: mistake relu-instead-of-sigmoid is declared but mistakes/wrong_neuron.py has no activate__relu_instead_of_sigmoid"]
    assert undeclared_variants(course) == []


def test_notebook_release_stubs_regions_and_clears_outputs(tmp_path):
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    ### HINT: double it\n    return 2 * x\n    ### END SOLUTION\n")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="the answer is forty-two")]
    notebook.cells.append(cell)
    nbformat.write(notebook, str(tmp_path / "sol.ipynb"))
    stub_notebook(tmp_path / "sol.ipynb", tmp_path / "ex.ipynb")
    released = nbformat.read(str(tmp_path / "ex.ipynb"), as_version=4)
    assert released.cells[0].source == "def f(x):\n    raise NotImplementedError('double it')\n"
    assert released.cells[0].outputs == [] and "forty-two" not in (tmp_path / "ex.ipynb").read_text()


# `autograde release` regenerates exercises/ but never overwrites a stub edited since it generated it.

def _course_copy(course, folder):
    """A copy of the shipped course, with its exercises/ and their record."""
    for part in ("solutions", "exercises", "mistakes"):
        shutil.copytree(course.root / part, folder / part, ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("assignment.toml", "inputs.py", "targets.py"):
        shutil.copy(course.root / part, folder)
    return folder


def _release(folder, *options):
    return CliRunner().invoke(main, ["release", "--assignment", str(folder / "assignment.toml"), *options])


def _contents(folder):
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.mark.parametrize("root", [ROOT, ROOT / "examples" / "autograd-functions", ROOT / "examples" / "scalar-engine"],
                         ids=["lecture", "autograd-functions", "scalar-engine"])
def test_the_shipped_exercises_are_recorded_as_generated(root):
    course = assignment.load(root / "assignment.toml")
    stubs = release_stubs(course.solutions)
    assert generated.recorded(course.exercises) == {name: generated.sha256(text.encode()) for name, text in stubs.items()}
    assert generated.edited(course.exercises, stubs) == [] and exercises_drift(course) == []


def test_release_records_what_it_wrote_and_regenerates_unedited_stubs(course, tmp_path):
    folder = _course_copy(course, tmp_path / "course")
    (folder / "exercises" / generated.MANIFEST).unlink()  # a course released before the record existed
    first = _release(folder)
    assert first.exit_code == 0, first.output
    assert set(generated.recorded(folder / "exercises")) == {path.name for path in course.solutions.glob("*.py")}
    solution = folder / "solutions" / "neuron.py"
    solution.write_text(solution.read_text().replace("### HINT: ", "### HINT: (new) ", 1))
    again = _release(folder)
    assert again.exit_code == 0, again.output
    assert "(new)" in (folder / "exercises" / "neuron.py").read_text()
    recorded = generated.recorded(folder / "exercises")
    assert recorded["neuron.py"] == generated.sha256((folder / "exercises" / "neuron.py").read_bytes())
    assert exercises_drift(assignment.load(folder / "assignment.toml")) == []


def test_release_refuses_to_overwrite_an_edited_stub(course, tmp_path):
    folder = _course_copy(course, tmp_path / "course")
    stub = folder / "exercises" / "backprop.py"
    stub.write_text(stub.read_text() + "\n# my note to the students\n")
    solution = folder / "solutions" / "neuron.py"
    solution.write_text(solution.read_text().replace("### HINT: ", "### HINT: (new) ", 1))
    before = _contents(folder / "exercises")
    refused = _release(folder, "--out", str(tmp_path / "bundle"))
    assert refused.exit_code == 2
    assert str(stub) in refused.output and "neuron.py" not in refused.output and "--force" in refused.output
    assert _contents(folder / "exercises") == before and not (tmp_path / "bundle").exists()  # nothing written
    forced = _release(folder, "--force")
    assert forced.exit_code == 0, forced.output
    assert "my note" not in stub.read_text() and "(new)" in (folder / "exercises" / "neuron.py").read_text()
    assert generated.edited(folder / "exercises", release_stubs(folder / "solutions")) == []


def test_without_a_record_a_stub_unlike_the_generated_one_is_kept(course, tmp_path):
    folder = _course_copy(course, tmp_path / "course")
    (folder / "exercises" / generated.MANIFEST).unlink()
    stub = folder / "exercises" / "autograd_loop.py"
    stub.write_text(stub.read_text().replace("raise NotImplementedError", "raise RuntimeError", 1))
    refused = _release(folder)
    assert refused.exit_code == 2 and str(stub) in refused.output
    assert "RuntimeError" in stub.read_text() and not (folder / "exercises" / generated.MANIFEST).exists()


def test_a_new_course_records_its_stubs_and_validates(tmp_path):
    folder = tmp_path / "new-course"
    created = CliRunner().invoke(main, ["new", str(folder)])
    assert created.exit_code == 0, created.output
    assert set(generated.recorded(folder / "exercises")) == {"activations.py"}
    released = _release(folder)
    assert released.exit_code == 0, released.output
    validated = CliRunner().invoke(main, ["validate", "--assignment", str(folder / "assignment.toml"), "--sandbox", "process",
                                          "--seed", "11"])
    assert validated.exit_code == 0, validated.output
    assert "ok   exercises/ is in sync with solutions/" in validated.output


def test_the_key_keeps_what_raised_as_its_type_only(bundle, course):
    """A wrong variant that raises left its traceback (the course's code and paths) in the key: found by trying
    the README as an instructor. What raised is kept as its type, which is all judging asks."""
    from grader import answer_key
    sent = {"p": {"status": "ok", "calls": [{"seconds": 0.1, "error": {"type": "RuntimeError", "message": "at x = W @ X",
                                                                       "traceback": "File \"/course/mistakes/wrong.py\""}}]},
            "q": {"status": "missing", "error": {"type": "ImportError", "message": "m", "traceback": "t"}}}
    slim = answer_key._slim(sent)
    assert slim["p"]["calls"][0]["error"] == {"type": "RuntimeError", "message": "", "traceback": ""}
    assert slim["q"]["error"] == {"type": "ImportError", "message": "", "traceback": ""}
    text = (bundle / "answer-key.json").read_text()
    assert str(course.root) not in text and "mistakes/" not in text


def test_a_refused_release_leaves_nothing_behind(course, tmp_path):
    """The release used to write the whole bundle and then refuse it, leaving the solution code it found."""
    from grader.release import MarkerError
    copy = tmp_path / "course"
    copy.mkdir()
    for name in ("assignment.toml", "inputs.py", "targets.py"):
        shutil.copy(course.root / name, copy / name)
    for folder in ("solutions", "mistakes", "exercises"):
        shutil.copytree(course.root / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    with open(copy / "inputs.py", "a") as handle:  # inputs.py goes into the bundle: here with a solution line in it
        handle.write("\n# W_grad = torch.mean(dl_dy * ds_dz * X, dim=0)\n")
    out = tmp_path / "release"
    with pytest.raises(MarkerError, match="nothing was written"):
        write_bundle(assignment.load(copy / "assignment.toml"), out, [1])
    assert not any(out.iterdir()) and not list(tmp_path.glob(".autograde-release-*"))
