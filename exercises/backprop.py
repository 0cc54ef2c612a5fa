"""Numerical differentiation, the chain rule and backpropagation by hand (lecture: "Backpropagation").

Nothing in this module may use autograd: no ``requires_grad``, ``backward()`` or
``torch.autograd``. The grader runs ``gradient`` with autograd switched off.
"""

import torch
from torch.utils.data import DataLoader

from neuron import SimpleDataset, activate, device, loss_fn, model


def numerical_derivative(f, x, h=1e-4):
    """Central difference ``(f(x + h) - f(x - h)) / (2 * h)`` of a scalar function ``f`` at ``x``.

    Returns a number (or a 0-d tensor when ``f`` returns tensors).
    """
    raise NotImplementedError("the lecture's second formula: f'(x) ~ (f(x + dx) - f(x - dx)) / (2 * dx)")


def backward(x, y, z):
    """Backpropagation through ``f = (x + y) * z`` by the chain rule (``q = x + y``, ``f = q * z``).

    Returns the tuple ``(df_dx, df_dy, df_dz)``; ``backward(-2, 5, -4) == (-4, -4, 3)``.
    """
    raise NotImplementedError('q = x + y and f = q * z: df/dz = q, df/dx = df/dy = z')


def sigmoid_derivative(z):
    """The derivative of the sigmoid, ``sigma(z) * (1 - sigma(z))``, element-wise; same shape as ``z``."""
    raise NotImplementedError("derive 1 / (1 + exp(-z)) by the chain rule; the lecture's result uses sigma(z) twice")


def gradient(W, b, X, y):
    """The gradient of the MSE loss of ``model(X, W, b)`` against ``y``, by the chain rule, by hand.

    W: (F,), b: (1,), X: (N, F), y: (N,). Returns ``(W_grad, b_grad)`` with shapes (F,) and (1,):
    the mean over the N samples of ``2 * (y_pred - y) * sigma'(z) * x`` (and ``* 1.0`` for b).
    No autograd.
    """
    raise NotImplementedError('dl/dy_pred = 2 * (y_pred - y); dsigma/dz = sigma(z) * (1 - sigma(z)); dz/dW = X, dz/db = 1')


def learn(W, b, train_data_loader, max_epochs=20_000, learning_rate=0.01):
    """Gradient descent with ``gradient``: ``max_epochs`` steps of ``W -= lr * W_grad``, ``b -= lr * b_grad``.

    Each epoch takes one batch (``batch["input"]``, ``batch["target"]``) from the loader.
    Returns the trained ``(W, b)``.
    """
    raise NotImplementedError('each epoch: one batch, gradient(...), then W = W - learning_rate * W_grad (same for b)')


def main():
    """Train the neuron by hand-written backpropagation, as in the lecture."""
    W = torch.ones((2,), device=device)
    b = torch.zeros((1,), device=device)
    simple_dataset = SimpleDataset()
    train_data_loader = DataLoader(dataset=simple_dataset, batch_size=len(simple_dataset))
    print(backward(x=-2, y=5, z=-4))
    W, b = learn(W, b, train_data_loader, max_epochs=2_000)
    print("W:", W, "b:", b)


if __name__ == "__main__":
    main()
