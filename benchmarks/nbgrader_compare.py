"""Grade the same notebooks with `autograde grade` and with nbgrader's `autograde`; report students per second.

Needs an environment with nbgrader and ipykernel (not a dependency of autograde), e.g.
  python3 -m venv /tmp/nbg && /tmp/nbg/bin/pip install torch==2.13.0 nbgrader ipykernel
Run: .venv/bin/python -m benchmarks.nbgrader_compare --nbgrader /tmp/nbg/bin/nbgrader --students 30

nbgrader gets one test cell per exercise module, checking the same functions on the lecture's
data (values, a short training), and the same 5 s cell time limit as autograde's function limit.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

from examples.variants import build_submission
from benchmarks.make_class import as_notebook, variant_changes

ROOT = Path(__file__).resolve().parent.parent
MODULES = ("neuron", "backprop", "autograd_loop", "autograd_basics")
TESTS = {
    "neuron": """
import torch
ds = SimpleDataset()
assert len(ds) == 12 and str(ds).startswith("Data Size: 12")
X, y = ds.X, ds.y
assert torch.allclose(activate(torch.tensor([0.0, 2.0])), torch.sigmoid(torch.tensor([0.0, 2.0])))
y_pred = model(X, torch.ones(2), torch.zeros(1))
assert torch.allclose(y_pred, torch.sigmoid(X.sum(dim=1)), atol=1e-6)
assert abs(loss_fn(y_pred, y).item() - 0.17980) < 1e-4
""",
    "backprop": """
import torch
assert tuple(backward(-2, 5, -4)) == (-4, -4, 3)
assert abs(numerical_derivative(lambda x: x ** 3, 1.3) - 3 * 1.3 ** 2) < 1e-6
z = torch.linspace(-3, 3, 7)
assert torch.allclose(sigmoid_derivative(z), torch.sigmoid(z) * (1 - torch.sigmoid(z)))
W, b = torch.tensor([0.3, -0.2], requires_grad=True), torch.zeros(1, requires_grad=True)
X, y = SimpleDataset().X, SimpleDataset().y
torch.mean((torch.sigmoid(X @ W + b) - y) ** 2).backward()
Wg, bg = gradient(W.detach(), b.detach(), X, y)
assert torch.allclose(Wg, W.grad, atol=1e-6) and torch.allclose(bg, b.grad, atol=1e-6)
""",
    "autograd_loop": """
import torch
from torch.utils.data import DataLoader
ds = SimpleDataset()
def reference(epochs):
    W, b = torch.ones(2, requires_grad=True), torch.zeros(1, requires_grad=True)
    for _ in range(epochs):
        torch.mean((torch.sigmoid(ds.X @ W + ds.y * 0 + b) - ds.y) ** 2).backward()
        with torch.no_grad():
            W -= 0.01 * W.grad; b -= 0.01 * b.grad; W.grad = None; b.grad = None
    return W.detach(), b.detach()
for epochs in (1, 2, 12):
    for learn in (learn_autograd, learn_sgd):
        W, b = torch.ones(2, requires_grad=True), torch.zeros(1, requires_grad=True)
        W2, b2 = learn(W, b, DataLoader(ds, batch_size=12), max_epochs=epochs, learning_rate=0.01)
        assert W2 is W and W.is_leaf and torch.allclose(W.detach(), reference(epochs)[0], atol=1e-6)
    W, b = torch.ones(2, requires_grad=True), torch.zeros(1, requires_grad=True)
    learn_accumulate(W, b, DataLoader(ds, batch_size=4), 3, max_epochs=epochs, learning_rate=0.01)
    assert torch.allclose(W.detach(), reference(epochs)[0], atol=1e-6)
""",
    "autograd_basics": """
import torch
w = torch.ones(3, requires_grad=True)
x, y, z = track_computation(w)
assert z.item() == 9 and torch.allclose(w.grad, torch.ones(3)) and torch.allclose(y.grad, torch.full((3,), 1 / 3))
assert torch.allclose(square_sum_gradient(torch.tensor([1.0, 2.0])), torch.tensor([2.0, 4.0]))
a = torch.randn(2, 2, requires_grad=True)
assert not detached(a).requires_grad and not doubled_without_graph(a).requires_grad
for descend in (descend_weights, descend_weights_sgd):
    outputs = descend(torch.ones(4, requires_grad=True))
    assert all(abs(o - e) < 1e-4 for o, e in zip(outputs, [12.0, 8.4, 4.8, 1.2]))
""",
}


def nbgrader_notebook(notebook_path: Path) -> nbformat.NotebookNode:
    """The student's notebook with nbgrader's solution metadata on code cells and one graded test cell per module."""
    notebook = nbformat.read(str(notebook_path), as_version=4)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    for module, cell in zip(MODULES, code_cells):
        cell.metadata["nbgrader"] = {"grade": False, "solution": True, "locked": False, "grade_id": f"code_{module}",
                                     "schema_version": 3}
    for module in MODULES:
        test = nbformat.v4.new_code_cell(TESTS[module].strip())
        test.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 1,
                                     "grade_id": f"test_{module}", "schema_version": 3}
        notebook.cells.append(test)
    return notebook


@dataclass(frozen=True)
class Compared:
    """Both graders on the same notebooks: wall seconds, how many got full marks, exit statuses."""

    students: int
    nbgrader_seconds: float
    nbgrader_graded: int
    nbgrader_full: int
    nbgrader_code: int
    our_seconds: float
    our_full: int
    our_code: int


def compare(nbgrader_path: str, students: int) -> Compared:
    """Grade ``students`` generated notebooks with nbgrader's ``autograde``, then with ``autograde grade``."""
    variants = variant_changes()
    nbgrader_env = {**os.environ, "PATH": f"{Path(nbgrader_path).parent}{os.pathsep}{os.environ['PATH']}"}
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        course = work / "course"
        (course / "source" / "ps1").mkdir(parents=True)
        (course / "nbgrader_config.py").write_text(
            "c = get_config()\nc.CourseDirectory.course_id = 'autograd'\nc.ExecutePreprocessor.timeout = 5\n"
            "c.Execute.timeout = 5\n")
        as_notebook(ROOT / "solutions", work / "reference.ipynb")
        nbformat.write(nbgrader_notebook(work / "reference.ipynb"), str(course / "source" / "ps1" / "ps1.ipynb"))
        generated = subprocess.run([nbgrader_path, "generate_assignment", "ps1", "--force"], cwd=course,
                                   capture_output=True, text=True, env=nbgrader_env)
        if generated.returncode:
            sys.exit(f"nbgrader generate_assignment failed:\n{generated.stdout}\n{generated.stderr}")
        for index in range(students):
            student = f"student{index + 1:04d}"
            folder = build_submission(ROOT / "solutions", work / "folders" / student, variants[index % len(variants)][1])
            (work / "notebooks").mkdir(exist_ok=True)
            as_notebook(folder, work / "notebooks" / f"{student}.ipynb")
            target = course / "submitted" / student / "ps1"
            target.mkdir(parents=True)
            nbformat.write(nbgrader_notebook(work / "notebooks" / f"{student}.ipynb"), str(target / "ps1.ipynb"))
        started = time.perf_counter()
        nbgrader = subprocess.run([nbgrader_path, "autograde", "ps1", "--create"], cwd=course, capture_output=True,
                                  text=True, env=nbgrader_env)
        nbgrader_seconds = time.perf_counter() - started
        graded = len(list((course / "autograded").glob("*/ps1/ps1.ipynb")))
        subprocess.run([nbgrader_path, "export", "--to", str(work / "nbgrader.csv")], cwd=course, capture_output=True,
                       env=nbgrader_env)
        with open(work / "nbgrader.csv") as handle:
            rows = list(csv.DictReader(handle))
        nbgrader_full = sum(float(row["score"]) == float(row["max_score"]) for row in rows)
        started = time.perf_counter()
        ours = subprocess.run([sys.executable, "-m", "grader", "grade", str(work / "notebooks"), "--out", str(work / "grades"),
                               "--seed", "1", "--workers", str(os.cpu_count())], cwd=ROOT, capture_output=True, text=True)
        our_seconds = time.perf_counter() - started
        with open(work / "grades" / "grades.csv") as handle:
            ours_full = sum(row["total"] == row["max"] for row in csv.DictReader(handle))
    return Compared(students, nbgrader_seconds, graded, nbgrader_full, nbgrader.returncode, our_seconds, ours_full,
                    ours.returncode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nbgrader", required=True, help="path of the nbgrader executable")
    parser.add_argument("--students", type=int, default=30)
    options = parser.parse_args()
    c = compare(options.nbgrader, options.students)
    print(f"{c.students} notebooks")
    print(f"nbgrader autograde: {c.nbgrader_seconds:.1f} s, {c.students / c.nbgrader_seconds:.2f} students/s "
          f"({c.nbgrader_graded} autograded, {c.nbgrader_full} with full marks, exit {c.nbgrader_code})")
    print(f"autograde grade:    {c.our_seconds:.1f} s, {c.students / c.our_seconds:.2f} students/s "
          f"({c.our_full} with full marks, exit {c.our_code})")
    print(f"ratio: {c.nbgrader_seconds / c.our_seconds:.1f}x nbgrader's students per second")


if __name__ == "__main__":
    main()
