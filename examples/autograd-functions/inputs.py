"""The input cases of the autograd-functions course.

Each top-level function without a leading underscore is a case named in ``assignment.toml``: it
takes the case's seeded generator and returns the calls (see ``grader.authoring``). Every random
number is drawn from that generator, so the reference, the wrong variants and the student get
the same inputs in one run, and a run's seed repeats them.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from grader.authoring import Call, size

NEAR_KINKS = [-1e-8, 0.0, 1e-8, 0.5, 1.0 - 1e-8, 1.0, 1.0 + 1e-8, -0.5, 1.5]
TRAINING_EPOCHS = (1, 2, 3)


def sigmoid_random(gen):
    return [Call([torch.randn(size(gen, 5, 30), generator=gen) * 3])]


def sigmoid_matrix(gen):
    return [Call([torch.randn(size(gen, 2, 4), size(gen, 2, 5), generator=gen, dtype=torch.float64) * 4])]


def clipped_random(gen):
    """Values around [0, 1]: some below 0, some inside, some above 1."""
    return [Call([torch.rand(size(gen, 10, 30), generator=gen) * 3 - 1])]


def clipped_near_kinks(gen):
    """x exactly at the kinks 0 and 1, and 1e-8 on either side of them (float64, so that 1 - 1e-8 exists)."""
    values = torch.tensor(NEAR_KINKS, dtype=torch.float64)
    order = torch.randperm(len(NEAR_KINKS), generator=gen)
    return [Call([values[order]], label="x = the values -1e-8, 0, 1e-8, 0.5, 1 - 1e-8, 1, 1 + 1e-8, -0.5, 1.5 "
                                       "(float64, in a random order)")]


def _network_inputs(gen, dtype):
    n, d, k, c = size(gen, 4, 12), size(gen, 2, 5), size(gen, 3, 8), size(gen, 2, 4)
    X = torch.randn(n, d, generator=gen, dtype=dtype)
    y = torch.randint(0, c, (n,), generator=gen)
    W1 = torch.randn(d, k, generator=gen, dtype=dtype)
    b1 = torch.randn(k, generator=gen, dtype=dtype) * 0.5
    W2 = torch.randn(k, c, generator=gen, dtype=dtype)
    b2 = torch.randn(c, generator=gen, dtype=dtype) * 0.5
    return [X, y, W1, b1, W2, b2]


def network_small(gen):
    """Two samples, two features, two hidden units, two classes: small enough to follow by hand."""
    X = torch.tensor([[1.0, -2.0], [0.5, 1.5]])
    y = torch.tensor([0, 1])
    W1 = torch.tensor([[1.0, -1.0], [0.5, 0.25]])
    b1 = torch.tensor([0.1, 0.2])
    W2 = torch.tensor([[1.0, -0.5], [-1.0, 2.0]])
    b2 = torch.tensor([0.0, 0.3])
    return [Call([X, y, W1, b1, W2, b2], label="X = [[1, -2], [0.5, 1.5]], y = [0, 1], W1 = [[1, -1], [0.5, 0.25]], "
                                             "b1 = [0.1, 0.2], W2 = [[1, -0.5], [-1, 2]], b2 = [0, 0.3]")]


def network_random(gen):
    return [Call(_network_inputs(gen, torch.float32))]


def network_random64(gen):
    return [Call(_network_inputs(gen, torch.float64))]


def training_random(gen):
    """A two-layer ReLU network and 24 samples in batches of 8 (in order), trained for 1, 2 and 3 epochs."""
    d, k, c = size(gen, 2, 5), size(gen, 3, 8), size(gen, 2, 4)
    X = torch.randn(24, d, generator=gen)
    y = torch.randint(0, c, (24,), generator=gen)
    dataset = TensorDataset(X, y)
    network = nn.Sequential(nn.Linear(d, k), nn.ReLU(), nn.Linear(k, c))
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=gen) * 0.5)
    lr = 0.5
    return [Call([copy.deepcopy(network), DataLoader(dataset, batch_size=8), epochs, lr],
                 label=f"model = nn.Sequential(Linear({d}, {k}), ReLU(), Linear({k}, {c})), 24 samples in batches "
                       f"of 8, epochs={epochs}, lr={lr}",
                 watch={"the training data in the loader": dataset})
            for epochs in TRAINING_EPOCHS]
