"""PyTorch autograd basics (lecture: "Autograd" and "Gradient Descent with Autograd").

Each function repeats one of the lecture's examples on the tensor it is given.
"""

import torch


def track_computation(w):
    """The lecture's graph on a leaf ``w`` (``requires_grad=True``): ``x = w + 2``, ``y = x * 3``, ``z = y.mean()``.

    Keep the gradient of the non-leaf ``y`` (``retain_grad()``), then call ``z.backward()``.
    Returns ``(x, y, z)``; afterwards ``w.grad`` and ``y.grad`` hold dz/dw and dz/dy
    (for ``w = torch.ones(3)``: z is 9, ``w.grad`` is [1, 1, 1], ``y.grad`` is [1/3, 1/3, 1/3]).
    """
    ### BEGIN SOLUTION
    ### HINT: x = w + 2; y = x * 3; y.retain_grad(); z = y.mean(); z.backward()
    x = w + torch.tensor([2])
    y = x * 3
    y.retain_grad()
    z = y.mean()
    z.backward()
    return x, y, z
    ### END SOLUTION


def square_sum_gradient(a):
    """Turn on gradient tracking of ``a`` in place (``requires_grad_(True)``), compute ``c = (a * a).sum()``,
    backpropagate, and return ``a.grad`` (which is ``2 * a``)."""
    ### BEGIN SOLUTION
    ### HINT: a.requires_grad_(True); (a * a).sum().backward(); return a.grad
    a.requires_grad_(True)
    c = (a * a).sum()
    c.backward()
    return a.grad
    ### END SOLUTION


def detached(a):
    """Return a new tensor with the content of ``a`` but detached from the graph (``requires_grad`` False)."""
    ### BEGIN SOLUTION
    ### HINT: one method of Tensor returns a copy cut from the graph
    return a.detach()
    ### END SOLUTION


def doubled_without_graph(a):
    """Return ``a * 2`` computed inside ``torch.no_grad()``: no graph, so ``requires_grad`` is False."""
    ### BEGIN SOLUTION
    ### HINT: compute a * 2 inside a `with torch.no_grad():` block
    with torch.no_grad():
        return a * 2
    ### END SOLUTION


def descend_weights(weights, epochs=3, learning_rate=0.1):
    """The lecture's ``output = (weights * 3).sum()`` descent on a leaf ``weights``, by hand.

    Each epoch: compute output, ``backward()``, then under ``torch.no_grad()`` step
    ``weights -= learning_rate * weights.grad`` and empty the gradient (``weights.grad.zero_()``).
    Returns the list of the ``epochs`` outputs and the final one as floats
    (for ``torch.ones(4)``: ``[12.0, 8.4, 4.8, 1.2]``); ``weights`` ends updated in place.
    """
    ### BEGIN SOLUTION
    ### HINT: per epoch: output.backward(); under torch.no_grad() step, then weights.grad.zero_()
    outputs = []
    for epoch in range(epochs):
        output = (weights * 3).sum()
        outputs.append(output.item())
        output.backward()
        with torch.no_grad():
            weights -= learning_rate * weights.grad
            weights.grad.zero_()
    outputs.append((weights * 3).sum().item())
    return outputs
    ### END SOLUTION


def descend_weights_sgd(weights, epochs=3, learning_rate=0.1):
    """The same descent as ``descend_weights`` with ``torch.optim.SGD([weights], lr=learning_rate)``,
    ``step()`` and ``zero_grad()``. Returns the same list of outputs (the lecture: "Same output!")."""
    ### BEGIN SOLUTION
    ### HINT: the same loop with optimizer.step() and optimizer.zero_grad()
    optimizer = torch.optim.SGD([weights], lr=learning_rate)
    outputs = []
    for epoch in range(epochs):
        output = (weights * 3).sum()
        outputs.append(output.item())
        output.backward()
        optimizer.step()
        optimizer.zero_grad()
    outputs.append((weights * 3).sum().item())
    return outputs
    ### END SOLUTION


def main():
    """Print the lecture's descent outputs."""
    print(descend_weights(torch.ones(4, requires_grad=True)))
    print(descend_weights_sgd(torch.ones(4, requires_grad=True)))


if __name__ == "__main__":
    main()
