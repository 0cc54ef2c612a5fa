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
    ### BEGIN SOLUTION
    ### HINT: the lecture's second formula: f'(x) ~ (f(x + dx) - f(x - dx)) / (2 * dx)
    return (f(x + h) - f(x - h)) / (2 * h)
    ### END SOLUTION


def backward(x, y, z):
    """Backpropagation through ``f = (x + y) * z`` by the chain rule (``q = x + y``, ``f = q * z``).

    Returns the tuple ``(df_dx, df_dy, df_dz)``; ``backward(-2, 5, -4) == (-4, -4, 3)``.
    """
    ### BEGIN SOLUTION
    ### HINT: q = x + y and f = q * z: df/dz = q, df/dx = df/dy = z
    q = x + y
    df_dq = z
    df_dz = q
    df_dx = df_dq * 1.0
    df_dy = df_dq * 1.0
    return df_dx, df_dy, df_dz
    ### END SOLUTION


def sigmoid_derivative(z):
    """The derivative of the sigmoid, ``sigma(z) * (1 - sigma(z))``, element-wise; same shape as ``z``."""
    ### BEGIN SOLUTION
    ### HINT: derive 1 / (1 + exp(-z)) by the chain rule; the lecture's result uses sigma(z) twice
    return activate(z) * (1.0 - activate(z))
    ### END SOLUTION


def gradient(W, b, X, y):
    """The gradient of the MSE loss of ``model(X, W, b)`` against ``y``, by the chain rule, by hand.

    W: (F,), b: (1,), X: (N, F), y: (N,). Returns ``(W_grad, b_grad)`` with shapes (F,) and (1,):
    the mean over the N samples of ``2 * (y_pred - y) * sigma'(z) * x`` (and ``* 1.0`` for b).
    No autograd.
    """
    ### BEGIN SOLUTION
    ### HINT: dl/dy_pred = 2 * (y_pred - y); dsigma/dz = sigma(z) * (1 - sigma(z)); dz/dW = X, dz/db = 1
    y_pred = model(X, W, b)
    dl_dy = (2 * (y_pred - y)).unsqueeze(dim=-1)
    z = torch.sum(X * W, dim=-1) + b
    ds_dz = sigmoid_derivative(z).unsqueeze(dim=-1)
    W_grad = torch.mean(dl_dy * ds_dz * X, dim=0)
    b_grad = torch.mean(dl_dy * ds_dz * 1.0, dim=0)
    return W_grad, b_grad
    ### END SOLUTION


def learn(W, b, train_data_loader, max_epochs=20_000, learning_rate=0.01):
    """Gradient descent with ``gradient``: ``max_epochs`` steps of ``W -= lr * W_grad``, ``b -= lr * b_grad``.

    Each epoch takes one batch (``batch["input"]``, ``batch["target"]``) from the loader.
    Returns the trained ``(W, b)``.
    """
    ### BEGIN SOLUTION
    ### HINT: each epoch: one batch, gradient(...), then W = W - learning_rate * W_grad (same for b)
    for epoch in range(max_epochs):
        batch = next(iter(train_data_loader))
        W_grad, b_grad = gradient(W, b, batch["input"], batch["target"])
        if epoch % 100 == 0:
            loss = loss_fn(model(batch["input"], W, b), batch["target"])
            print("[Epoch:{0:6,}] loss:{1:8.5f}, w0:{2:6.3f}, w1:{3:6.3f}, b:{4:6.3f}".format(
                epoch, loss.item(), W[0].item(), W[1].item(), b.item()))
        W = W - learning_rate * W_grad
        b = b - learning_rate * b_grad
    return W, b
    ### END SOLUTION


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
