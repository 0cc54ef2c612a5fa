"""A two-layer network: backpropagation of a softmax cross-entropy by hand, then training with an optimizer.

The network, for N samples of D features and C classes, with K hidden units:

    Z1 = X @ W1 + b1          # (N, K)
    H = relu(Z1)              # (N, K)
    logits = H @ W2 + b2      # (N, C)
    loss = mean over i of -log softmax(logits)[i, y[i]]   # F.cross_entropy(logits, y)
"""

import torch
import torch.nn.functional as F


def two_layer_gradients(X, y, W1, b1, W2, b2):
    """The gradients of the loss above with respect to W1, b1, W2 and b2, by the chain rule, by hand.

    X: (N, D) float tensor; y: (N,) int64 class indices in [0, C); W1: (D, K); b1: (K,);
    W2: (K, C); b2: (C,). Returns ``(dW1, db1, dW2, db2)``, each shaped like its parameter.
    Do not use autograd (no requires_grad, backward() or torch.autograd): the check switches it off.
    Useful: d loss / d logits = (softmax(logits) - one_hot(y)) / N.
    """
    ### BEGIN SOLUTION
    ### HINT: forward keeping Z1, H and P = softmax(logits); dlogits = (P - one_hot(y)) / N; then back layer by layer
    n = X.shape[0]
    Z1 = X @ W1 + b1
    H = torch.relu(Z1)
    P = torch.softmax(H @ W2 + b2, dim=1)
    dlogits = (P - F.one_hot(y, num_classes=W2.shape[1]).to(P.dtype)) / n
    dW2 = H.T @ dlogits
    db2 = dlogits.sum(dim=0)
    dZ1 = (dlogits @ W2.T) * (Z1 > 0).to(P.dtype)
    dW1 = X.T @ dZ1
    db1 = dZ1.sum(dim=0)
    return dW1, db1, dW2, db2
    ### END SOLUTION


def train(model, loader, epochs, lr):
    """Train ``model`` (an nn.Module, changed in place) with ``torch.optim.SGD(model.parameters(), lr=lr)``.

    ``loader`` yields ``(X, y)`` batches. For each of the ``epochs`` epochs, for each batch in
    order: zero the gradients, compute ``F.cross_entropy(model(X), y)``, call ``backward()``, then
    ``step()``. Returns the list of every batch's loss as a Python float (``loss.item()``, the loss
    computed before that batch's step), in order.
    """
    ### BEGIN SOLUTION
    ### HINT: optimizer = torch.optim.SGD(model.parameters(), lr=lr); per batch: zero_grad(), loss, backward(), step()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        for X, y in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(X), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses
    ### END SOLUTION
