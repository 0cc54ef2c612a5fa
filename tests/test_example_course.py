"""The second course (examples/autograd-functions): references agree with torch, verdicts and named mistakes.

Custom ``torch.autograd.Function``s (``Sigmoid`` with ``save_for_backward``, ``ClippedReLU`` with two
kinks) and a two-layer network (hand-written backprop of a softmax cross-entropy, training an
``nn.Module`` with SGD), graded by the generic engine from the course's own folder.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from examples.variants import build_submission
from grader import answer_key, assignment
from grader.engine import Session
from grader.release import write_bundle
from tests.conftest import ROOT, by_function

COURSE = ROOT / "examples" / "autograd-functions"
SEED = 8128


def _module(path: Path, name: str):
    """Import one of the course's files under a private name (the tests' process never sees 'two_layer')."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example() -> assignment.Assignment:
    return assignment.load(COURSE / "assignment.toml")


@pytest.fixture(scope="module")
def grading(example):
    with Session(example, seed=SEED, sandbox="process") as session:
        yield session


@pytest.fixture(scope="module")
def reference():
    functions = _module(COURSE / "solutions" / "custom_functions.py", "example_course_custom_functions")
    network = _module(COURSE / "solutions" / "two_layer.py", "example_course_two_layer")
    targets = _module(COURSE / "targets.py", "example_course_targets")
    return functions, network, targets


@pytest.fixture
def submit(tmp_path, example, grading):
    """Grade the course's solutions with the given definitions swapped in: ``{"module": {"name": source}}``."""
    def grade(changes: dict[str, dict[str, str]] | None = None):
        folder = tmp_path / f"submission{len(list(tmp_path.glob('submission*')))}"
        return grading.grade(build_submission(example.solutions, folder, changes))
    return grade


# --- the reference solutions against torch ------------------------------------------------------------------


def test_reference_sigmoid_matches_torch_forward_and_backward(reference):
    functions, _, _ = reference
    x = torch.randn(7, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 4
    mine, theirs = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    weights = torch.linspace(0.5, 1.5, x.numel(), dtype=torch.float64).reshape(x.shape)
    (functions.Sigmoid.apply(mine) * weights).sum().backward()
    (torch.sigmoid(theirs) * weights).sum().backward()
    assert torch.allclose(functions.Sigmoid.apply(x), torch.sigmoid(x))
    assert torch.allclose(mine.grad, theirs.grad, rtol=1e-12, atol=1e-14)
    assert torch.autograd.gradcheck(functions.Sigmoid.apply, (x.clone().requires_grad_(True),))


def test_reference_clipped_relu_matches_torch_clamp_away_from_the_kinks(reference):
    functions, _, _ = reference
    x = torch.rand(50, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 3 - 1
    x = x[((x.abs() > 1e-3) & ((x - 1).abs() > 1e-3))]
    mine, theirs = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    functions.ClippedReLU.apply(mine).sum().backward()
    torch.clamp(theirs, 0, 1).sum().backward()
    assert torch.equal(functions.ClippedReLU.apply(x), torch.clamp(x, 0, 1))
    assert torch.equal(mine.grad, theirs.grad)
    assert torch.autograd.gradcheck(functions.ClippedReLU.apply, (x.clone().requires_grad_(True),))
    kinks = torch.tensor([0.0, 1.0], dtype=torch.float64, requires_grad=True)
    functions.ClippedReLU.apply(kinks).sum().backward()
    assert kinks.grad.tolist() == [0.0, 0.0]  # at the kinks the reference takes the outer slope; 1 is right too


def test_reference_two_layer_gradients_equal_autograds(reference):
    _, network, targets = reference
    gen = torch.Generator().manual_seed(2)
    X, W1, b1 = torch.randn(9, 4, generator=gen, dtype=torch.float64), torch.randn(4, 6, generator=gen, dtype=torch.float64), torch.randn(6, generator=gen, dtype=torch.float64)
    W2, b2 = torch.randn(6, 3, generator=gen, dtype=torch.float64), torch.randn(3, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (9,), generator=gen)
    parameters = [p.clone().requires_grad_(True) for p in (W1, b1, W2, b2)]
    hidden = torch.relu(X @ parameters[0] + parameters[1])
    F.cross_entropy(hidden @ parameters[2] + parameters[3], y).backward()
    manual = network.two_layer_gradients(X, y, W1, b1, W2, b2)
    for mine, parameter in zip(manual, parameters):
        assert mine.shape == parameter.shape and torch.allclose(mine, parameter.grad, rtol=1e-10, atol=1e-12)
    target_grads = torch.autograd.grad(targets.two_layer_loss(X, y, *parameters), parameters)
    assert all(torch.allclose(a, b) for a, b in zip(manual, target_grads))


def test_reference_train_trains_the_given_model_with_sgd(reference):
    _, network, _ = reference
    gen = torch.Generator().manual_seed(3)
    X, y = torch.randn(24, 3, generator=gen), torch.randint(0, 2, (24,), generator=gen)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    twin = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    twin.load_state_dict(model.state_dict())
    before = [p for p in model.parameters()]
    losses = network.train(model, DataLoader(TensorDataset(X, y), batch_size=8), 4, 0.3)
    optimizer, expected = torch.optim.SGD(twin.parameters(), lr=0.3), []
    for _ in range(4):
        for start in range(0, 24, 8):
            optimizer.zero_grad()
            loss = F.cross_entropy(twin(X[start:start + 8]), y[start:start + 8])
            loss.backward()
            optimizer.step()
            expected.append(loss.item())
    assert len(losses) == 12 and all(type(loss) is float for loss in losses)
    assert losses == pytest.approx(expected, rel=1e-6)
    assert all(a is b for a, b in zip(before, model.parameters()))
    assert all(torch.allclose(a, b) for a, b in zip(model.state_dict().values(), twin.state_dict().values()))


# --- the course as the engine grades it ---------------------------------------------------------------------


def test_solutions_score_full_and_stubs_zero(grading, example):
    solved = grading.grade(example.solutions)
    assert solved.passed and solved.score == solved.max_score == example.max_score == 17.5
    stubs = grading.grade(example.exercises)
    assert stubs.score == 0 and all(test.not_implemented for test in stubs.tests)


CORRECT = {
    "sigmoid recomputed from the saved input": {"custom_functions": {"Sigmoid": """
        class Sigmoid(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return torch.sigmoid(x)

            @staticmethod
            def backward(ctx, grad_output):
                (x,) = ctx.saved_tensors
                s = torch.sigmoid(x)
                return grad_output * (s - s ** 2)
        """}},
    "sigmoid through exp(-x), saved as an attribute": {"custom_functions": {"Sigmoid": """
        class Sigmoid(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                e = torch.exp(-x)
                out = 1.0 / (1.0 + e)
                ctx.save_for_backward(out)
                return out

            @staticmethod
            def backward(ctx, grad):
                out, = ctx.saved_tensors
                return grad * out * (1.0 - out)
        """}},
    "clipped relu with slope 1 at the kinks (torch.where, masked_fill)": {"custom_functions": {"ClippedReLU": """
        class ClippedReLU(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return torch.where(x < 0, torch.zeros_like(x), torch.where(x > 1, torch.ones_like(x), x))

            @staticmethod
            def backward(ctx, grad_output):
                (x,) = ctx.saved_tensors
                return grad_output.masked_fill((x < 0) | (x > 1), 0.0)
        """}},
    "gradients by log-softmax and scatter": {"two_layer": {"two_layer_gradients": """
        def two_layer_gradients(X, y, W1, b1, W2, b2):
            Z1 = X @ W1 + b1
            H = torch.where(Z1 > 0, Z1, torch.zeros_like(Z1))
            logits = H @ W2 + b2
            P = torch.exp(logits - torch.logsumexp(logits, dim=1, keepdim=True))
            targets = torch.zeros_like(P).scatter_(1, y.unsqueeze(1), 1.0)
            G = (P - targets) / len(y)
            dH = G @ W2.t()
            dZ1 = torch.where(Z1 > 0, dH, torch.zeros_like(dH))
            return X.t() @ dZ1, dZ1.sum(0), H.t() @ G, G.sum(0)
        """}},
    "train with nn.CrossEntropyLoss, zero_grad after step, float(loss)": {"two_layer": {"train": """
        def train(model, loader, epochs, lr):
            criterion = torch.nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=lr)
            history = []
            for epoch in range(epochs):
                for inputs, labels in loader:
                    loss = criterion(model(inputs), labels)
                    loss.backward()
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=False)
                    history.append(float(loss))
                print(f"epoch {epoch}: last loss {history[-1]:.4f}")
            return history
        """}},
}


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_but_different_passes(name, submit):
    result = submit(CORRECT[name])
    failing = [f"{t.name}: {t.message}" for t in result.tests if t.status != "pass"]
    assert not failing and result.score == result.max_score


WRONG = {
    # name: (changes, function, check that must fail, mistake it must name)
    "sigmoid backward missing the output factor": ({"custom_functions": {"Sigmoid": """
        class Sigmoid(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                out = torch.sigmoid(x)
                ctx.save_for_backward(out)
                return out

            @staticmethod
            def backward(ctx, grad_output):
                (out,) = ctx.saved_tensors
                return grad_output * (1 - out)
        """}}, "Sigmoid", "backward", "backward-missing-output-factor"),
    "sigmoid backward from the saved input": ({"custom_functions": {"Sigmoid": """
        class Sigmoid(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return 1 / (1 + torch.exp(-x))

            @staticmethod
            def backward(ctx, grad_output):
                (s,) = ctx.saved_tensors
                return grad_output * s * (1 - s)
        """}}, "Sigmoid", "backward", "saved-input-not-output"),
    "sigmoid backward ignoring grad_output": ({"custom_functions": {"Sigmoid": """
        class Sigmoid(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                out = torch.sigmoid(x)
                ctx.save_for_backward(out)
                return out

            @staticmethod
            def backward(ctx, grad_output):
                (out,) = ctx.saved_tensors
                return out * (1 - out)
        """}}, "Sigmoid", "backward", "backward-ignores-grad-output"),
    "clipped relu with the relu's slope above 1": ({"custom_functions": {"ClippedReLU": """
        class ClippedReLU(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return torch.clamp(x, 0, 1)

            @staticmethod
            def backward(ctx, grad_output):
                (x,) = ctx.saved_tensors
                return grad_output * (x > 0).double().to(grad_output.dtype)
        """}}, "ClippedReLU", "backward", "clamp-upper-bound-ignored"),
    "gradients with one_hot - softmax": ({"two_layer": {"two_layer_gradients": """
        def two_layer_gradients(X, y, W1, b1, W2, b2):
            Z1 = X @ W1 + b1
            H = torch.relu(Z1)
            P = torch.softmax(H @ W2 + b2, dim=1)
            G = (F.one_hot(y, P.shape[1]).to(P.dtype) - P) / X.shape[0]
            dZ1 = (G @ W2.T) * (Z1 > 0)
            return X.T @ dZ1, dZ1.sum(0), H.T @ G, G.sum(0)
        """}}, "two_layer_gradients", "returns", "softmax-gradient-sign-flipped"),
    "gradients of the summed loss": ({"two_layer": {"two_layer_gradients": """
        def two_layer_gradients(X, y, W1, b1, W2, b2):
            Z1 = X @ W1 + b1
            H = torch.relu(Z1)
            G = torch.softmax(H @ W2 + b2, dim=1) - F.one_hot(y, W2.shape[1]).to(X.dtype)
            dZ1 = (G @ W2.T) * (Z1 > 0)
            return X.T @ dZ1, dZ1.sum(0), H.T @ G, G.sum(0)
        """}}, "two_layer_gradients", "returns", "sum-instead-of-mean"),
    "gradients straight through the relu": ({"two_layer": {"two_layer_gradients": """
        def two_layer_gradients(X, y, W1, b1, W2, b2):
            H = torch.relu(X @ W1 + b1)
            G = (torch.softmax(H @ W2 + b2, dim=1) - F.one_hot(y, W2.shape[1]).to(X.dtype)) / len(X)
            dZ1 = G @ W2.T
            return X.T @ dZ1, dZ1.sum(0), H.T @ G, G.sum(0)
        """}}, "two_layer_gradients", "returns", "missing-relu-derivative"),
    "gradients by autograd": ({"two_layer": {"two_layer_gradients": """
        def two_layer_gradients(X, y, W1, b1, W2, b2):
            params = [p.detach().clone().requires_grad_(True) for p in (W1, b1, W2, b2)]
            loss = F.cross_entropy(torch.relu(X @ params[0] + params[1]) @ params[2] + params[3], y)
            return tuple(torch.autograd.grad(loss, params))
        """}}, "two_layer_gradients", "no-autograd", "autograd-in-manual-gradient"),
    "train trains a copy": ({"two_layer": {"train": """
        def train(model, loader, epochs, lr):
            import copy
            model = copy.deepcopy(model)
            optimizer = torch.optim.SGD(model.parameters(), lr=lr)
            losses = []
            for _ in range(epochs):
                for X, y in loader:
                    optimizer.zero_grad()
                    loss = F.cross_entropy(model(X), y)
                    loss.backward()
                    optimizer.step()
                    losses.append(loss.item())
            return losses
        """}}, "train", "training", "trains-a-copy"),
    "train never zeroes the gradients": ({"two_layer": {"train": """
        def train(model, loader, epochs, lr):
            optimizer = torch.optim.SGD(model.parameters(), lr=lr)
            losses = []
            for _ in range(epochs):
                for X, y in loader:
                    loss = F.cross_entropy(model(X), y)
                    loss.backward()
                    optimizer.step()
                    losses.append(loss.item())
            return losses
        """}}, "train", "training", "grad-accumulation"),
    "train emptying the gradients once per epoch": ({"two_layer": {"train": """
        def train(model, loader, epochs, lr):
            optimizer = torch.optim.SGD(model.parameters(), lr=lr)
            losses = []
            for _ in range(epochs):
                optimizer.zero_grad()
                for X, y in loader:
                    loss = F.cross_entropy(model(X), y)
                    loss.backward()
                    optimizer.step()
                    losses.append(loss.item())
            return losses
        """}}, "train", "training", "grad-accumulation"),  # the never-emptied variant's first epoch, not its later ones
    "train replacing the parameters": ({"two_layer": {"train": """
        def train(model, loader, epochs, lr):
            losses = []
            for _ in range(epochs):
                for X, y in loader:
                    loss = F.cross_entropy(model(X), y)
                    loss.backward()
                    with torch.no_grad():
                        for module in model.modules():
                            for name, p in list(module.named_parameters(recurse=False)):
                                setattr(module, name, torch.nn.Parameter(p - lr * p.grad))
                    losses.append(loss.item())
            return losses
        """}}, "train", "leaf-parameters", "non-leaf-update"),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_variant_fails_its_check_with_its_mistake(name, submit):
    changes, function, check, mistake = WRONG[name]
    result = submit(changes)
    caught = [t for t in by_function(result, function) if t.check == check]
    assert caught and caught[0].status != "pass", f"{function} {check} passed"
    assert caught[0].mistake == mistake, caught[0].message
    assert caught[0].score == 0 and caught[0].hint
    others = [f"{t.name}: {t.message}" for t in result.tests if t.function != function and t.status != "pass"]
    assert not others


def test_wrong_custom_backward_says_backward_and_which_input(submit):
    changes, *_ = WRONG["sigmoid backward missing the output factor"]
    result = submit(changes)
    returns, unchanged, backward = by_function(result, "Sigmoid")
    assert returns.status == unchanged.status == "pass"  # the forward is right
    assert backward.status == "fail" and backward.mistake == "backward-missing-output-factor"
    assert "the gradient your backward gives for input x differs from central finite differences" in backward.message
    assert any(line.startswith("diagnosis: backward-missing-output-factor: ") for line in backward.details)


def test_a_mistake_hint_is_worded_for_its_function(submit, example):
    changes, *_ = WRONG["sigmoid backward ignoring grad_output"]
    (backward,) = [t for t in by_function(submit(changes), "Sigmoid") if t.check == "backward"]
    assert backward.hint == example.function("Sigmoid").hints["backward-ignores-grad-output"]


def test_training_a_copy_says_the_model_is_unchanged(submit):
    changes, *_ = WRONG["train trains a copy"]
    training, leaves = by_function(submit(changes), "train")
    assert training.status == "fail" and "model after the call" in training.message
    assert leaves.status == "pass"


NEAR_KINK = {
    # a correct backward whatever slope it takes exactly at 0 and 1: must pass
    "slope 1 at the kinks": ("(x >= 0) & (x <= 1)", True),
    "slope 0 at 0, 1 at 1": ("(x > 0) & (x <= 1)", True),
    # a backward whose slope is wrong 1e-8 away from a kink: must fail
    "a margin of 1e-6 inside the kinks": ("(x > 1e-6) & (x < 1 - 1e-6)", False),
    "a margin of 1e-6 outside the kinks": ("(x > -1e-6) & (x < 1 + 1e-6)", False),
}


@pytest.mark.parametrize("name", sorted(NEAR_KINK))
def test_clipped_relu_near_its_kinks(name, submit):
    mask, right = NEAR_KINK[name]
    result = submit({"custom_functions": {"ClippedReLU": f"""
        class ClippedReLU(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x.clamp(0, 1)

            @staticmethod
            def backward(ctx, grad_output):
                (x,) = ctx.saved_tensors
                return grad_output * ({mask}).to(grad_output.dtype)
        """}})
    returns, unchanged, backward = by_function(result, "ClippedReLU")
    assert returns.status == unchanged.status == "pass"
    if right:
        assert backward.status == "pass", backward.message
        return
    assert backward.status == "fail" and backward.mistake == "wrong-backward"
    assert "1e-8" in backward.message  # the near-kink case, by its label
    assert "the gradient your backward gives for input x" in backward.message


# --- the student release ------------------------------------------------------------------------------------


def test_release_bundle_checks_a_correct_submission_as_passing(example, tmp_path):
    bundle = write_bundle(example, tmp_path / "bundle", [SEED])
    assert not (bundle / "solutions").exists() and not (bundle / "mistakes").exists()
    assert (bundle / "inputs.py").is_file() and not (bundle / "targets.py").exists()
    released = assignment.load(bundle / "assignment.toml")
    assert not released.has_solutions and released.max_score == example.max_score
    key = answer_key.load(bundle / "answer-key.json")
    changes, *_ = WRONG["train trains a copy"]
    with Session(released, seed=SEED, sandbox="process", key=key) as from_key:
        solved = from_key.grade(build_submission(example.solutions, tmp_path / "right", CORRECT["gradients by log-softmax and scatter"]))
        copied = from_key.grade(build_submission(example.solutions, tmp_path / "copy", changes))
        stubs = from_key.grade(bundle / "exercises")
    assert solved.passed and solved.score == solved.max_score, [t.message for t in solved.tests if t.status != "pass"]
    (training,) = [t for t in by_function(copied, "train") if t.check == "training"]
    assert training.mistake == "trains-a-copy"
    assert stubs.score == 0
