"""The scalar functions whose finite differences the gradient checks of this course compare with.

Kept from students like the solutions (``autograde release`` does not ship it). Each takes the
arguments of the checked call and returns a scalar tensor; ``wrt`` in ``assignment.toml`` names
the arguments to differentiate.
"""

import torch
import torch.nn.functional as F


def two_layer_loss(X, y, W1, b1, W2, b2):
    """The mean softmax cross-entropy of the two-layer ReLU network."""
    return F.cross_entropy(torch.relu(X @ W1 + b1) @ W2 + b2, y)
