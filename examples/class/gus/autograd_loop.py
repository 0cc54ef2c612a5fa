"""Training the neuron with PyTorch autograd (lecture: "Backpropagation with PyTorch Autograd").

In every function W and b are leaf tensors created with ``requires_grad=True``; train them in
place and return the same tensors.
"""

import torch
from torch.utils.data import DataLoader

from neuron import SimpleDataset, device, loss_fn, model


def _report(epoch, loss, W, b):
    """Print the lecture's progress line every 100 epochs."""
    if epoch % 100 == 0:
        print("[Epoch:{0:6,}] loss:{1:8.5f}, w0:{2:6.3f}, w1:{3:6.3f}, b:{4:6.3f}".format(
            epoch, loss.item(), W[0].item(), W[1].item(), b.item()))


def learn_autograd(W, b, train_data_loader, max_epochs=20_000, learning_rate=0.01):
    """Gradient descent with autograd: ``loss.backward()``, then update under ``torch.no_grad()``.

    Empty the gradients every step (``W.grad = None`` or ``W.grad.zero_()``), or they accumulate.
    Returns ``(W, b)``: the same leaf tensors, updated in place.
    """
    ### BEGIN SOLUTION
    ### HINT: loss.backward(); with torch.no_grad(): W -= learning_rate * W.grad ...; then W.grad = None
    for epoch in range(max_epochs):
        batch = next(iter(train_data_loader))
        loss = loss_fn(model(batch["input"], W, b), batch["target"])
        loss.backward()
        _report(epoch, loss, W, b)
        with torch.no_grad():
            W -= learning_rate * W.grad
            b -= learning_rate * b.grad
            W.grad = None
            b.grad = None
    return W, b
    ### END SOLUTION


def learn_sgd(W, b, train_data_loader, max_epochs=20_000, learning_rate=0.01):
    """Gradient descent with ``torch.optim.SGD([W, b], lr=learning_rate)``: ``backward()``, ``step()``, ``zero_grad()``.

    Returns ``(W, b)``: the same leaf tensors, updated in place.
    """
    ### BEGIN SOLUTION
    ### HINT: optimizer = torch.optim.SGD([W, b], lr=learning_rate); backward(), step(), zero_grad()
    optimizer = torch.optim.SGD([W, b], lr=learning_rate)
    for epoch in range(max_epochs):
        batch = next(iter(train_data_loader))
        loss = loss_fn(model(batch["input"], W, b), batch["target"])
        loss.backward()
        _report(epoch, loss, W, b)
        optimizer.step()
        optimizer.zero_grad()
    return W, b
    ### END SOLUTION


def learn_accumulate(W, b, train_data_loader, accumulation_steps, max_epochs=20_000, learning_rate=0.01):
    """Gradient accumulation with ``torch.optim.SGD``: an epoch is one pass over the loader's mini-batches.

    Divide each mini-batch loss by ``accumulation_steps`` and call ``backward()``; after every
    ``accumulation_steps`` mini-batches, ``step()`` then ``zero_grad()``. With 12 samples in
    batches of 4 and 3 accumulation steps this is exactly full-batch training.
    Returns ``(W, b)``: the same leaf tensors, updated in place.
    """
    ### BEGIN SOLUTION
    ### HINT: loop over all batches; (loss / accumulation_steps).backward(); step and zero every accumulation_steps batches
    optimizer = torch.optim.SGD([W, b], lr=learning_rate)
    for epoch in range(max_epochs):
        for step, batch in enumerate(train_data_loader, start=1):
            loss = loss_fn(model(batch["input"], W, b), batch["target"])
            (loss / accumulation_steps).backward()
            if step % accumulation_steps == 0:
                optimizer.step()
                optimizer.zero_grad()
        _report(epoch, loss, W, b)
    return W, b
    ### END SOLUTION


def main():
    """Train the neuron with autograd, as in the lecture."""
    simple_dataset = SimpleDataset()
    train_data_loader = DataLoader(dataset=simple_dataset, batch_size=len(simple_dataset))
    W = torch.ones((2,), device=device, requires_grad=True)
    b = torch.zeros((1,), device=device, requires_grad=True)
    learn_autograd(W, b, train_data_loader, max_epochs=2_000)
    print("W:", W, "b:", b)


if __name__ == "__main__":
    main()
