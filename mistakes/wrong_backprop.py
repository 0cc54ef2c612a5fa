"""Classic wrong versions of the functions of backprop.py."""

import torch

from backprop import gradient, sigmoid_derivative
from neuron import activate, model


def numerical_derivative__forward_difference(f, x, h=1e-4):
    """The one-sided (f(x + h) - f(x)) / h instead of the central difference."""
    return (f(x + h) - f(x)) / h


def numerical_derivative__missing_factor_2(f, x, h=1e-4):
    """The central difference divided by h instead of 2h."""
    return (f(x + h) - f(x - h)) / h


def sigmoid_derivative__wrong_sigmoid_derivative(z):
    """z * (1 - z): the derivative written in z instead of sigma(z)."""
    return z * (1 - z)


def sigmoid_derivative__wrong_sigmoid_derivative__2(z):
    """sigma(z) alone."""
    return activate(z)


def sigmoid_derivative__wrong_sigmoid_derivative__3(z):
    """1 - sigma(z) alone."""
    return 1 - activate(z)


def _chain(W, b, X, y, dl_dy_factor=2.0, reduce=torch.mean, derivative=sigmoid_derivative):
    y_pred = model(X, W, b)
    dl_dy = (dl_dy_factor * (y_pred - y)).unsqueeze(-1)
    ds_dz = derivative(torch.sum(X * W, dim=-1) + b).unsqueeze(-1)
    return reduce(dl_dy * ds_dz * X, dim=0), reduce(dl_dy * ds_dz, dim=0)


def gradient__sum_instead_of_mean(W, b, X, y):
    """Sums the per-sample gradients instead of averaging them."""
    return _chain(W, b, X, y, reduce=torch.sum)


def gradient__missing_factor_2(W, b, X, y):
    """dl/dy_pred written as (y_pred - y) instead of 2 * (y_pred - y)."""
    return _chain(W, b, X, y, dl_dy_factor=1.0)


def gradient__wrong_sigmoid_derivative(W, b, X, y):
    """Uses z * (1 - z) for the sigmoid's derivative."""
    return _chain(W, b, X, y, derivative=lambda z: z * (1 - z))


def gradient__wrong_sigmoid_derivative__2(W, b, X, y):
    """Uses sigma(z) for the sigmoid's derivative."""
    return _chain(W, b, X, y, derivative=activate)


def gradient__gradient_ascent(W, b, X, y):
    """The sign flipped: 2 * (y - y_pred)."""
    return _chain(W, b, X, y, dl_dy_factor=-2.0)


def learn__gradient_ascent(W, b, train_data_loader, max_epochs=20_000, learning_rate=0.01):
    """Steps up the gradient: W + lr * W_grad."""
    for _ in range(max_epochs):
        batch = next(iter(train_data_loader))
        W_grad, b_grad = gradient(W, b, batch["input"], batch["target"])
        W = W + learning_rate * W_grad
        b = b + learning_rate * b_grad
    return W, b
