"""The input cases of the learning-and-autograd course: the lecture's 12 samples and random ones.

Each top-level function without a leading underscore is a case named in ``assignment.toml``:
it takes the case's seeded generator and returns the calls (see ``grader.authoring``).
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import DataLoader, Dataset

from grader.authoring import Call, size

# The lecture's 12 samples, one per row: temperature, humidity, and the target before scaling.
# (Public: they are on the lecture's data slide. The student's SimpleDataset must hold them too.)
_LECTURE_SAMPLES = (
    (0.5, 0.9, 35.7), (14.0, 12.0, 55.9), (15.0, 13.6, 58.2), (28.0, 22.8, 81.9),
    (11.0, 8.1, 56.3), (8.0, 7.1, 48.9), (3.0, 2.9, 33.9), (-4.0, 0.1, 21.8),
    (6.0, 5.3, 48.4), (13.0, 12.0, 60.4), (21.0, 19.9, 68.4), (-1.0, 1.5, 29.1),
)
TRAINING_EPOCHS = (1, 2, 3, 12)


class _PairDataset(Dataset):
    """The training data of the loaders: items are dicts with an input and a target."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor):
        self.X, self.y = X, y

    def __len__(self) -> int:
        return self.X.shape[0]

    def __getitem__(self, idx):
        return dict(input=self.X[idx], target=self.y[idx])


def _lecture_data(dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """The lecture's X (12, 2) and scaled y (12,)."""
    samples = torch.tensor(_LECTURE_SAMPLES, dtype=dtype)
    return samples[:, :2], samples[:, 2] * 0.01


def _neuron_inputs(gen: torch.Generator, dtype=torch.float32, features: int | None = None):
    n, f = size(gen, 5, 30), features or size(gen, 1, 5)
    X = torch.randn(n, f, generator=gen, dtype=dtype) * 2
    W = torch.randn(f, generator=gen, dtype=dtype) * 0.5
    b = torch.randn(1, generator=gen, dtype=dtype) * 0.5
    y = torch.rand(n, generator=gen, dtype=dtype)
    return X, W, b, y


def sigmoid_lecture(gen):
    X, _ = _lecture_data()
    return [Call([X.sum(dim=1)], label="u = X.sum(dim=1) of the lecture's X")]


def sigmoid_random(gen):
    return [Call([torch.randn(size(gen, 5, 30), generator=gen) * 3])]


def sigmoid_random64(gen):
    return [Call([torch.randn(size(gen, 5, 30), generator=gen, dtype=torch.float64) * 3])]


def model_lecture(gen):
    X, _ = _lecture_data()
    return [Call([X, torch.ones(2), torch.zeros(1)], label="the lecture's X, W = ones(2), b = zeros(1)")]


def model_random(gen):
    X, W, b, _ = _neuron_inputs(gen)
    return [Call([X, W, b])]


def loss_lecture(gen):
    X, y = _lecture_data()
    return [Call([torch.sigmoid(X.sum(dim=1)), y], label="the lecture's y_pred and scaled y")]


def loss_random(gen):
    n = size(gen, 5, 30)
    return [Call([torch.rand(n, generator=gen), torch.rand(n, generator=gen)])]


def gradient_lecture(gen):
    X, y = _lecture_data()
    return [Call([torch.ones(2), torch.zeros(1), X, y], label="W = ones(2), b = zeros(1), the lecture's X and y")]


def gradient_random(gen):
    X, W, b, y = _neuron_inputs(gen)
    return [Call([W, b, X, y])]


def gradient_random64(gen):
    X, W, b, y = _neuron_inputs(gen, dtype=torch.float64)
    return [Call([W, b, X, y])]


def derivative_cubic(gen):
    return [Call([lambda x: x ** 3 - 2 * x, 1.3], label="f = lambda x: x ** 3 - 2 * x, x = 1.3")]


def derivative_sine(gen):
    return [Call([math.sin, 0.7], label="f = math.sin, x = 0.7")]


def derivative_custom_h(gen):
    return [Call([math.exp, 0.5], {"h": 1e-3}, label="f = math.exp, x = 0.5, h = 1e-3")]


def backward_lecture(gen):
    return [Call([-2, 5, -4], label="x = -2, y = 5, z = -4")]


def backward_random(gen):
    return [Call([float(v) for v in torch.randint(-9, 10, (3,), generator=gen)])]


def _training_calls(X, y, W, b, requires_grad, learning_rate, batch_size=None, extra=()):
    calls = []
    dataset = _PairDataset(X, y)
    for epochs in TRAINING_EPOCHS:
        loader = DataLoader(dataset, batch_size=batch_size or len(dataset))
        W0 = W.clone().requires_grad_(requires_grad)
        b0 = b.clone().requires_grad_(requires_grad)
        calls.append(Call([W0, b0, loader, *extra], {"max_epochs": epochs, "learning_rate": learning_rate},
                          label=f"max_epochs={epochs}", watch={"the training data in the loader": dataset}))
    return calls


def _lecture_training(requires_grad):
    X, y = _lecture_data()
    return _training_calls(X, y, torch.ones(2), torch.zeros(1), requires_grad, 0.01)


def _random_training(gen, requires_grad):
    X, W, b, y = _neuron_inputs(gen, features=2)  # the lecture's progress line prints w0 and w1
    return _training_calls(X, y, W, b, requires_grad, 0.5)


def train_lecture(gen):
    return _lecture_training(False)


def train_random(gen):
    return _random_training(gen, False)


def train_lecture_leaf(gen):
    return _lecture_training(True)


def train_random_leaf(gen):
    return _random_training(gen, True)


def accumulate_4x3(gen):
    X, y = _lecture_data()
    return _training_calls(X, y, torch.ones(2), torch.zeros(1), True, 0.01, batch_size=4, extra=(3,))


def accumulate_random(gen):
    X, W, b, y = _neuron_inputs(gen, features=2)
    X, y = X.repeat(2, 1)[:12], y.repeat(2)[:12]
    return _training_calls(X, y, W, b, True, 0.5, batch_size=3, extra=(2,))


def track_lecture(gen):
    return [Call([torch.ones(3, requires_grad=True)], label="w = torch.ones(3, requires_grad=True)")]


def track_random(gen):
    return [Call([torch.randn(size(gen, 2, 6), generator=gen).requires_grad_(True)])]


def plain_matrix(gen):
    return [Call([torch.randn(2, 2, generator=gen)], label="a = torch.randn(2, 2)")]


def leaf_matrix(gen):
    return [Call([torch.randn(2, 2, generator=gen).requires_grad_(True)],
                 label="a = torch.randn(2, 2, requires_grad=True)")]


def descend_lecture(gen):
    return [Call([torch.ones(4, requires_grad=True)], label="weights = torch.ones(4, requires_grad=True)")]


def descend_random(gen):
    weights = torch.randn(size(gen, 2, 6), generator=gen).requires_grad_(True)
    return [Call([weights], {"epochs": 4, "learning_rate": 0.05})]
