"""Classic wrong versions of the functions of two_layer.py (never shipped)."""

import copy

import torch
import torch.nn.functional as F


def _gradients(X, y, W1, b1, W2, b2, sign=1.0, mean=True, relu_mask=True):
    n = X.shape[0]
    Z1 = X @ W1 + b1
    H = torch.relu(Z1)
    P = torch.softmax(H @ W2 + b2, dim=1)
    dlogits = sign * (P - F.one_hot(y, num_classes=W2.shape[1]).to(P.dtype))
    if mean:
        dlogits = dlogits / n
    dH = dlogits @ W2.T
    dZ1 = dH * (Z1 > 0).to(P.dtype) if relu_mask else dH
    return X.T @ dZ1, dZ1.sum(dim=0), H.T @ dlogits, dlogits.sum(dim=0)


def two_layer_gradients__softmax_gradient_sign_flipped(X, y, W1, b1, W2, b2):
    """dlogits = (one_hot(y) - softmax(logits)) / N: every gradient has the wrong sign."""
    return _gradients(X, y, W1, b1, W2, b2, sign=-1.0)


def two_layer_gradients__sum_instead_of_mean(X, y, W1, b1, W2, b2):
    """dlogits = softmax(logits) - one_hot(y), not divided by N: the gradients of the summed loss."""
    return _gradients(X, y, W1, b1, W2, b2, mean=False)


def two_layer_gradients__missing_relu_derivative(X, y, W1, b1, W2, b2):
    """dZ1 = dH: the gradient passes through the ReLU as if it were the identity."""
    return _gradients(X, y, W1, b1, W2, b2, relu_mask=False)


def _train(model, loader, epochs, lr, zero=True):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        for X, y in loader:
            if zero:
                optimizer.zero_grad()
            loss = F.cross_entropy(model(X), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


def train__trains_a_copy(model, loader, epochs, lr):
    """Trains copy.deepcopy(model): the losses are right, the model given is left untouched."""
    return _train(copy.deepcopy(model), loader, epochs, lr)


def train__grad_accumulation(model, loader, epochs, lr):
    """Never calls optimizer.zero_grad(): every step uses the sum of all gradients so far."""
    return _train(model, loader, epochs, lr, zero=False)
