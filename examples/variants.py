"""Known-right and known-wrong student code: swapped into copies of the reference solutions.

Shared by the tests, the class generator of the benchmarks and the shipped example class.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from grader import pyparse


def replace_function(source: str, name: str, replacement: str) -> str:
    """``source`` with the top-level definition ``name`` replaced by ``replacement``."""
    tree = pyparse.parse(source)  # the grading process parses one thread at a time (python/cpython#106905)
    node = next(n for n in tree.body if getattr(n, "name", None) == name)
    lines = source.splitlines(keepends=True)
    start = node.lineno - 1 - len(node.decorator_list)
    return "".join(lines[:start]) + textwrap.dedent(replacement).strip() + "\n" + "".join(lines[node.end_lineno:])


def build_submission(solutions: Path, folder: Path, changes: dict[str, dict[str, str]] | None = None) -> Path:
    """Copy the reference solutions into ``folder`` and swap in ``{"module": {"name": source}}``."""
    shutil.copytree(solutions, folder, ignore=shutil.ignore_patterns("__pycache__"))
    for module, definitions in (changes or {}).items():
        path = folder / f"{module}.py"
        source = path.read_text()
        for name, replacement in definitions.items():
            source = replace_function(source, name, replacement)
        path.write_text(source)
    return folder


CORRECT_VARIANTS = {
    "matmul model": {"neuron": {"model": """
        def model(X, W, b):
            return torch.sigmoid(X @ W + b)
        """}},
    "explicit sigmoid": {"neuron": {"activate": """
        def activate(u):
            return 1 / (1 + torch.exp(-u))
        """}},
    "F.mse_loss": {"neuron": {"loss_fn": """
        def loss_fn(y_pred, y):
            import torch.nn.functional as F
            return F.mse_loss(y_pred, y)
        """}},
    "gradient by matmul": {"backprop": {"gradient": """
        def gradient(W, b, X, y):
            z = X @ W + b
            s = 1 / (1 + torch.exp(-z))
            delta = 2 * (s - y) * s * (1 - s) / len(y)
            return X.T @ delta, delta.sum().reshape(1)
        """}},
    "zero_ instead of None, printing": {"autograd_loop": {"learn_autograd": """
        def learn_autograd(W, b, train_data_loader, max_epochs=20_000, learning_rate=0.01):
            for epoch in range(max_epochs):
                for batch in train_data_loader:
                    loss = loss_fn(model(batch["input"], W, b), batch["target"])
                    loss.backward()
                    print("epoch", epoch, "loss", loss.item())
                    with torch.no_grad():
                        W -= learning_rate * W.grad
                        b -= learning_rate * b.grad
                    W.grad.zero_()
                    b.grad.zero_()
            return W, b
        """}},
    "optimizer re-created each step, zero before backward": {"autograd_loop": {"learn_sgd": """
        def learn_sgd(W, b, train_data_loader, max_epochs=20_000, learning_rate=0.01):
            for epoch in range(max_epochs):
                optimizer = torch.optim.SGD([W, b], lr=learning_rate)
                optimizer.zero_grad()
                batch = next(iter(train_data_loader))
                loss_fn(model(batch["input"], W, b), batch["target"]).backward()
                optimizer.step()
            return W, b
        """}},
    "numerical derivative written out": {"backprop": {"numerical_derivative": """
        def numerical_derivative(f, x, h=1e-4):
            forward, backward_ = f(x + h), f(x - h)
            return (forward - backward_) / h / 2
        """}},
    "sum of squares over the list of items": {"autograd_basics": {"descend_weights": """
        def descend_weights(weights, epochs=3, learning_rate=0.1):
            history = []
            for _ in range(epochs):
                weights.grad = None
                out = torch.sum(3 * weights)
                history.append(float(out))
                out.backward()
                with torch.no_grad():
                    weights.sub_(learning_rate * weights.grad)
            return history + [float(torch.sum(3 * weights))]
        """}},
}

# right, and many times slower than the reference (Python loops over the samples): never timed out
SLOW_CORRECT_VARIANTS = {
    "model sample by sample": {"neuron": {"model": """
        def model(X, W, b):
            return torch.stack([activate(sum(X[i, j] * W[j] for j in range(len(W))) + b[0]) for i in range(len(X))])
        """}},
    "loss by a Python sum": {"neuron": {"loss_fn": """
        def loss_fn(y_pred, y):
            total = 0.0
            for i in range(len(y)):
                total = total + (y_pred[i] - y[i]) ** 2
            return total / len(y)
        """}},
    "gradient sample by sample": {"backprop": {"gradient": """
        def gradient(W, b, X, y):
            W_grad, b_grad = torch.zeros_like(W), torch.zeros_like(b)
            for i in range(len(y)):
                z = torch.sum(X[i] * W) + b
                s = 1 / (1 + torch.exp(-z))
                delta = 2 * (s - y[i]) * s * (1 - s)
                W_grad = W_grad + delta * X[i]
                b_grad = b_grad + delta
            return W_grad / len(y), b_grad / len(y)
        """}},
}


def _dataset(row_7: str, scale: str) -> str:
    """A complete SimpleDataset with the given row 7 of X and scaling of y."""
    return f"""
        class SimpleDataset(Dataset):
            def __init__(self):
                self.X = torch.tensor([[0.5, 0.9], [14.0, 12.0], [15.0, 13.6], [28.0, 22.8], [11.0, 8.1], [8.0, 7.1],
                                       [3.0, 2.9], {row_7}, [6.0, 5.3], [13.0, 12.0], [21.0, 19.9], [-1.0, 1.5]])
                self.y = torch.tensor([35.7, 55.9, 58.2, 81.9, 56.3, 48.9, 33.9, 21.8, 48.4, 60.4, 68.4, 29.1]){scale}
            def __len__(self):
                return len(self.X)
            def __getitem__(self, idx):
                return {{"input": self.X[idx], "target": self.y[idx]}}
            def __str__(self):
                return "Data Size: {{0}}, Input Shape: {{1}}, Target Shape: {{2}}".format(len(self.X), self.X.shape, self.y.shape)
        """


WRONG_VARIANTS = {
    # id: (changes, function, check kind that must catch it, mistake id)
    "loss sum": ({"neuron": {"loss_fn": """
        def loss_fn(y_pred, y):
            return ((y_pred - y) ** 2).sum()
        """}}, "loss_fn", "returns", "sum-instead-of-mean"),
    "loss not squared": ({"neuron": {"loss_fn": """
        def loss_fn(y_pred, y):
            return torch.sum(y_pred - y) / len(y)
        """}}, "loss_fn", "returns", "missing-square"),
    "gradient sum": ({"backprop": {"gradient": """
        def gradient(W, b, X, y):
            s = model(X, W, b)
            d = (2 * (s - y) * s * (1 - s)).unsqueeze(-1)
            return (d * X).sum(dim=0), d.sum(dim=0)
        """}}, "gradient", "returns", "sum-instead-of-mean"),
    "gradient factor 2": ({"backprop": {"gradient": """
        def gradient(W, b, X, y):
            s = model(X, W, b)
            d = ((s - y) * s * (1 - s)).unsqueeze(-1)
            return (d * X).mean(dim=0), d.mean(dim=0)
        """}}, "gradient", "finite-difference", "missing-factor-2"),
    "gradient wrong sigmoid derivative": ({"backprop": {"gradient": """
        def gradient(W, b, X, y):
            z = torch.sum(X * W, dim=1) + b
            d = (2 * (model(X, W, b) - y) * z * (1 - z)).unsqueeze(-1)
            return (d * X).mean(dim=0), d.mean(dim=0)
        """}}, "gradient", "returns", "wrong-sigmoid-derivative"),
    "sigmoid derivative": ({"backprop": {"sigmoid_derivative": """
        def sigmoid_derivative(z):
            return torch.sigmoid(z)
        """}}, "sigmoid_derivative", "returns", "wrong-sigmoid-derivative"),
    "autograd in gradient": ({"backprop": {"gradient": """
        def gradient(W, b, X, y):
            W = W.detach().clone().requires_grad_(True)
            b = b.detach().clone().requires_grad_(True)
            loss_fn(model(X, W, b), y).backward()
            return W.grad, b.grad
        """}}, "gradient", "no-autograd", "autograd-in-manual-gradient"),
    "no return": ({"backprop": {"learn": """
        def learn(W, b, train_data_loader, max_epochs=20_000, learning_rate=0.01):
            for epoch in range(max_epochs):
                batch = next(iter(train_data_loader))
                W_grad, b_grad = gradient(W, b, batch["input"], batch["target"])
                W = W - learning_rate * W_grad
                b = b - learning_rate * b_grad
        """}}, "learn", "training", "no-return"),
    "ascent": ({"backprop": {"learn": """
        def learn(W, b, train_data_loader, max_epochs=20_000, learning_rate=0.01):
            for epoch in range(max_epochs):
                batch = next(iter(train_data_loader))
                W_grad, b_grad = gradient(W, b, batch["input"], batch["target"])
                W = W + learning_rate * W_grad
                b = b + learning_rate * b_grad
            return W, b
        """}}, "learn", "training", "gradient-ascent"),
    "never zeroed": ({"autograd_loop": {"learn_autograd": """
        def learn_autograd(W, b, train_data_loader, max_epochs=20_000, learning_rate=0.01):
            for epoch in range(max_epochs):
                batch = next(iter(train_data_loader))
                loss_fn(model(batch["input"], W, b), batch["target"]).backward()
                with torch.no_grad():
                    W -= learning_rate * W.grad
                    b -= learning_rate * b.grad
            return W, b
        """}}, "learn_autograd", "training", "grad-accumulation"),
    "zero_grad before step": ({"autograd_loop": {"learn_sgd": """
        def learn_sgd(W, b, train_data_loader, max_epochs=20_000, learning_rate=0.01):
            optimizer = torch.optim.SGD([W, b], lr=learning_rate)
            for epoch in range(max_epochs):
                batch = next(iter(train_data_loader))
                loss_fn(model(batch["input"], W, b), batch["target"]).backward()
                optimizer.zero_grad()
                optimizer.step()
            return W, b
        """}}, "learn_sgd", "training", "zero-grad-before-step"),
    "non-leaf update": ({"autograd_loop": {"learn_autograd": """
        def learn_autograd(W, b, train_data_loader, max_epochs=20_000, learning_rate=0.01):
            for epoch in range(max_epochs):
                batch = next(iter(train_data_loader))
                loss_fn(model(batch["input"], W, b), batch["target"]).backward()
                W = W - learning_rate * W.grad
                b = b - learning_rate * b.grad
            return W, b
        """}}, "learn_autograd", "training", "non-leaf-update"),
    "unscaled target": ({"neuron": {"SimpleDataset": _dataset(row_7="[-4.0, 0.1]", scale="")}},
                        "SimpleDataset", "dataset", "unscaled-target"),
    "lecture typo": ({"neuron": {"SimpleDataset": _dataset(row_7="[4.0, 0.1]", scale=" * 0.01")}},
                     "SimpleDataset", "dataset", "lecture-typo-row-7"),
    "mutated input": ({"neuron": {"model": """
        def model(X, W, b):
            X *= W
            return torch.sigmoid(X.sum(dim=1) + b)
        """}}, "model", "inputs-unchanged", "input-mutated"),
    "endless loop": ({"autograd_basics": {"detached": """
        def detached(a):
            while True:
                pass
        """}}, "detached", "returns", "timeout"),
    "accumulation not scaled": ({"autograd_loop": {"learn_accumulate": """
        def learn_accumulate(W, b, train_data_loader, accumulation_steps, max_epochs=20_000, learning_rate=0.01):
            optimizer = torch.optim.SGD([W, b], lr=learning_rate)
            for epoch in range(max_epochs):
                for step, batch in enumerate(train_data_loader, start=1):
                    loss_fn(model(batch["input"], W, b), batch["target"]).backward()
                    if step % accumulation_steps == 0:
                        optimizer.step()
                        optimizer.zero_grad()
            return W, b
        """}}, "learn_accumulate", "training", "accumulation-not-scaled"),
    "graph broken by item": ({"neuron": {"loss_fn": """
        def loss_fn(y_pred, y):
            return torch.tensor(((y_pred - y) ** 2).mean().item())
        """}}, "loss_fn", "differentiable", "graph-broken"),
}


MEASURED_VARIANTS = {
    # Wrong code that no shipped variant gives: named from measurements against the reference alone.
    # id: (changes, function, check kind that must catch it, mistake id)
    "sigmoid derivative s * (1 + s)": ({"backprop": {"sigmoid_derivative": """
        def sigmoid_derivative(z):
            s = activate(z)
            return s * (1 + s)
        """}}, "sigmoid_derivative", "finite-difference", "wrong-sigmoid-derivative"),
    "b_grad alone summed": ({"backprop": {"gradient": """
        def gradient(W, b, X, y):
            s = model(X, W, b)
            d = (2 * (s - y) * s * (1 - s)).unsqueeze(-1)
            return (d * X).mean(dim=0), d.sum(dim=0)
        """}}, "gradient", "returns", "sum-instead-of-mean"),
    "W_grad alone without its 2": ({"backprop": {"gradient": """
        def gradient(W, b, X, y):
            s = model(X, W, b)
            d = ((s - y) * s * (1 - s)).unsqueeze(-1)
            return (d * X).mean(dim=0), 2 * d.mean(dim=0)
        """}}, "gradient", "finite-difference", "missing-factor-2"),
    "model returns a column": ({"neuron": {"model": """
        def model(X, W, b):
            return torch.sigmoid((X @ W).unsqueeze(1) + b)
        """}}, "model", "returns", "broadcast-shape"),
    "loss broadcast to (N, N)": ({"neuron": {"loss_fn": """
        def loss_fn(y_pred, y):
            return ((y_pred.reshape(-1, 1) - y) ** 2).mean()
        """}}, "loss_fn", "returns", "broadcast-shape"),
    "backward arguments swapped": ({"backprop": {"backward": """
        def backward(z, y, x):
            q = x + y
            return z * 1.0, z * 1.0, q
        """}}, "backward", "returns", "swapped-arguments"),
    "square_sum_gradient transposed": ({"autograd_basics": {"square_sum_gradient": """
        def square_sum_gradient(a):
            return 2 * a.T
        """}}, "square_sum_gradient", "returns", "transposed-result"),
    "learning rate doubled": ({"backprop": {"learn": """
        def learn(W, b, train_data_loader, max_epochs=20_000, learning_rate=0.01):
            for epoch in range(max_epochs):
                batch = next(iter(train_data_loader))
                W_grad, b_grad = gradient(W, b, batch["input"], batch["target"])
                W = W - 2 * learning_rate * W_grad
                b = b - 2 * learning_rate * b_grad
            return W, b
        """}}, "learn", "training", "scaled-step"),
    "learn never updates": ({"backprop": {"learn": """
        def learn(W, b, train_data_loader, max_epochs=20_000, learning_rate=0.01):
            for epoch in range(max_epochs):
                batch = next(iter(train_data_loader))
                W_grad, b_grad = gradient(W, b, batch["input"], batch["target"])
            return W, b
        """}}, "learn", "training", "no-update"),
    "learn sums its gradients": ({"backprop": {"learn": """
        def learn(W, b, train_data_loader, max_epochs=20_000, learning_rate=0.01):
            W_total, b_total = torch.zeros_like(W), torch.zeros_like(b)
            for epoch in range(max_epochs):
                batch = next(iter(train_data_loader))
                W_grad, b_grad = gradient(W, b, batch["input"], batch["target"])
                W_total, b_total = W_total + W_grad, b_total + b_grad
                W = W - learning_rate * W_total
                b = b - learning_rate * b_total
            return W, b
        """}}, "learn", "training", "accumulated-steps"),
    "learning rate applied twice": ({"autograd_loop": {"learn_autograd": """
        def learn_autograd(W, b, train_data_loader, max_epochs=20_000, learning_rate=0.01):
            for epoch in range(max_epochs):
                for batch in train_data_loader:
                    loss_fn(model(batch["input"], W, b), batch["target"]).backward()
                    with torch.no_grad():
                        W -= learning_rate * (learning_rate * W.grad)
                        b -= learning_rate * (learning_rate * b.grad)
                    W.grad = None
                    b.grad = None
            return W, b
        """}}, "learn_autograd", "training", "scaled-step"),  # too few float32 units to measure on the lecture call
    "accumulation emptied before its step": ({"autograd_loop": {"learn_accumulate": """
        def learn_accumulate(W, b, train_data_loader, accumulation_steps, max_epochs=20_000, learning_rate=0.01):
            optimizer = torch.optim.SGD([W, b], lr=learning_rate)
            for epoch in range(max_epochs):
                for step, batch in enumerate(train_data_loader, start=1):
                    (loss_fn(model(batch["input"], W, b), batch["target"]) / accumulation_steps).backward()
                    if step % accumulation_steps == 0:
                        optimizer.zero_grad()
                        optimizer.step()
            return W, b
        """}}, "learn_accumulate", "training", "no-update"),
}
