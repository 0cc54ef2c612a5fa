"""Finite differences in float64, with the one-sided differences that reveal a kink (runs where torch
is imported).

A central difference across a kink (a ReLU or a clamp at x, between x - h and x + h) is the mean
of two slopes and matches neither: the one-sided differences are kept, and a judge accepts any
value between them there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from grader.worker import encoding

EPS = 1e-6


def is_float_tensor(value: Any) -> bool:
    """Whether a value is a floating-point tensor (something to differentiate)."""
    return isinstance(value, torch.Tensor) and torch.Tensor.is_floating_point(value)


def as_float64(args: list) -> list:
    """Detached float64 copies of the floating-point tensors among ``args``; other values as they are."""
    return [a.detach().double().clone() if is_float_tensor(a) else a for a in args]


def finite_differences(scalar: Callable[[list], torch.Tensor], args: list, positions: list[int], eps: float = EPS) -> dict:
    """Central, forward and backward differences of ``scalar(args)`` with respect to each ``args[p]``.

    Returns encoded tuples ``{"central": (...), "forward": (...), "backward": (...)}``, one item per
    position, each shaped like its argument.
    """
    found: dict[str, list] = {"central": [], "forward": [], "backward": []}
    with torch.no_grad():
        base = float(scalar(args))
        for position in positions:
            tensor = args[position]
            central, forward, backward = (torch.zeros(tensor.numel(), dtype=torch.float64) for _ in range(3))
            for j in range(tensor.numel()):
                up, down = _shifted(args, position, j, eps), _shifted(args, position, j, -eps)
                above, below = float(scalar(up)), float(scalar(down))
                central[j], forward[j], backward[j] = (above - below) / (2 * eps), (above - base) / eps, (base - below) / eps
            for name, values in (("central", central), ("forward", forward), ("backward", backward)):
                found[name].append(values.reshape(tensor.shape))
    return {name: encoding.encode(tuple(values)) for name, values in found.items()}


def _shifted(args: list, position: int, index: int, step: float) -> list:
    values = [a.clone() if is_float_tensor(a) else a for a in args]
    values[position].view(-1)[index] += step
    return values


def weighted_sum(output: Any) -> torch.Tensor:
    """A scalar that depends on every element of a tensor output with a different weight, in float64."""
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"returned {type(output).__name__}, not a tensor")
    plain = torch.Tensor.as_subclass(output, torch.Tensor)
    weights = torch.linspace(0.5, 1.5, plain.numel(), dtype=torch.float64, device=plain.device).reshape(plain.shape)
    return (plain.double() * weights).sum()
