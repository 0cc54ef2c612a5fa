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
