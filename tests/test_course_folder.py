"""A course is a folder: the installed autograde creates, validates, releases and grades one anywhere,
and the engine itself knows no lecture."""

from __future__ import annotations

import re
import subprocess
import sys

from click.testing import CliRunner

from grader.cli import main
from tests.conftest import ROOT

# Names, numbers and words of the repository's own lecture that the engine must never contain.
LECTURE_WORDS = ["lecture", "sigmoid", "SimpleDataset", "neuron", "W_grad", "learn_autograd", "thermometer",
                 "W and b", "max_epochs", "35.7", "81.9", "mse_of"]


def test_the_engine_contains_nothing_of_the_lecture():
    found = []
    for path in sorted((ROOT / "grader").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        found += [f"{path.relative_to(ROOT)}: {word}" for word in LECTURE_WORDS
                  if re.search(re.escape(word), text, re.IGNORECASE)]
    assert not found


def _autograde(*arguments: str, cwd) -> subprocess.CompletedProcess:
    """The installed command, run from a folder outside the repository."""
    command = [sys.executable, "-c", "from grader.cli import main; main()", *arguments]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_a_new_course_outside_the_repository_validates_releases_and_grades(tmp_path):
    course = tmp_path / "my-course"
    created = CliRunner().invoke(main, ["new", str(course)])
    assert created.exit_code == 0, created.output
    assert (course / "exercises" / "activations.py").read_text().count("raise NotImplementedError") == 2

    validated = _autograde("validate", "--sandbox", "process", "--seed", "11", cwd=course)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "solutions score 4.5/4.5" in validated.stdout and "relu-derivative-inverted" in validated.stdout

    released = _autograde("release", "--out", str(tmp_path / "bundle"), "--seeds", "2", cwd=course)
    assert released.returncode == 0, released.stderr
    bundle = tmp_path / "bundle"
    assert (bundle / "inputs.py").exists() and not (bundle / "targets.py").exists()
    solved = _autograde("check", str(course / "solutions"), "--sandbox", "process", cwd=bundle)
    assert solved.returncode == 0, solved.stdout + solved.stderr
    inverted = tmp_path / "student"
    inverted.mkdir()
    (inverted / "activations.py").write_text((course / "solutions" / "activations.py").read_text()
                                             .replace("return (x > 0).to(x.dtype)", "return (x < 0).to(x.dtype)"))
    wrong = _autograde("check", str(inverted), "--sandbox", "process", cwd=bundle)
    assert wrong.returncode == 1 and "relu-derivative-inverted" in wrong.stdout, wrong.stdout

    again = CliRunner().invoke(main, ["new", str(course)])
    assert again.exit_code == 2 and "not empty" in again.output


def test_code_drawing_random_numbers_of_its_own_is_judged_on_the_same_draws(tmp_path):
    """A reference that initialises weights with torch.randn: the student's identical code draws the same."""
    course = tmp_path / "noisy"
    (course / "solutions").mkdir(parents=True)
    (course / "solutions" / "layers.py").write_text(
        "import random\nimport torch\n\n\ndef init_layer(n):\n    ### BEGIN SOLUTION\n"
        "    return torch.randn(n, n) * 0.1 + random.random()\n    ### END SOLUTION\n")
    (course / "inputs.py").write_text("from grader.authoring import Call, size\n\n\n"
                                      "def sizes(gen):\n    return [Call([size(gen, 2, 5)]), Call([3])]\n")
    (course / "assignment.toml").write_text(
        '[assignment]\nname = "noisy"\n\n[[function]]\nname = "init_layer"\nmodule = "layers"\nparameters = ["n"]\n'
        'checks = [{ kind = "returns", points = 1, cases = ["sizes"] }]\n')
    from grader import assignment
    from grader.engine import Session

    with Session(assignment.load(course / "assignment.toml"), seed=5, sandbox="process") as grading:
        assert grading.grade(course / "solutions").passed


def test_seeding_the_cpu_alone_draws_what_torch_manual_seed_draws(monkeypatch):
    """With CUDA hidden and no other accelerator, the harness seeds only the CPU's generator (``torch.manual_seed``
    would also queue a seed, and format a stack trace, for each accelerator torch knows): the same draws."""
    import torch

    from grader.worker import cases, harness

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    harness._only_the_cpu.cache_clear()
    try:
        assert harness._only_the_cpu()
        harness.seed_global_generators(5, "sizes")
        drawn = torch.randn(6)
        torch.manual_seed(int(cases.generator_for(5, "sizes").initial_seed()) % 2**32)
        assert torch.equal(drawn, torch.randn(6))
    finally:
        harness._only_the_cpu.cache_clear()
