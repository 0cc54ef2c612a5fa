"""The scalar functions whose finite differences the gradient checks of this course compare with.

Kept from students like the solutions (``autograde release`` does not ship it). Each takes the
arguments of the checked call and returns a scalar tensor; ``wrt`` in ``assignment.toml`` names
the arguments to differentiate.
"""

import torch


def sum_of_sigmoid(z):
    """Its gradient with respect to z is the elementwise derivative of the sigmoid."""
    return torch.sigmoid(z).sum()


def mse_of_sigmoid_neuron(W, b, X, y):
    """The lecture's loss of one neuron, as a function of its parameters."""
    return torch.mean((torch.sigmoid(X @ W + b) - y) ** 2)
