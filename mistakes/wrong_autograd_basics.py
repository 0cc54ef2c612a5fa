"""Classic wrong versions of the functions of autograd_basics.py."""

import torch


def _descend(weights, epochs, learning_rate, zero=True, sign=1.0):
    outputs = []
    for _ in range(epochs):
        output = (weights * 3).sum()
        outputs.append(output.item())
        output.backward()
        with torch.no_grad():
            weights -= sign * learning_rate * weights.grad
            if zero:
                weights.grad.zero_()
    outputs.append((weights * 3).sum().item())
    return outputs


def descend_weights__grad_accumulation(weights, epochs=3, learning_rate=0.1):
    """Never empties weights.grad."""
    return _descend(weights, epochs, learning_rate, zero=False)


def descend_weights__gradient_ascent(weights, epochs=3, learning_rate=0.1):
    """weights += lr * weights.grad."""
    return _descend(weights, epochs, learning_rate, sign=-1.0)


def descend_weights_sgd__grad_accumulation(weights, epochs=3, learning_rate=0.1):
    """Never calls optimizer.zero_grad()."""
    optimizer = torch.optim.SGD([weights], lr=learning_rate)
    outputs = []
    for _ in range(epochs):
        output = (weights * 3).sum()
        outputs.append(output.item())
        output.backward()
        optimizer.step()
    outputs.append((weights * 3).sum().item())
    return outputs
