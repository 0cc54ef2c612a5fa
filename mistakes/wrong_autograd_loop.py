"""Classic wrong versions of the functions of autograd_loop.py."""

import torch

from neuron import loss_fn, model


def _full_batch_autograd(W, b, loader, max_epochs, learning_rate, sign=1.0, zero_before_step=False, zero=True):
    for _ in range(max_epochs):
        batch = next(iter(loader))
        loss_fn(model(batch["input"], W, b), batch["target"]).backward()
        with torch.no_grad():
            if zero_before_step:
                W.grad.zero_()
                b.grad.zero_()
            W -= sign * learning_rate * W.grad
            b -= sign * learning_rate * b.grad
            if zero:
                W.grad.zero_()
                b.grad.zero_()
    return W, b


def learn_autograd__grad_accumulation(W, b, train_data_loader, max_epochs=20_000, learning_rate=0.01):
    """Never empties W.grad and b.grad: every step uses the sum of all gradients so far."""
    return _full_batch_autograd(W, b, train_data_loader, max_epochs, learning_rate, zero=False)


def learn_autograd__zero_grad_before_step(W, b, train_data_loader, max_epochs=20_000, learning_rate=0.01):
    """Empties the gradients between backward() and the update: W and b never move."""
    return _full_batch_autograd(W, b, train_data_loader, max_epochs, learning_rate, zero_before_step=True)


def learn_autograd__gradient_ascent(W, b, train_data_loader, max_epochs=20_000, learning_rate=0.01):
    """W += lr * W.grad: climbs the loss."""
    return _full_batch_autograd(W, b, train_data_loader, max_epochs, learning_rate, sign=-1.0)


def _full_batch_sgd(W, b, loader, max_epochs, learning_rate, order=("step", "zero"), maximize=False):
    optimizer = torch.optim.SGD([W, b], lr=learning_rate, maximize=maximize)
    actions = {"step": optimizer.step, "zero": optimizer.zero_grad}
    for _ in range(max_epochs):
        batch = next(iter(loader))
        loss_fn(model(batch["input"], W, b), batch["target"]).backward()
        for action in order:
            actions[action]()
    return W, b


def learn_sgd__grad_accumulation(W, b, train_data_loader, max_epochs=20_000, learning_rate=0.01):
    """Never calls optimizer.zero_grad()."""
    return _full_batch_sgd(W, b, train_data_loader, max_epochs, learning_rate, order=("step",))


def learn_sgd__zero_grad_before_step(W, b, train_data_loader, max_epochs=20_000, learning_rate=0.01):
    """zero_grad() between backward() and step(): the parameters never move."""
    return _full_batch_sgd(W, b, train_data_loader, max_epochs, learning_rate, order=("zero", "step"))


def learn_sgd__gradient_ascent(W, b, train_data_loader, max_epochs=20_000, learning_rate=0.01):
    """SGD with maximize=True (or a negative learning rate): climbs the loss."""
    return _full_batch_sgd(W, b, train_data_loader, max_epochs, learning_rate, maximize=True)


def _accumulate(W, b, loader, steps, max_epochs, learning_rate, scale=True, zero=True):
    optimizer = torch.optim.SGD([W, b], lr=learning_rate)
    for _ in range(max_epochs):
        for step, batch in enumerate(loader, start=1):
            loss = loss_fn(model(batch["input"], W, b), batch["target"])
            (loss / steps if scale else loss).backward()
            if step % steps == 0:
                optimizer.step()
                if zero:
                    optimizer.zero_grad()
    return W, b


def learn_accumulate__grad_accumulation(W, b, train_data_loader, accumulation_steps, max_epochs=20_000, learning_rate=0.01):
    """Never calls zero_grad(): gradients pile up across updates."""
    return _accumulate(W, b, train_data_loader, accumulation_steps, max_epochs, learning_rate, zero=False)


def learn_accumulate__accumulation_not_scaled(W, b, train_data_loader, accumulation_steps, max_epochs=20_000, learning_rate=0.01):
    """Each mini-batch loss is not divided by accumulation_steps: steps are accumulation_steps times too big."""
    return _accumulate(W, b, train_data_loader, accumulation_steps, max_epochs, learning_rate, scale=False)
