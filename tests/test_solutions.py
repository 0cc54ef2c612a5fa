"""The reference solutions reproduce the lecture's printed numbers; the stubs are in sync with them."""

from __future__ import annotations

import ast
import importlib
import sys

import pytest
import torch
from torch.utils.data import DataLoader

from grader.release import generate_exercises, stub_source
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def solutions():
    sys.path.insert(0, str(ROOT / "solutions"))
    modules = {name: importlib.import_module(name) for name in ("neuron", "backprop", "autograd_loop", "autograd_basics")}
    yield modules
    sys.path.remove(str(ROOT / "solutions"))
    for name in modules:
        sys.modules.pop(name, None)


def test_dataset_matches_the_lecture(solutions):
    dataset = solutions["neuron"].SimpleDataset()
    assert str(dataset) == "Data Size: 12, Input Shape: torch.Size([12, 2]), Target Shape: torch.Size([12])"
    assert len(dataset) == 12 and dataset.X.dtype == torch.float32 and dataset.y.dtype == torch.float32
    assert dataset[7]["input"].tolist() == [-4.0, pytest.approx(0.1)]
    assert dataset[0]["target"].item() == pytest.approx(0.357)


def test_first_prediction_and_losses_match_the_lecture(solutions):
    neuron = solutions["neuron"]
    dataset = neuron.SimpleDataset()
    y_pred = neuron.model(dataset.X, torch.ones(2), torch.zeros(1))
    expected = [0.8022, 1.0, 1.0, 1.0, 1.0, 1.0, 0.9973, 0.0198, 1.0, 1.0, 1.0, 0.6225]
    assert y_pred.shape == (12,)
    assert y_pred.tolist() == pytest.approx(expected, abs=5e-5)
    assert neuron.loss_fn(y_pred, dataset.y * 100).item() == pytest.approx(2673.9028, abs=1e-3)
    assert neuron.loss_fn(y_pred, dataset.y).item() == pytest.approx(0.17980, abs=1e-5)
    typo = dataset.X.clone()
    typo[7, 0] = 4.0
    assert neuron.loss_fn(neuron.model(typo, torch.ones(2), torch.zeros(1)), dataset.y).item() == pytest.approx(0.2254, abs=1e-4)
    assert neuron.loss_fn(y_pred, dataset.y).shape == ()


def test_backward_and_derivatives(solutions):
    backprop = solutions["backprop"]
    assert backprop.backward(-2, 5, -4) == (-4, -4, 3)
    assert backprop.numerical_derivative(lambda x: x ** 2, 3.0) == pytest.approx(6.0)
    z = torch.linspace(-3, 3, 7)
    assert torch.allclose(backprop.sigmoid_derivative(z), torch.sigmoid(z) * (1 - torch.sigmoid(z)))


def test_manual_gradient_equals_autograd(solutions):
    neuron, backprop = solutions["neuron"], solutions["backprop"]
    X, y = neuron.SimpleDataset().X.double(), neuron.SimpleDataset().y.double()
    W, b = torch.tensor([0.3, -0.2], dtype=torch.float64, requires_grad=True), torch.zeros(1, dtype=torch.float64, requires_grad=True)
    neuron.loss_fn(neuron.model(X, W, b), y).backward()
    W_grad, b_grad = backprop.gradient(W.detach(), b.detach(), X, y)
    assert torch.allclose(W_grad, W.grad) and torch.allclose(b_grad, b.grad)


def test_weights_times_three_descent_prints_the_lecture_outputs(solutions):
    basics = solutions["autograd_basics"]
    for descend in (basics.descend_weights, basics.descend_weights_sgd):
        weights = torch.ones(4, requires_grad=True)
        assert descend(weights) == pytest.approx([12.0, 8.4, 4.8, 1.2], abs=1e-5)
        assert weights.tolist() == pytest.approx([0.1] * 4, abs=1e-6)


def test_track_computation_gradients(solutions):
    w = torch.ones(3, requires_grad=True)
    x, y, z = solutions["autograd_basics"].track_computation(w)
    assert z.item() == 9.0 and w.grad.tolist() == [1.0, 1.0, 1.0]
    assert y.grad.tolist() == pytest.approx([1 / 3] * 3)


def test_all_learn_functions_agree_and_accumulation_equals_full_batch(solutions):
    dataset = solutions["neuron"].SimpleDataset()
    full = DataLoader(dataset, batch_size=12)
    loop, backprop = solutions["autograd_loop"], solutions["backprop"]

    def leaves():
        return torch.ones(2, requires_grad=True), torch.zeros(1, requires_grad=True)

    W_manual, b_manual = backprop.learn(torch.ones(2), torch.zeros(1), full, max_epochs=30)
    for learn in (loop.learn_autograd, loop.learn_sgd):
        W, b = leaves()
        returned = learn(W, b, full, max_epochs=30)
        assert returned[0] is W and W.is_leaf and W.requires_grad
        assert torch.allclose(W, W_manual, atol=1e-6) and torch.allclose(b, b_manual, atol=1e-6)
    W, b = leaves()
    loop.learn_accumulate(W, b, DataLoader(dataset, batch_size=4), accumulation_steps=3, max_epochs=30)
    assert torch.allclose(W, W_manual, atol=1e-6) and torch.allclose(b, b_manual, atol=1e-6)


def test_every_stub_raises_not_implemented(course):
    saved = {spec.module: sys.modules.pop(spec.module, None) for spec in course.functions}
    sys.path.insert(0, str(course.exercises))
    try:
        for spec in course.functions:
            module = importlib.import_module(spec.module)
            with pytest.raises(NotImplementedError):
                target = getattr(module, spec.name)
                target() if spec.kind == "class" else target(*[None] * len(spec.required_parameters))
    finally:
        sys.path.remove(str(course.exercises))
        sys.modules.update({name: module for name, module in saved.items() if module is not None})


def test_exercises_are_exactly_what_release_generates(course, tmp_path):
    generated = generate_exercises(course.solutions, tmp_path)
    assert [p.name for p in generated] == sorted(p.name for p in course.exercises.glob("*.py"))
    for path in generated:
        assert path.read_text() == (course.exercises / path.name).read_text(), f"exercises/{path.name} drifted"


def test_every_contract_function_is_in_solutions_and_exercises(course):
    for folder in (course.solutions, course.exercises):
        defined = set()
        for path in folder.glob("*.py"):
            defined |= {n.name for n in ast.parse(path.read_text()).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        assert {spec.name for spec in course.functions} <= defined


def test_stub_keeps_everything_but_the_marked_region():
    source = 'def f(x):\n    """Doc."""\n    ### BEGIN SOLUTION\n    ### HINT: add one\n    return x + 1\n    ### END SOLUTION\n\nprint(1)\n'
    assert stub_source(source) == 'def f(x):\n    """Doc."""\n    raise NotImplementedError(\'add one\')\n\nprint(1)\n'
